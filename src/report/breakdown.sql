-- One breakdown of the report: objects, files and bytes on disk per value
-- of grp.{key}, largest first. Objects are summed per group first, from the
-- covering index object_group, so the wide object rows are never read.
WITH per_group AS (
    SELECT group_id, count(*) AS objects, sum(n_entries) AS files, sum(disk_bytes) AS disk_bytes
    FROM object
    GROUP BY group_id
)
SELECT g.{key} AS key, sum(p.objects) AS objects, sum(p.files) AS files, sum(p.disk_bytes) AS disk_bytes
FROM per_group p
JOIN grp g ON g.id = p.group_id
GROUP BY 1
ORDER BY 4 DESC, 1
LIMIT {limit}
