-- 0002: last use and dependencies.
--
-- - Dependency edges read from siginfo files (`runtaskhashes`), for
--   dependency-aware retention. Hashes are matched by their first 64 bits
--   (`hash_key`): a collision can only protect an object too many, never
--   select one.
-- - Directories that could not be read keep what the index knew of them
--   (`dir.unreadable`): those objects are never selected, but they still
--   protect their dependencies.
-- - The removal history records what each policy selected, protections,
--   interruptions and where a trashed run went.

-- First 64 bits of the unihash, as a signed integer (see deps.rs).
ALTER TABLE object ADD COLUMN hash_key INTEGER NOT NULL DEFAULT 0;
-- Dependency edges of this object: NULL = its siginfo was not read yet,
-- 'none' = it has no siginfo, 'ok' = read (edges in `dep`), 'unreadable'.
ALTER TABLE object ADD COLUMN deps_state TEXT;
-- Why the siginfo could not be read (deps_state = 'unreadable').
ALTER TABLE object ADD COLUMN deps_error TEXT;
-- Existing rows: sscm_hash_key() is registered by the tool on every
-- connection (index/mod.rs); siginfo contents are read on demand later.
UPDATE object SET hash_key = sscm_hash_key(unihash);
UPDATE object SET deps_state = 'none'
WHERE NOT EXISTS (SELECT 1 FROM entry e WHERE e.object_id = object.id AND e.kind = 'siginfo');
CREATE INDEX object_hash_key ON object(hash_key);
-- The objects whose siginfo is still to be read: few after the first run.
CREATE INDEX object_deps_pending ON object(dir_id) WHERE deps_state IS NULL;

-- One row per (object, dependency hash) from its siginfo's runtaskhashes.
CREATE TABLE dep (
    hash_key  INTEGER NOT NULL,          -- first 64 bits of the dependency's unihash
    object_id INTEGER NOT NULL REFERENCES object(id),
    PRIMARY KEY (hash_key, object_id)
) WITHOUT ROWID;
CREATE INDEX dep_object ON dep(object_id);

-- 1 when the last scan could not read the directory: its objects are kept
-- as last seen and never selected.
ALTER TABLE dir ADD COLUMN unreadable INTEGER NOT NULL DEFAULT 0;

-- Cleanup history, beyond 0001's columns.
ALTER TABLE removal_run ADD COLUMN plan_json TEXT;        -- per policy and protection counts
ALTER TABLE removal_run ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE removal_run ADD COLUMN trash_dir TEXT;        -- set when the run moved files to the trash
ALTER TABLE removal_run ADD COLUMN finished_at TEXT;
ALTER TABLE removal_run ADD COLUMN command TEXT;

-- Public views added by this version.

-- Dependency edges resolved to objects of the cache: `object_id` depends
-- on `dep_object_id`.
CREATE VIEW deps AS
SELECT d.object_id AS object_id, t.id AS dep_object_id
FROM dep d JOIN object t ON t.hash_key = d.hash_key;

-- One row per cleanup (dry runs and "no" answers included).
CREATE VIEW runs AS
SELECT id AS run_id, started_at, finished_at, command, policies, dry_run,
       confirmed, interrupted, selected_objects, selected_files,
       selected_bytes, removed_files, removed_bytes, skipped_files,
       failed_files, trash_dir, plan_json
FROM removal_run;
