//! Applies walk events to the index inside the scan transaction.
//!
//! A listed directory is compared with what the index holds, object by
//! object: an object whose entries are unchanged keeps its row (and its id,
//! and its dependency edges); a changed object gets its entries and
//! aggregates rewritten; objects gone from disk leave the index. A
//! directory that could not be read keeps what the index knew of it,
//! marked unreadable: those objects are never selected, and nothing is
//! treated as gone because it could not be seen.

use super::walk::{DirStamp, KnownDirs, RawEntry};
use super::{RACY_WINDOW_NS, ScanReport};
use crate::deps::hash_key;
use crate::name::{self, Kind};
use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, Statement, Transaction, params};
use std::collections::{HashMap, HashSet};

/// `dir.unreadable`: the last scan could not read it, but the index holds
/// what an earlier scan saw there.
pub const UNREADABLE_KNOWN: i64 = 1;
/// `dir.unreadable`: never read: what it holds is unknown.
pub const UNREADABLE_UNKNOWN: i64 = 2;

/// The stored stat of one entry, for comparison with the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub blocks: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub is_symlink: bool,
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

/// An object as the index holds it.
struct OldObject {
    id: i64,
    group_id: i64,
    /// (extension, kind, stat) of each entry.
    entries: Vec<(String, String, Stat)>,
}

/// The identity of an object's siginfo: its edges are read again only when
/// this changes (a rewrite makes a new inode; a touch changes neither).
fn siginfo_identity<'a>(entries: impl Iterator<Item = (&'a str, &'a Stat)>) -> Option<(u64, u64)> {
    entries
        .filter(|(kind, _)| *kind == "siginfo")
        .map(|(_, s)| (s.ino, s.size))
        .min()
}

/// The prepared statements of the writer, prepared once per scan.
struct Statements<'t> {
    dir_insert: Statement<'t>,
    dir_update: Statement<'t>,
    dir_unreadable: Statement<'t>,
    dir_delete: Statement<'t>,
    dir_objects: Statement<'t>,
    dir_totals: Statement<'t>,
    dir_groups: Statement<'t>,
    clear_deps: Statement<'t>,
    clear_entries: Statement<'t>,
    clear_objects: Statement<'t>,
    object_deps_delete: Statement<'t>,
    object_entries_delete: Statement<'t>,
    object_delete: Statement<'t>,
    object_update: Statement<'t>,
    object_insert: Statement<'t>,
    entry_insert: Statement<'t>,
    group_gc: Statement<'t>,
    group_insert: Statement<'t>,
    group_find: Statement<'t>,
    fresh_insert: Statement<'t>,
}

