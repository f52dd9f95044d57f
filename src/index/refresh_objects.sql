-- After a removal or a re-stat: recompute the aggregates of the objects in
-- temp.touched from the entries they still have, then drop the objects
-- left empty (with their edges) and the groups they leave empty (only
-- those: never a scan of every group).
--
-- `OR FAIL`: a multi-row UPDATE that may abort on a constraint keeps a
-- statement journal (a copy of every page it changes, to undo the
-- statement alone; in memory with temp_store = MEMORY). With another
-- conflict algorithm SQLite keeps none (sqlite.org/tempfiles.html, 2.5);
-- this always runs inside a transaction that is rolled back whole if a
-- statement fails. (The DELETEs below check foreign keys and keep one
-- whatever: a removal runs this a chunk of objects at a time, record.rs.)
UPDATE OR FAIL object SET
    archive_mtime_ns = (SELECT MAX(e.mtime_ns) FROM entry e WHERE e.object_id = object.id AND e.kind = 'archive'),
    last_used_ns     = coalesce((SELECT MAX(e.mtime_ns) FROM entry e WHERE e.object_id = object.id), last_used_ns),
    n_entries        = (SELECT count(*) FROM entry e WHERE e.object_id = object.id),
    size             = (SELECT coalesce(sum(e.size), 0) FROM entry e WHERE e.object_id = object.id),
    disk_bytes       = (SELECT coalesce(sum(e.blocks), 0) * 512 FROM entry e WHERE e.object_id = object.id)
WHERE id IN (SELECT object_id FROM temp.touched);
CREATE TEMP TABLE IF NOT EXISTS touched_group(group_id INTEGER PRIMARY KEY);
DELETE FROM temp.touched_group;
INSERT OR IGNORE INTO temp.touched_group
    SELECT group_id FROM object WHERE n_entries = 0 AND id IN (SELECT object_id FROM temp.touched);
DELETE FROM dep WHERE object_id IN (
    SELECT id FROM object WHERE n_entries = 0 AND id IN (SELECT object_id FROM temp.touched));
DELETE FROM object WHERE n_entries = 0 AND id IN (SELECT object_id FROM temp.touched);
DELETE FROM grp
WHERE id IN (SELECT group_id FROM temp.touched_group)
  AND NOT EXISTS (SELECT 1 FROM object o WHERE o.group_id = grp.id);
