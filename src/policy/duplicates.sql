-- duplicates (-d, --keep-per-group N): per group, keep the N objects whose
-- archives are newest and select every other object of the group (with or
-- without an archive). A group with no archive at all keeps the N objects
-- whose newest entry is newest. Objects tied at the boundary are all kept.
-- populate_lic groups are never selected: they duplicate in normal builds.
--
-- Yields (id, selected): selected = 1 for the objects to remove; 0 for the
-- kept objects of groups with a tie at the boundary (their mtimes decide
-- the plan, so the planner re-stats them too).
--
-- The N-th newest time of each group (t) and the one after it (next_t)
-- are index lookups on object_group, only for groups of more than N.
WITH multi AS (
    SELECT group_id, MAX(archive_mtime_ns) IS NOT NULL AS has_archive
    FROM object
    GROUP BY group_id
    HAVING count(*) > :keep
),
th AS MATERIALIZED (
    SELECT m.group_id, m.has_archive,
           CASE WHEN m.has_archive
                THEN (SELECT o2.archive_mtime_ns FROM object o2
                      WHERE o2.group_id = m.group_id AND o2.archive_mtime_ns IS NOT NULL
                      ORDER BY o2.archive_mtime_ns DESC LIMIT 1 OFFSET :keep - 1)
                ELSE (SELECT o2.last_used_ns FROM object o2 WHERE o2.group_id = m.group_id
                      ORDER BY o2.last_used_ns DESC LIMIT 1 OFFSET :keep - 1)
           END AS t,
           CASE WHEN m.has_archive
                THEN (SELECT o2.archive_mtime_ns FROM object o2
                      WHERE o2.group_id = m.group_id AND o2.archive_mtime_ns IS NOT NULL
                      ORDER BY o2.archive_mtime_ns DESC LIMIT 1 OFFSET :keep)
                ELSE (SELECT o2.last_used_ns FROM object o2 WHERE o2.group_id = m.group_id
                      ORDER BY o2.last_used_ns DESC LIMIT 1 OFFSET :keep)
           END AS next_t
    FROM multi m
    JOIN grp g ON g.id = m.group_id
    WHERE g.task <> 'populate_lic'
),
judged AS (
    SELECT o.id, th.t, th.next_t,
           CASE WHEN th.has_archive
                THEN o.archive_mtime_ns IS NULL OR o.archive_mtime_ns < th.t
                ELSE o.last_used_ns < th.t
           END AS selected
    FROM th
    JOIN object o ON o.group_id = th.group_id
)
SELECT id, selected FROM judged
WHERE selected OR next_t = t
