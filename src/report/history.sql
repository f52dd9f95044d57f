-- Growth of the cache: entries, objects and bytes on disk as each scan
-- left the index, oldest first. At most ?1 points: when the index holds
-- more scans, the last scan of each day (UTC), the most recent days.
SELECT started_at, mode, entries, objects, bytes
FROM (
    SELECT id, started_at, mode, entries, objects, bytes
    FROM scan
    WHERE (SELECT count(*) FROM scan) <= ?1
       OR id IN (SELECT max(id) FROM scan GROUP BY substr(started_at, 1, 10))
    ORDER BY id DESC
    LIMIT ?1
)
ORDER BY id
