-- stamps (--stamps-dir): every object whose unihash no stamp names. The
-- hashes collected from the stamps dirs are in temp.stamp_hash.
SELECT o.id, o.n_entries, o.disk_bytes
FROM object o
WHERE NOT EXISTS (SELECT 1 FROM temp.stamp_hash s WHERE s.hash = o.unihash)
