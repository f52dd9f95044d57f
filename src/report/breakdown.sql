-- One breakdown of the report: objects, files and bytes on disk per value
-- of {key} (a column of the public `objects` view), largest first.
SELECT {key} AS key, count(*) AS objects, sum(n_entries) AS files, sum(disk_bytes) AS disk_bytes
FROM objects
GROUP BY 1
ORDER BY 4 DESC, 1
LIMIT {limit}
