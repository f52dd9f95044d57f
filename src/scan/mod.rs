//! Scanning: bring the index up to date with the cache on disk.
//!
//! The walk (`walk.rs`) runs on a thread pool and streams one event per
//! directory; this module's writer applies them to the index in a single
//! transaction on the calling thread, so the walk and the SQLite work
//! overlap. A directory's entries are compared with what the index holds;
//! only directories that differ are rewritten.

mod walk;

pub use walk::RawEntry;

use crate::index::{Index, now_rfc3339};
use crate::name::{self, Kind};
use anyhow::{Context, Result, bail};
use rusqlite::{OptionalExtension, Statement, Transaction, params};
use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use walk::{DirStamp, Event, Known, KnownDir};

/// How to scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Threads for the walk.
    pub jobs: usize,
    /// List and stat every directory, even those whose mtime is unchanged
    /// (this is what picks up mtime updates of builds reusing objects).
    pub full: bool,
}

/// What a scan found and changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanReport {
    /// cold (empty index), incremental or full.
    pub mode: &'static str,
    pub dirs_listed: u64,
    pub dirs_stat: u64,
    pub entries: u64,
    pub objects: u64,
    pub disk_bytes: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub bytes_added: u64,
    pub bytes_removed: u64,
    pub duration_ms: u64,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Directories whose mtime is this close to the start of the scan are
/// recorded as "list again next time": a file added in the same clock tick
/// after we listed it would not change the mtime (coarse timestamps on NFS
/// and some file systems).
const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// Scan the cache into the index.
pub fn scan(index: &mut Index, opts: ScanOptions) -> Result<ScanReport> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let root = index.cache_root.clone();
    // (An unreadable root is reported by the walk and fails the scan.)
    let md = std::fs::metadata(&root).with_context(|| format!("cache dir {}", root.display()))?;
    if !md.is_dir() {
        bail!("cache dir {} is not a directory", root.display());
    }

    let tx = index
        .conn
        .transaction()
        .with_context(|| format!("starting scan transaction on {}", index.path.display()))?;
    let known_dirs = load_dirs(&tx)?;
    let mode = if known_dirs.is_empty() {
        "cold"
    } else if opts.full {
        "full"
    } else {
        "incremental"
    };
    let known = Known::new(&known_dirs);
    let mut report = ScanReport {
        mode,
        ..Default::default()
    };
    // A cold scan only appends: drop the secondary indexes and build them
    // once at the end (a sort), rather than updating them row by row.
    let deferred = if mode == "cold" {
        drop_indexes(&tx)?
    } else {
        Vec::new()
    };
    let mut writer = Writer::new(&tx, &known, start_ns)?;

    let (sender, receiver) = crossbeam_channel::bounded::<Event>(256);
    let walk_result = std::thread::scope(|s| -> Result<()> {
        let walker = s.spawn(|| walk::walk(&root, &known, opts.full, opts.jobs, sender));
        let mut failure = None;
        for event in receiver.iter() {
            if failure.is_some() {
                continue; // drain so the walkers can finish
            }
            if let Err(e) = writer.apply(event, &mut report) {
                failure = Some(e);
            }
        }
        let walked = walker
            .join()
            .map_err(|_| anyhow::anyhow!("a scan thread panicked"))?;
        match failure {
            Some(e) => Err(e),
            None => walked,
        }
    });
    walk_result?;
    writer.finish(&mut report)?;
    drop(writer);
    for sql in deferred {
        tx.execute_batch(&sql)
            .with_context(|| format!("rebuilding index: {sql}"))?;
    }

    let totals = crate::index::totals(&tx)?;
    report.entries = totals.entries;
    report.objects = totals.objects;
    report.disk_bytes = totals.disk_bytes;
    report.duration_ms = started.elapsed().as_millis() as u64;
    tx.execute(
        "INSERT INTO scan(started_at, duration_ms, mode, dirs_listed, dirs_stat, entries, objects, bytes,
                          added, removed, changed, bytes_added, bytes_removed, warnings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            started_at,
            report.duration_ms as i64,
            report.mode,
            report.dirs_listed as i64,
            report.dirs_stat as i64,
            report.entries as i64,
            report.objects as i64,
            report.disk_bytes as i64,
            report.added as i64,
            report.removed as i64,
            report.changed as i64,
            report.bytes_added as i64,
            report.bytes_removed as i64,
            report.warnings.len() as i64,
        ],
    )
    .context("recording the scan in the index")?;
    tx.commit()
        .with_context(|| format!("committing scan to {}", index.path.display()))?;
    Ok(report)
}

