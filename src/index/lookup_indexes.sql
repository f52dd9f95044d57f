-- The indexes only dependency edges, stamps and unihash lookups use
-- (migration 0002 defines them; `lookup_indexes_match_the_migrations`
-- keeps this file equal to it). A first scan does not build them: a `-d`
-- or `--remove-orphans` plan never reads them, and building them costs a
-- quarter of that scan's tail at 300k objects. The first run that needs
-- them builds them here (in a second at 300k objects, beside reading
-- every siginfo file); then scans keep them up to date.
CREATE INDEX IF NOT EXISTS object_hash_key ON object(hash_key);
CREATE INDEX IF NOT EXISTS object_deps_pending ON object(dir_id) WHERE deps_state IS NULL;
