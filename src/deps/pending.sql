-- Objects whose dependency edges are not known yet, with the path of one
-- of their siginfo entries (relative to the cache root). The scope marker
-- in the WHERE clause may narrow them (deps/mod.rs, Scope).
SELECT o.id,
       CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END
FROM object o
JOIN dir d   ON d.id = o.dir_id
JOIN entry e ON e.id = (SELECT min(x.id) FROM entry x WHERE x.object_id = o.id AND x.kind = 'siginfo')
WHERE o.deps_state IS NULL AND NOT d.unreadable /*scope*/
ORDER BY o.dir_id