/// Drop the explicit indexes of the object and entry tables; returns the
/// statements that recreate them, read from the schema itself so that they
/// always match the migrations.
fn drop_indexes(tx: &Transaction) -> Result<Vec<String>> {
    let mut stmt = tx
        .prepare(
            "SELECT name, sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name IN ('object', 'entry') AND sql IS NOT NULL",
        )
        .context("reading the index definitions")?;
    let defs = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .context("reading the index definitions")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading the index definitions")?;
    for (name, _) in &defs {
        tx.execute_batch(&format!("DROP INDEX \"{name}\""))
            .with_context(|| format!("dropping index {name} for a cold scan"))?;
    }
    Ok(defs.into_iter().map(|(_, sql)| sql).collect())
}

fn load_dirs(tx: &Transaction) -> Result<HashMap<String, KnownDir>> {
    let mut stmt = tx
        .prepare("SELECT id, path, mtime_ns, ctime_ns FROM dir")
        .context("reading indexed directories")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                KnownDir {
                    id: r.get(0)?,
                    stamp: DirStamp {
                        mtime_ns: r.get(2)?,
                        ctime_ns: r.get(3)?,
                    },
                },
            ))
        })
        .context("reading indexed directories")?;
    rows.collect::<rusqlite::Result<HashMap<_, _>>>()
        .context("reading indexed directories")
}

/// The stored stat of one entry, for comparison with the disk.
#[derive(PartialEq, Eq)]
struct Stat {
    size: u64,
    blocks: u64,
    mtime_ns: i64,
    ino: u64,
    is_symlink: bool,
}

impl From<&RawEntry> for Stat {
    fn from(e: &RawEntry) -> Self {
        Stat {
            size: e.size,
            blocks: e.blocks,
            mtime_ns: e.mtime_ns,
            ino: e.ino,
            is_symlink: e.is_symlink,
        }
    }
}

/// The prepared statements of the writer, prepared once per scan.
struct Statements<'t> {
    dir_insert: Statement<'t>,
    dir_update: Statement<'t>,
    dir_delete: Statement<'t>,
    dir_entries: Statement<'t>,
    clear_entries: Statement<'t>,
    clear_objects: Statement<'t>,
    dir_groups: Statement<'t>,
    group_gc: Statement<'t>,
    group_insert: Statement<'t>,
    group_find: Statement<'t>,
    object_insert: Statement<'t>,
    entry_insert: Statement<'t>,
}

