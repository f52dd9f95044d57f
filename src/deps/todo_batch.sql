-- The next batch of temp.deps_todo after position ?1 (at most ?2 rows):
-- position, object id, the path of one of its siginfo entries (relative
-- to the cache root) and its size as indexed.
SELECT t.seq, o.id,
       CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END,
       e.size
FROM temp.deps_todo t
JOIN object o ON o.id = t.id
JOIN dir d    ON d.id = o.dir_id
JOIN entry e  ON e.id = (SELECT min(x.id) FROM entry x WHERE x.object_id = o.id AND x.kind = 'siginfo')
WHERE t.seq > ?1
ORDER BY t.seq
LIMIT ?2
