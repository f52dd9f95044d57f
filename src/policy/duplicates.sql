-- duplicates (-d, --keep-per-group N): per group, keep the N objects whose
-- archives are newest and select every other object of the group (with or
-- without an archive). A group with no archive at all keeps the N objects
-- whose newest entry is newest. Objects tied at the boundary are all kept.
-- populate_lic groups are never selected: they duplicate in normal builds.
--
-- Yields (id, selected): selected = 1 for the objects to remove; 0 for kept
-- objects of groups that keep more than N because of ties (their mtimes
-- decide the plan, so the planner re-stats them too).
WITH multi AS (
    SELECT group_id FROM object GROUP BY group_id HAVING count(*) > :keep
),
ranked AS (
    SELECT o.id, o.group_id, o.archive_mtime_ns,
           MAX(o.archive_mtime_ns) OVER (PARTITION BY o.group_id)                        AS group_archive,
           RANK() OVER (PARTITION BY o.group_id ORDER BY o.archive_mtime_ns DESC)        AS arank,
           RANK() OVER (PARTITION BY o.group_id ORDER BY o.last_used_ns DESC)            AS urank
    FROM object o
    JOIN multi m ON m.group_id = o.group_id
),
judged AS (
    SELECT id, group_id,
           CASE WHEN group_archive IS NOT NULL
                THEN archive_mtime_ns IS NULL OR arank > :keep
                ELSE urank > :keep
           END AS selected
    FROM ranked
),
counted AS (
    SELECT id, group_id, selected,
           SUM(NOT selected) OVER (PARTITION BY group_id) AS kept
    FROM judged
)
SELECT c.id, c.selected
FROM counted c
JOIN grp g ON g.id = c.group_id
WHERE g.task <> 'populate_lic'
  AND (c.selected OR c.kept > :keep)