impl<'t> Statements<'t> {
    fn new(tx: &'t Transaction<'t>) -> Result<Self> {
        let p = |sql: &str| {
            tx.prepare(sql)
                .with_context(|| format!("preparing scan statement: {sql}"))
        };
        Ok(Statements {
            dir_insert: p("INSERT INTO dir(path, mtime_ns, ctime_ns, unreadable) VALUES (?1, ?2, ?3, ?4)")?,
            dir_update: p("UPDATE dir SET mtime_ns = ?2, ctime_ns = ?3, unreadable = 0 WHERE id = ?1")?,
            dir_unreadable: p("UPDATE dir SET mtime_ns = -1, ctime_ns = -1, unreadable = ?2 WHERE id = ?1")?,
            dir_delete: p("DELETE FROM dir WHERE id = ?1")?,
            dir_objects: p("SELECT o.id, o.stem, o.group_id, e.ext, e.kind, e.size, e.blocks, e.mtime_ns, e.ino, e.is_symlink
                            FROM object o JOIN entry e ON e.object_id = o.id WHERE o.dir_id = ?1")?,
            dir_totals: p("SELECT coalesce(sum(n_entries), 0), coalesce(sum(disk_bytes), 0) FROM object WHERE dir_id = ?1")?,
            dir_groups: p("SELECT DISTINCT group_id FROM object WHERE dir_id = ?1")?,
            clear_deps: p("DELETE FROM dep WHERE object_id IN (SELECT id FROM object WHERE dir_id = ?1)")?,
            clear_entries: p("DELETE FROM entry WHERE object_id IN (SELECT id FROM object WHERE dir_id = ?1)")?,
            clear_objects: p("DELETE FROM object WHERE dir_id = ?1")?,
            object_deps_delete: p("DELETE FROM dep WHERE object_id = ?1")?,
            object_entries_delete: p("DELETE FROM entry WHERE object_id = ?1")?,
            object_delete: p("DELETE FROM object WHERE id = ?1")?,
            object_update: p("UPDATE object SET archive_mtime_ns = ?2, last_used_ns = ?3, n_entries = ?4, size = ?5,
                                                disk_bytes = ?6 WHERE id = ?1")?,
            object_insert: p("INSERT INTO object(dir_id, group_id, stem, pv, pr, unihash, archive_mtime_ns, last_used_ns,
                                                 n_entries, size, disk_bytes, hash_key, deps_state)
                              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?,
            entry_insert: p("INSERT INTO entry(object_id, ext, kind, size, blocks, mtime_ns, ino, is_symlink)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?,
            group_gc: p("DELETE FROM grp WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM object WHERE group_id = ?1)")?,
            group_find: p("SELECT id FROM grp WHERE extrapath = ?1 AND pn = ?2 AND pkgtarget = ?3 AND pkgarch = ?4 AND ssver = ?5 AND task = ?6")?,
            group_insert: p("INSERT INTO grp(extrapath, pn, pkgtarget, pkgarch, ssver, task) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?,
            fresh_insert: p("INSERT OR IGNORE INTO temp.fresh_dir(id) VALUES (?1)")?,
        })
    }
}

/// The aggregates an object row carries, computed from its entries.
struct Aggregates {
    archive_mtime: Option<i64>,
    last_used: i64,
    n: i64,
    size: i64,
    disk: i64,
    /// `deps_state` for a new or rewritten siginfo: pending, or none at all.
    deps_state: Option<&'static str>,
}

fn aggregates(parsed: &[name::Name<'_>], members: &[RawEntry]) -> Aggregates {
    let archive_mtime = parsed
        .iter()
        .zip(members)
        .filter(|(p, _)| p.kind == Kind::Archive)
        .map(|(_, e)| e.mtime_ns)
        .max();
    let has_siginfo = parsed.iter().any(|p| p.kind == Kind::Siginfo);
    Aggregates {
        archive_mtime,
        last_used: members.iter().map(|e| e.mtime_ns).max().unwrap_or(0),
        n: members.len() as i64,
        size: members.iter().map(|e| e.size as i64).sum(),
        disk: members.iter().map(|e| (e.blocks * 512) as i64).sum(),
        deps_state: if has_siginfo { None } else { Some("none") },
    }
}

/// Applies walk events to the index inside the scan transaction.
pub(super) struct Writer<'t, 'k> {
    tx: &'t Transaction<'t>,
    st: Statements<'t>,
    known: &'k KnownDirs,
    /// Directories this scan added to the index, with their ids.
    pub(super) added_dirs: Vec<(i64, String)>,
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
    /// A first scan lists every directory that holds objects: the plan
    /// knows it (`Index::listed_all`) without a row per directory in
    /// temp.fresh_dir.
    first_scan: bool,
}

impl<'t, 'k> Writer<'t, 'k> {
    pub(super) fn new(
        tx: &'t Transaction<'t>,
        known: &'k KnownDirs,
        start_ns: i64,
        first_scan: bool,
    ) -> Result<Self> {
        let no_groups: bool = tx
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM grp)", [], |r| r.get(0))
            .context("reading indexed groups")?;
        Ok(Writer {
            tx,
            st: Statements::new(tx)?,
            known,
            added_dirs: Vec::new(),
            groups: HashMap::new(),
            groups_complete: no_groups,
            key_buf: String::new(),
            start_ns,
            emptied_groups: HashSet::new(),
            first_scan,
        })
    }

    /// A directory that could not be read: keep what the index knew of it
    /// (marked unreadable, listed again next time), or record that
    /// something unknown is there.
    pub(super) fn unreadable(
        &mut self,
        rel: String,
        warning: String,
        report: &mut ScanReport,
    ) -> Result<()> {
        report.warnings.push(warning);
        match self.known.get(&rel) {
            Some(known) => {
                known.mark_seen();
                let dir_id = known.id;
                report.unreadable_dirs += 1;
                self.st
                    .dir_unreadable
                    .execute(params![dir_id, UNREADABLE_KNOWN])
                    .with_context(|| format!("marking directory {rel} unreadable in the index"))?;
            }
            None => {
                report.unreadable_dirs += 1;
                report.unknown_dirs += 1;
                self.st
                    .dir_insert
                    .execute(params![rel, -1, -1, UNREADABLE_UNKNOWN])
                    .with_context(|| {
                        format!("recording unreadable directory {rel} in the index")
                    })?;
            }
        }
        Ok(())
    }

    pub(super) fn listed(
        &mut self,
        rel: String,
        stamp: DirStamp,
        entries: Vec<RawEntry>,
        relist: bool,
        report: &mut ScanReport,
    ) -> Result<()> {
        report.dirs_listed += 1;
        // A directory modified within the racy window is recorded as "list
        // again next time" (only mtime matters: a file added in the same
        // tick would leave it unchanged).
        let stamp = if relist || stamp.mtime_ns >= self.start_ns - RACY_WINDOW_NS {
            DirStamp {
                mtime_ns: -1,
                ctime_ns: -1,
            }
        } else {
            stamp
        };
        match self.known.get(&rel) {
            Some(known) => {
                known.mark_seen();
                let dir_id = known.id;
                self.update_dir(dir_id, &rel, &entries, report)?;
                self.st
                    .dir_update
                    .execute(params![dir_id, stamp.mtime_ns, stamp.ctime_ns])
                    .with_context(|| format!("updating directory {rel} in the index"))?;
                self.st
                    .fresh_insert
                    .execute([dir_id])
                    .context("noting a listed directory")?;
            }
            None => {
                self.st
                    .dir_insert
                    .execute(params![rel, stamp.mtime_ns, stamp.ctime_ns, 0])
                    .with_context(|| format!("adding directory {rel} to the index"))?;
                let dir_id = self.tx.last_insert_rowid();
                if !self.first_scan {
                    self.st
                        .fresh_insert
                        .execute([dir_id])
                        .context("noting a listed directory")?;
                }
                report.added += entries.len() as u64;
                report.bytes_added += entries.iter().map(|e| e.blocks * 512).sum::<u64>();
                for members in by_object(&entries) {
                    self.insert_object(dir_id, &rel, members)?;
                }
                self.added_dirs.push((dir_id, rel));
            }
        }
        Ok(())
    }

    fn dir_objects(&mut self, dir_id: i64) -> Result<HashMap<String, OldObject>> {
        let mut out: HashMap<String, OldObject> = HashMap::new();
        let mut rows = self
            .st
            .dir_objects
            .query([dir_id])
            .with_context(|| format!("reading indexed objects of directory #{dir_id}"))?;
        while let Some(r) = rows.next().context("reading indexed objects")? {
            let stem: String = r.get(1)?;
            let stat = Stat {
                size: r.get::<_, i64>(5)? as u64,
                blocks: r.get::<_, i64>(6)? as u64,
                mtime_ns: r.get(7)?,
                ino: r.get::<_, i64>(8)? as u64,
                is_symlink: r.get(9)?,
            };
            let entry = (r.get::<_, String>(3)?, r.get::<_, String>(4)?, stat);
            match out.get_mut(&stem) {
                Some(o) => o.entries.push(entry),
                None => {
                    out.insert(
                        stem,
                        OldObject {
                            id: r.get(0)?,
                            group_id: r.get(2)?,
                            entries: vec![entry],
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Bring one known directory's objects in line with its listing.
    fn update_dir(
        &mut self,
        dir_id: i64,
        rel: &str,
        entries: &[RawEntry],
        report: &mut ScanReport,
    ) -> Result<()> {
        let mut old = self.dir_objects(dir_id)?;
        for members in by_object(entries) {
            let stem = stem_of(&members[0]);
            match old.remove(stem) {
                None => {
                    report.added += members.len() as u64;
                    report.bytes_added += members.iter().map(|e| e.blocks * 512).sum::<u64>();
                    self.insert_object(dir_id, rel, members)?;
                }
                Some(o) => {
                    if diff_object(&o, members, report) {
                        self.rewrite_object(&o, rel, members)?;
                    }
                }
            }
        }
        for o in old.into_values() {
            for (_, _, stat) in &o.entries {
                report.removed += 1;
                report.bytes_removed += stat.blocks * 512;
            }
            self.delete_object(&o)?;
        }
        Ok(())
    }

    fn delete_object(&mut self, o: &OldObject) -> Result<()> {
        self.st
            .object_deps_delete
            .execute([o.id])
            .context("dropping the edges of a removed object")?;
        self.st
            .object_entries_delete
            .execute([o.id])
            .context("dropping the entries of a removed object")?;
        self.st
            .object_delete
            .execute([o.id])
            .context("dropping a removed object")?;
        self.emptied_groups.insert(o.group_id);
        Ok(())
    }

    /// Replace the entries and aggregates of an object that changed; its
    /// edges are dropped only if its siginfo is not the one they came from.
    fn rewrite_object(&mut self, o: &OldObject, rel: &str, members: &[RawEntry]) -> Result<()> {
        let parsed: Vec<name::Name<'_>> = members.iter().map(|e| e.spans.name(&e.name)).collect();
        let agg = aggregates(&parsed, members);
        let old_siginfo = siginfo_identity(o.entries.iter().map(|(_, k, s)| (k.as_str(), s)));
        let stats: Vec<Stat> = members.iter().map(Stat::from).collect();
        let new_siginfo =
            siginfo_identity(parsed.iter().zip(&stats).map(|(p, s)| (p.kind.as_str(), s)));
        self.st
            .object_entries_delete
            .execute([o.id])
            .context("dropping the entries of a changed object")?;
        self.insert_entries(o.id, rel, &parsed, members)?;
        self.st
            .object_update
            .execute(params![
                o.id,
                agg.archive_mtime,
                agg.last_used,
                agg.n,
                agg.size,
                agg.disk
            ])
            .with_context(|| format!("updating object {rel}/{} in the index", parsed[0].stem))?;
        if old_siginfo != new_siginfo {
            self.st
                .object_deps_delete
                .execute([o.id])
                .context("dropping the edges of a changed siginfo")?;
            self.tx
                .execute(
                    "UPDATE object SET deps_state = ?2, deps_error = NULL WHERE id = ?1",
                    params![o.id, agg.deps_state],
                )
                .context("resetting the edges of a changed siginfo")?;
        }
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

    fn insert_object(&mut self, dir_id: i64, rel: &str, members: &[RawEntry]) -> Result<()> {
        let parsed: Vec<name::Name<'_>> = members.iter().map(|e| e.spans.name(&e.name)).collect();
        let Some(n) = parsed.first().copied() else {
            return Ok(());
        };
        let group_id = self.group_id(rel, &n)?;
        let agg = aggregates(&parsed, members);
        self.st
            .object_insert
            .execute(params![
                dir_id,
                group_id,
                n.stem,
                n.pv,
                n.pr,
                n.unihash,
                agg.archive_mtime,
                agg.last_used,
                agg.n,
                agg.size,
                agg.disk,
                hash_key(n.unihash),
                agg.deps_state
            ])
            .with_context(|| format!("adding object {rel}/{} to the index", n.stem))?;
        let object_id = self.tx.last_insert_rowid();
        self.insert_entries(object_id, rel, &parsed, members)
    }

    fn insert_entries(
        &mut self,
        object_id: i64,
        rel: &str,
        parsed: &[name::Name<'_>],
        members: &[RawEntry],
    ) -> Result<()> {
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

    /// Drop every known directory the walk did not reach: it is gone, and
    /// so is everything in it.
    pub(super) fn finish(&mut self, report: &mut ScanReport) -> Result<()> {
        let gone: Vec<(String, i64)> = self
            .known
            .iter()
            .filter(|(_, d)| !d.was_seen())
            .map(|(path, d)| (path.clone(), d.id))
            .collect();
        for (path, dir_id) in gone {
            let (n, bytes): (i64, i64) = self
                .st
                .dir_totals
                .query_row([dir_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .context("counting the entries of a removed directory")?;
            report.removed += n as u64;
            report.bytes_removed += bytes as u64;
            let groups = self
                .st
                .dir_groups
                .query_map([dir_id], |r| r.get::<_, i64>(0))
                .context("reading the groups of a removed directory")?
                .collect::<rusqlite::Result<Vec<_>>>()
                .context("reading the groups of a removed directory")?;
            self.emptied_groups.extend(groups);
            self.st
                .clear_deps
                .execute([dir_id])
                .context("dropping edges of a removed directory")?;
            self.st
                .clear_entries
                .execute([dir_id])
                .context("dropping entries of a removed directory")?;
            self.st
                .clear_objects
                .execute([dir_id])
                .context("dropping objects of a removed directory")?;
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

/// The entries of a directory (sorted by stem by the walk), cut into
/// objects.
fn by_object(entries: &[RawEntry]) -> impl Iterator<Item = &[RawEntry]> {
    entries.chunk_by(|a, b| stem_of(a) == stem_of(b))
}

/// Count what differs between an indexed object and its entries on disk;
/// true if anything does.
fn diff_object(old: &OldObject, new: &[RawEntry], report: &mut ScanReport) -> bool {
    let mut differs = old.entries.len() != new.len();
    let mut seen = 0usize;
    for e in new {
        let ext = &e.name[e.spans.stem_len()..];
        match old.entries.iter().find(|(x, _, _)| x == ext) {
            None => {
                differs = true;
                report.added += 1;
                report.bytes_added += e.blocks * 512;
            }
            Some((_, _, stat)) => {
                seen += 1;
                if *stat != Stat::from(e) {
                    differs = true;
                    report.changed += 1;
                }
            }
        }
    }
    if seen < old.entries.len() {
        for (ext, _, stat) in &old.entries {
            if !new.iter().any(|e| &e.name[e.spans.stem_len()..] == ext) {
                report.removed += 1;
                report.bytes_removed += stat.blocks * 512;
            }
        }
    }
    differs
}
