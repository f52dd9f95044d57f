-- Dependency retention: remove from temp.selected every object that an
-- object left in the cache depends on, transitively.
--
-- temp.deps_scope holds the selected objects protection may take back (by
-- default those selected only by --older-than or --max-size). An object
-- that stays selected is removed, so it protects nothing: the recursion
-- runs through kept and protected objects only.
WITH RECURSIVE prot(id) AS (
    -- Selected objects that an object outside the selection depends on.
    SELECT t.id
    FROM temp.deps_scope c
    JOIN object t ON t.id = c.id
    WHERE EXISTS (
        SELECT 1 FROM dep d
        WHERE d.hash_key = t.hash_key
          AND d.object_id NOT IN (SELECT id FROM temp.selected)
    )
    UNION
    -- ... and what those depend on in turn.
    SELECT t.id
    FROM prot p
    JOIN dep d     ON d.object_id = p.id
    JOIN object t  ON t.hash_key = d.hash_key
    JOIN temp.deps_scope c ON c.id = t.id
)
INSERT OR IGNORE INTO temp.protected(id, why) SELECT id, 'deps' FROM prot;
