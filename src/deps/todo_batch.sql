-- The next batch of temp.deps_todo after position ?1 (at most ?2 rows):
-- position, object id, and the path of one of its siginfo entries
-- (relative to the cache root).
SELECT t.seq, o.id,
       CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END
FROM temp.deps_todo t
JOIN object o ON o.id = t.id
JOIN dir d    ON d.id = o.dir_id
JOIN entry e  ON e.id = (SELECT min(x.id) FROM entry x WHERE x.object_id = o.id AND x.kind = 'siginfo')
WHERE t.seq > ?1
ORDER BY t.seq
LIMIT ?2
