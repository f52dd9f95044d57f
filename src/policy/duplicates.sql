-- duplicates (-d, --keep-per-group N): every object with the times that
-- rank it in its group, in group order, straight from the covering index
-- object_group (no table rows are read). populate_lic groups are left
-- out: they duplicate in normal builds. What each group keeps is decided
-- in duplicates.rs as the rows stream by. The planner may narrow it to
-- the groups a re-stat changed (the marker in the WHERE clause).
SELECT o.group_id, o.id, o.archive_mtime_ns, o.last_used_ns
FROM object o
WHERE o.group_id NOT IN (SELECT g.id FROM grp g WHERE g.task = 'populate_lic') /*groups*/
ORDER BY o.group_id
