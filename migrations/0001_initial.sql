-- 0001: the first schema of the index.
--
-- Migrations are append-only: once released, a file here is never edited;
-- a change is a new numbered file. PRAGMA user_version records how many
-- have been applied.
--
-- Tables are internal and may change between versions; the views at the
-- end (`entries`, `objects`, `groups`, `scans`, `removals`) are the public,
-- documented interface (README, "Index schema").

-- Facts about the index itself: which cache it belongs to, who wrote it.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every directory under the cache root, as last seen. A directory whose
-- mtime is unchanged is not listed again by an incremental scan.
CREATE TABLE dir (
    id       INTEGER PRIMARY KEY,
    path     TEXT NOT NULL UNIQUE,    -- relative to the cache root, '' = root
    mtime_ns INTEGER NOT NULL,        -- when last listed; -1 = list again
    ctime_ns INTEGER NOT NULL         -- ctime too: chmod and chown change it
);

-- A group: same recipe and task built for the same target (SSTATE.md 2).
CREATE TABLE grp (
    id        INTEGER PRIMARY KEY,
    extrapath TEXT NOT NULL,
    pn        TEXT NOT NULL,
    pkgtarget TEXT NOT NULL,
    pkgarch   TEXT NOT NULL,
    ssver     TEXT NOT NULL,
    task      TEXT NOT NULL,
    UNIQUE (extrapath, pn, pkgtarget, pkgarch, ssver, task)
);

-- An object: the entries of one directory that share a name stem. The
-- aggregates are maintained by the scanner and the removal so that policy
-- queries never have to aggregate entries.
CREATE TABLE object (
    id               INTEGER PRIMARY KEY,
    dir_id           INTEGER NOT NULL REFERENCES dir(id),
    group_id         INTEGER NOT NULL REFERENCES grp(id),
    stem             TEXT NOT NULL,
    pv               TEXT NOT NULL,
    pr               TEXT NOT NULL,
    unihash          TEXT NOT NULL,
    archive_mtime_ns INTEGER,          -- NULL: the object has no archive
    last_used_ns     INTEGER NOT NULL, -- newest mtime of its entries
    n_entries        INTEGER NOT NULL,
    size             INTEGER NOT NULL, -- apparent bytes of its entries
    disk_bytes       INTEGER NOT NULL  -- bytes on disk (st_blocks * 512)
);
CREATE INDEX object_dir ON object(dir_id);
-- Covers the policy queries and the totals: they never read the wide rows.
CREATE INDEX object_group ON object(group_id, archive_mtime_ns, last_used_ns, n_entries, size, disk_bytes);

-- An entry: one file (or symlink) whose name parses, with its lstat.
CREATE TABLE entry (
    id         INTEGER PRIMARY KEY,
    object_id  INTEGER NOT NULL REFERENCES object(id),
    ext        TEXT NOT NULL,          -- '.tar.zst', '.tar.zst.siginfo', ...
    kind       TEXT NOT NULL,          -- archive | siginfo | sig | done
    size       INTEGER NOT NULL,
    blocks     INTEGER NOT NULL,       -- st_blocks (512-byte units)
    mtime_ns   INTEGER NOT NULL,
    ino        INTEGER NOT NULL,
    is_symlink INTEGER NOT NULL
);
CREATE INDEX entry_object ON entry(object_id);

-- One row per scan.
CREATE TABLE scan (
    id            INTEGER PRIMARY KEY,
    started_at    TEXT NOT NULL,       -- RFC 3339, UTC
    duration_ms   INTEGER NOT NULL,
    mode          TEXT NOT NULL,       -- cold | incremental | full
    dirs_listed   INTEGER NOT NULL,    -- directories read with readdir
    dirs_stat     INTEGER NOT NULL,    -- directories only stat-ed (unchanged)
    entries       INTEGER NOT NULL,    -- entries in the index after the scan
    objects       INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,    -- disk bytes of all entries
    added         INTEGER NOT NULL,
    removed       INTEGER NOT NULL,
    changed       INTEGER NOT NULL,
    bytes_added   INTEGER NOT NULL,
    bytes_removed INTEGER NOT NULL,
    warnings      INTEGER NOT NULL
);

