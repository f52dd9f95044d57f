-- Objects whose dependency edges are not known yet (and that have a
-- siginfo entry), in directory order. The scope marker in the WHERE
-- clause may narrow them (deps/mod.rs, Scope). Their ids go to
-- temp.deps_todo; the paths are read a batch at a time (todo_batch.sql).
SELECT o.id
FROM object o
JOIN dir d   ON d.id = o.dir_id
JOIN entry e ON e.id = (SELECT min(x.id) FROM entry x WHERE x.object_id = o.id AND x.kind = 'siginfo')
WHERE o.deps_state IS NULL AND NOT d.unreadable /*scope*/
ORDER BY o.dir_id
