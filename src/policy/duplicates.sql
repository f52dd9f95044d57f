-- duplicates (-d): per group, keep the object whose archive is newest and
-- select every other object of the group (with or without an archive). A
-- group with no archive at all keeps the object whose newest entry is
-- newest. Objects tied for newest are all kept. populate_lic groups are
-- never selected: they duplicate in normal builds.
WITH newest AS (
    SELECT group_id,
           MAX(archive_mtime_ns) AS archive_ns,  -- NULL when no archive at all
           MAX(last_used_ns)     AS any_ns
    FROM object
    GROUP BY group_id
)
SELECT o.id, o.n_entries, o.disk_bytes
FROM object o
JOIN newest n ON n.group_id = o.group_id
JOIN grp g    ON g.id = o.group_id
WHERE g.task <> 'populate_lic'
  AND CASE
        WHEN n.archive_ns IS NOT NULL
          THEN o.archive_mtime_ns IS NULL OR o.archive_mtime_ns < n.archive_ns
        ELSE o.last_used_ns < n.any_ns
      END