-- One row per cleanup that got as far as a plan.
CREATE TABLE removal_run (
    id               INTEGER PRIMARY KEY,
    started_at       TEXT NOT NULL,
    policies         TEXT NOT NULL,    -- e.g. 'duplicates,orphans'
    dry_run          INTEGER NOT NULL,
    confirmed        INTEGER NOT NULL, -- 0 when the prompt was answered no
    selected_objects INTEGER NOT NULL,
    selected_files   INTEGER NOT NULL,
    selected_bytes   INTEGER NOT NULL,
    removed_files    INTEGER NOT NULL,
    removed_bytes    INTEGER NOT NULL,
    skipped_files    INTEGER NOT NULL,
    failed_files     INTEGER NOT NULL
);

-- What a cleanup did with each file it was asked to remove.
CREATE TABLE removal (
    run_id  INTEGER NOT NULL REFERENCES removal_run(id),
    path    TEXT NOT NULL,             -- relative to the cache root
    size    INTEGER NOT NULL,
    outcome TEXT NOT NULL              -- removed | skipped:gone | skipped:changed | failed:REASON
);
CREATE INDEX removal_run_id ON removal(run_id);

-- ---------------------------------------------------------------------
-- Public views. Times are Unix seconds (REAL) and ISO text; paths are
-- relative to the cache root.

CREATE VIEW entries AS
SELECT e.id                                       AS entry_id,
       o.id                                       AS object_id,
       o.group_id                                 AS group_id,
       CASE WHEN d.path = '' THEN o.stem || e.ext
            ELSE d.path || '/' || o.stem || e.ext END AS path,
       o.stem || e.ext                            AS name,
       g.extrapath, g.pn, g.pkgtarget, o.pv, o.pr, g.pkgarch, g.ssver,
       o.unihash, g.task,
       e.ext, e.kind,
       e.size,
       e.blocks * 512                             AS disk_bytes,
       e.mtime_ns / 1e9                           AS mtime,
       datetime(e.mtime_ns / 1000000000, 'unixepoch') AS mtime_iso,
       e.ino                                      AS inode,
       e.is_symlink
FROM entry e
JOIN object o ON o.id = e.object_id
JOIN grp g    ON g.id = o.group_id
JOIN dir d    ON d.id = o.dir_id;

CREATE VIEW objects AS
SELECT o.id                                       AS object_id,
       o.group_id                                 AS group_id,
       CASE WHEN d.path = '' THEN o.stem ELSE d.path || '/' || o.stem END AS path,
       g.extrapath, g.pn, g.pkgtarget, o.pv, o.pr, g.pkgarch, g.ssver,
       o.unihash, g.task,
       o.archive_mtime_ns IS NOT NULL             AS has_archive,
       o.archive_mtime_ns / 1e9                   AS archive_mtime,
       o.last_used_ns / 1e9                       AS last_used,
       datetime(o.last_used_ns / 1000000000, 'unixepoch') AS last_used_iso,
       o.n_entries, o.size, o.disk_bytes
FROM object o
JOIN grp g ON g.id = o.group_id
JOIN dir d ON d.id = o.dir_id;

CREATE VIEW groups AS
SELECT g.id                                       AS group_id,
       g.extrapath, g.pn, g.pkgtarget, g.pkgarch, g.ssver, g.task,
       COUNT(o.id)                                AS n_objects,
       SUM(o.archive_mtime_ns IS NOT NULL)        AS n_archives,
       SUM(o.n_entries)                           AS n_entries,
       SUM(o.size)                                AS size,
       SUM(o.disk_bytes)                          AS disk_bytes,
       MAX(o.last_used_ns) / 1e9                  AS last_used,
       MIN(o.last_used_ns) / 1e9                  AS first_used
FROM grp g
JOIN object o ON o.group_id = g.id
GROUP BY g.id;

CREATE VIEW scans AS SELECT * FROM scan;

CREATE VIEW removals AS
SELECT r.run_id, r.path, r.size, r.outcome, u.started_at, u.policies
FROM removal r JOIN removal_run u ON u.id = r.run_id;