impl<'t> Statements<'t> {
    fn new(tx: &'t Transaction<'t>) -> Result<Self> {
        let p = |sql: &str| {
            tx.prepare(sql)
                .with_context(|| format!("preparing scan statement: {sql}"))
        };
        Ok(Statements {
            dir_insert: p("INSERT INTO dir(path, mtime_ns, ctime_ns) VALUES (?1, ?2, ?3)")?,
            dir_update: p("UPDATE dir SET mtime_ns = ?2, ctime_ns = ?3 WHERE id = ?1")?,
            dir_delete: p("DELETE FROM dir WHERE id = ?1")?,
            dir_entries: p("SELECT o.stem || e.ext, e.size, e.blocks, e.mtime_ns, e.ino, e.is_symlink
                            FROM object o JOIN entry e ON e.object_id = o.id WHERE o.dir_id = ?1")?,
            clear_entries: p("DELETE FROM entry WHERE object_id IN (SELECT id FROM object WHERE dir_id = ?1)")?,
            clear_objects: p("DELETE FROM object WHERE dir_id = ?1")?,
            dir_groups: p("SELECT DISTINCT group_id FROM object WHERE dir_id = ?1")?,
            group_gc: p("DELETE FROM grp WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM object WHERE group_id = ?1)")?,
            group_find: p("SELECT id FROM grp WHERE extrapath = ?1 AND pn = ?2 AND pkgtarget = ?3 AND pkgarch = ?4 AND ssver = ?5 AND task = ?6")?,
            group_insert: p("INSERT INTO grp(extrapath, pn, pkgtarget, pkgarch, ssver, task) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?,
            object_insert: p("INSERT INTO object(dir_id, group_id, stem, pv, pr, unihash, archive_mtime_ns, last_used_ns,
                                                 n_entries, size, disk_bytes)
                              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")?,
            entry_insert: p("INSERT INTO entry(object_id, ext, kind, size, blocks, mtime_ns, ino, is_symlink)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?,
        })
    }
}

/// Applies walk events to the index inside the scan transaction.
struct Writer<'t, 'k> {
    tx: &'t Transaction<'t>,
    st: Statements<'t>,
    known: &'k HashMap<String, KnownDir>,
    visited: HashSet<String>,
    /// Group key (fields joined by '\x1f') → group id, filled as groups are
    /// met. In a cold scan it is complete (the index was empty); otherwise
    /// a miss asks the index (one lookup by the grp UNIQUE key) instead of
    /// loading every group for a few changed directories.
    groups: HashMap<String, i64>,
    groups_complete: bool,
    key_buf: String,
    start_ns: i64,
    /// Groups that lost objects: dropped at the end if left empty.
    emptied_groups: HashSet<i64>,
}

impl<'t, 'k> Writer<'t, 'k> {
    fn new(tx: &'t Transaction<'t>, known: &'k Known<'k>, start_ns: i64) -> Result<Self> {
        let no_groups: bool = tx
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM grp)", [], |r| r.get(0))
            .context("reading indexed groups")?;
        Ok(Writer {
            tx,
            st: Statements::new(tx)?,
            known: known.dirs,
            visited: HashSet::new(),
            groups: HashMap::new(),
            groups_complete: no_groups,
            key_buf: String::new(),
            start_ns,
            emptied_groups: HashSet::new(),
        })
    }

    fn apply(&mut self, event: Event, report: &mut ScanReport) -> Result<()> {
        match event {
            Event::Unchanged { rel } => {
                report.dirs_stat += 1;
                self.visited.insert(rel);
            }
            Event::Warning(w) => report.warnings.push(w),
            Event::Unreadable { rel, warning } => {
                if rel.is_empty() {
                    bail!("{warning}");
                }
                report.warnings.push(warning);
                // Forget what it held: nothing is removed that was not seen.
                // (Not marked visited: finish() drops it and its subtree.)
            }
            Event::Listed {
                rel,
                stamp,
                entries,
            } => {
                report.dirs_listed += 1;
                // A directory modified within the racy window is recorded as
                // "list again next time" (only mtime matters: a file added
                // in the same tick would leave it unchanged).
                let stamp = if stamp.mtime_ns >= self.start_ns - RACY_WINDOW_NS {
                    DirStamp {
                        mtime_ns: -1,
                        ctime_ns: -1,
                    }
                } else {
                    stamp
                };
                match self.known.get(&rel).map(|d| d.id) {
                    Some(dir_id) => {
                        let old = self.dir_entries(dir_id)?;
                        if diff(&old, &entries, report) {
                            self.clear_dir(dir_id)?;
                            self.insert_entries(dir_id, &rel, &entries)?;
                        }
                        self.st
                            .dir_update
                            .execute(params![dir_id, stamp.mtime_ns, stamp.ctime_ns])
                            .with_context(|| format!("updating directory {rel} in the index"))?;
                    }
                    None => {
                        self.st
                            .dir_insert
                            .execute(params![rel, stamp.mtime_ns, stamp.ctime_ns])
                            .with_context(|| format!("adding directory {rel} to the index"))?;
                        let dir_id = self.tx.last_insert_rowid();
                        report.added += entries.len() as u64;
                        report.bytes_added += entries.iter().map(|e| e.blocks * 512).sum::<u64>();
                        self.insert_entries(dir_id, &rel, &entries)?;
                    }
                }
                self.visited.insert(rel);
            }
        }
        Ok(())
    }

    fn dir_entries(&mut self, dir_id: i64) -> Result<HashMap<String, Stat>> {
        let rows = self.st.dir_entries.query_map([dir_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Stat {
                    size: r.get::<_, i64>(1)? as u64,
                    blocks: r.get::<_, i64>(2)? as u64,
                    mtime_ns: r.get(3)?,
                    ino: r.get::<_, i64>(4)? as u64,
                    is_symlink: r.get(5)?,
                },
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()
            .with_context(|| format!("reading indexed entries of directory #{dir_id}"))
    }

    fn clear_dir(&mut self, dir_id: i64) -> Result<()> {
        let groups = self
            .st
            .dir_groups
            .query_map([dir_id], |r| r.get::<_, i64>(0))
            .context("reading the groups of a changed directory")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("reading the groups of a changed directory")?;
        self.emptied_groups.extend(groups);
        self.st
            .clear_entries
            .execute([dir_id])
            .context("dropping stale entries")?;
        self.st
            .clear_objects
            .execute([dir_id])
            .context("dropping stale objects")?;
        Ok(())
    }

    fn group_id(&mut self, rel: &str, n: &name::Name<'_>) -> Result<i64> {
        let extrapath = name::extrapath(rel, n.unihash);
        let fields = [extrapath, n.pn, n.pkgtarget, n.pkgarch, n.ssver, n.task];
        self.key_buf.clear();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.key_buf.push('\x1f');
            }
            self.key_buf.push_str(f);
        }
        if let Some(&id) = self.groups.get(self.key_buf.as_str()) {
            return Ok(id);
        }
        if !self.groups_complete {
            let found = self
                .st
                .group_find
                .query_row(
                    params![extrapath, n.pn, n.pkgtarget, n.pkgarch, n.ssver, n.task],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .context("looking up a group in the index")?;
            if let Some(id) = found {
                self.groups.insert(self.key_buf.clone(), id);
                return Ok(id);
            }
        }
        self.st
            .group_insert
            .execute(params![
                extrapath,
                n.pn,
                n.pkgtarget,
                n.pkgarch,
                n.ssver,
                n.task
            ])
            .context("adding a group to the index")?;
        let id = self.tx.last_insert_rowid();
        self.groups.insert(self.key_buf.clone(), id);
        Ok(id)
    }

    /// Insert the entries of one directory (sorted by stem by the walk),
    /// grouped into objects.
    fn insert_entries(&mut self, dir_id: i64, rel: &str, entries: &[RawEntry]) -> Result<()> {
        let mut start = 0;
        while start < entries.len() {
            let stem = stem_of(&entries[start]);
            let len = entries[start..]
                .iter()
                .take_while(|e| stem_of(e) == stem)
                .count();
            self.insert_object(dir_id, rel, &entries[start..start + len])?;
            start += len;
        }
        Ok(())
    }

    fn insert_object(&mut self, dir_id: i64, rel: &str, members: &[RawEntry]) -> Result<()> {
        let parsed: Vec<name::Name<'_>> = members.iter().map(|e| e.spans.name(&e.name)).collect();
        let Some(n) = parsed.first().copied() else {
            return Ok(());
        };
        let group_id = self.group_id(rel, &n)?;
        let archive_mtime = parsed
            .iter()
            .zip(members)
            .filter(|(p, _)| p.kind == Kind::Archive)
            .map(|(_, e)| e.mtime_ns)
            .max();
        let last_used = members.iter().map(|e| e.mtime_ns).max().unwrap_or(0);
        let size: u64 = members.iter().map(|e| e.size).sum();
        let disk: u64 = members.iter().map(|e| e.blocks * 512).sum();
        self.st
            .object_insert
            .execute(params![
                dir_id,
                group_id,
                n.stem,
                n.pv,
                n.pr,
                n.unihash,
                archive_mtime,
                last_used,
                members.len() as i64,
                size as i64,
                disk as i64
            ])
            .with_context(|| format!("adding object {rel}/{} to the index", n.stem))?;
        let object_id = self.tx.last_insert_rowid();
        for (p, e) in parsed.iter().zip(members) {
            self.st
                .entry_insert
                .execute(params![
                    object_id,
                    p.ext,
                    p.kind.as_str(),
                    e.size as i64,
                    e.blocks as i64,
                    e.mtime_ns,
                    e.ino as i64,
                    e.is_symlink
                ])
                .with_context(|| format!("adding entry {rel}/{} to the index", e.name))?;
        }
        Ok(())
    }

    /// Drop every known directory the walk did not reach: it is gone (or
    /// became unreadable), and so are its entries.
    fn finish(&mut self, report: &mut ScanReport) -> Result<()> {
        let gone: Vec<(String, i64)> = self
            .known
            .iter()
            .filter(|(path, _)| !self.visited.contains(*path))
            .map(|(path, d)| (path.clone(), d.id))
            .collect();
        for (path, dir_id) in gone {
            for stat in self.dir_entries(dir_id)?.values() {
                report.removed += 1;
                report.bytes_removed += stat.blocks * 512;
            }
            self.clear_dir(dir_id)?;
            self.st
                .dir_delete
                .execute([dir_id])
                .with_context(|| format!("dropping directory {path} from the index"))?;
        }
        for group_id in std::mem::take(&mut self.emptied_groups) {
            self.st
                .group_gc
                .execute([group_id])
                .context("dropping an empty group")?;
        }
        Ok(())
    }
}

fn stem_of(e: &RawEntry) -> &str {
    e.name.get(..e.spans.stem_len()).unwrap_or(&e.name)
}

/// Count what differs between the index and the disk for one directory;
/// true if anything does.
fn diff(old: &HashMap<String, Stat>, new: &[RawEntry], report: &mut ScanReport) -> bool {
    let mut differs = old.len() != new.len();
    let mut seen = 0usize;
    for e in new {
        match old.get(&e.name) {
            None => {
                differs = true;
                report.added += 1;
                report.bytes_added += e.blocks * 512;
            }
            Some(stat) => {
                seen += 1;
                if *stat != Stat::from(e) {
                    differs = true;
                    report.changed += 1;
                }
            }
        }
    }
    if seen < old.len() {
        let new_names: HashSet<&str> = new.iter().map(|e| e.name.as_str()).collect();
        for (name, stat) in old {
            if !new_names.contains(name.as_str()) {
                report.removed += 1;
                report.bytes_removed += stat.blocks * 512;
            }
        }
    }
    differs
}
