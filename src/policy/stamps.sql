-- stamps (--stamps-dir): every object whose unihash no stamp names. The
-- hashes collected from the stamps dirs are in temp.stamp_hash.
SELECT o.id
FROM object o
WHERE NOT EXISTS (
    SELECT 1 FROM temp.stamp_hash s WHERE s.hash_key = o.hash_key AND s.hash = o.unihash
)
