-- Age histogram: objects by how long ago they were last used (the newest
-- mtime of their entries), relative to ?1 (now, in ns since the epoch).
SELECT CASE
         WHEN age < 86400000000000       THEN '< 1 day'
         WHEN age < 7 * 86400000000000   THEN '1-7 days'
         WHEN age < 30 * 86400000000000  THEN '7-30 days'
         WHEN age < 90 * 86400000000000  THEN '30-90 days'
         WHEN age < 365 * 86400000000000 THEN '90-365 days'
         ELSE '> 1 year'
       END AS key,
       count(*) AS objects, sum(n_entries) AS files, sum(disk_bytes) AS disk_bytes
FROM (SELECT ?1 - last_used_ns AS age, n_entries, disk_bytes FROM object)
GROUP BY 1
ORDER BY min(age)
