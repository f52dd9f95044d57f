-- What the index knows of dependencies: edges, siginfo states, and how
-- many objects some other object needs.
SELECT (SELECT count(*) FROM dep),
       (SELECT count(*) FROM object WHERE deps_state = 'ok'),
       (SELECT count(*) FROM object WHERE deps_state = 'unreadable'),
       (SELECT count(*) FROM object WHERE deps_state IS NULL),
       (SELECT count(*) FROM object o WHERE EXISTS (SELECT 1 FROM dep d WHERE d.hash_key = o.hash_key AND d.object_id <> o.id))
