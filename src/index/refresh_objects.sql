-- After a removal: recompute the aggregates of the objects in temp.touched
-- from the entries they still have, then drop the objects left empty.
UPDATE object SET
    archive_mtime_ns = (SELECT MAX(e.mtime_ns) FROM entry e WHERE e.object_id = object.id AND e.kind = 'archive'),
    last_used_ns     = coalesce((SELECT MAX(e.mtime_ns) FROM entry e WHERE e.object_id = object.id), last_used_ns),
    n_entries        = (SELECT count(*) FROM entry e WHERE e.object_id = object.id),
    size             = (SELECT coalesce(sum(e.size), 0) FROM entry e WHERE e.object_id = object.id),
    disk_bytes       = (SELECT coalesce(sum(e.blocks), 0) * 512 FROM entry e WHERE e.object_id = object.id)
WHERE id IN (SELECT object_id FROM temp.touched);
DELETE FROM object WHERE n_entries = 0 AND id IN (SELECT object_id FROM temp.touched);
DELETE FROM grp WHERE id NOT IN (SELECT group_id FROM object);
