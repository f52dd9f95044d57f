-- duplicates (-d, --keep-per-group N): every object with the times that
-- rank it in its group, in group order, straight from the covering index
-- object_group (no table rows are read). What each group keeps is
-- decided in duplicates.rs as the rows stream by (and what it selects
-- summed for the plan's count); it leaves out the
-- populate_lic groups (they duplicate in normal builds), whose ids
-- lic_groups.sql gives (a NOT IN here cost a lookup per object). The
-- planner may narrow it to the groups a re-stat changed (the marker).
SELECT o.group_id, o.id, o.archive_mtime_ns, o.last_used_ns, o.n_entries, o.disk_bytes
FROM object o
WHERE 1 /*groups*/
ORDER BY o.group_id
