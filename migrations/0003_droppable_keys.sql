-- 0003: the unique keys of `dir` and `grp` become named indexes.
--
-- A UNIQUE constraint written in CREATE TABLE makes an automatic index
-- that can never be dropped. A named unique index can: a first scan now
-- builds these two once at the end, as it does the other indexes (one
-- sort), instead of inserting every directory and every group into them
-- one by one on its serial writer (at 300k objects that cost about a
-- tenth of the first scan's CPU). Same keys, same uniqueness.
--
-- The two tables are rebuilt as SQLite's ALTER TABLE documentation
-- describes (new table, copy, drop, rename), keeping every row and id.
-- legacy_alter_table keeps the rename from trying to rewrite the views
-- that name `dir` and `grp`: they read the new tables by the same names.

PRAGMA legacy_alter_table = ON;

CREATE TABLE dir_0003 (
    id         INTEGER PRIMARY KEY,
    path       TEXT NOT NULL,            -- relative to the cache root, '' = root
    mtime_ns   INTEGER NOT NULL,         -- when last listed; -1 = list again
    ctime_ns   INTEGER NOT NULL,         -- ctime too: chmod and chown change it
    unreadable INTEGER NOT NULL DEFAULT 0 -- see 0002
);
INSERT INTO dir_0003(id, path, mtime_ns, ctime_ns, unreadable)
    SELECT id, path, mtime_ns, ctime_ns, unreadable FROM dir;
DROP TABLE dir;
ALTER TABLE dir_0003 RENAME TO dir;
CREATE UNIQUE INDEX dir_path ON dir(path);

CREATE TABLE grp_0003 (
    id        INTEGER PRIMARY KEY,
    extrapath TEXT NOT NULL,
    pn        TEXT NOT NULL,
    pkgtarget TEXT NOT NULL,
    pkgarch   TEXT NOT NULL,
    ssver     TEXT NOT NULL,
    task      TEXT NOT NULL
);
INSERT INTO grp_0003(id, extrapath, pn, pkgtarget, pkgarch, ssver, task)
    SELECT id, extrapath, pn, pkgtarget, pkgarch, ssver, task FROM grp;
DROP TABLE grp;
ALTER TABLE grp_0003 RENAME TO grp;
CREATE UNIQUE INDEX grp_key ON grp(extrapath, pn, pkgtarget, pkgarch, ssver, task);

PRAGMA legacy_alter_table = OFF;
