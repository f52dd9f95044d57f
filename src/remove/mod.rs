//! Applying a plan: re-check every object just before removing it, and
//! remove (or move to the trash) whole objects only.
//!
//! - The plan is streamed from the index a directory at a time; `jobs`
//!   threads work on directories in parallel.
//! - Each directory is opened beneath the cache root with no symlink
//!   followed (`beneath.rs`): a directory swapped for a symlink since the
//!   scan is refused, never followed outside the cache.
//! - If the directory changed since the scan, it is listed again: an entry
//!   added to a selected object since (a new `.sig`, say) keeps the object.
//! - Every entry of an object is `lstat`-ed again; if any changed (mtime,
//!   size, inode, type: a build used or rewrote it), none is removed and
//!   the object is reported as skipped. Entries already gone are skipped
//!   as gone; the rest of the object goes.
//! - The archive goes first: if it cannot be removed, nothing else of the
//!   object is touched.
//! - An interrupt stops the work at an object boundary.
//!
//! Outcomes other than "removed" go to `temp.outcome(entry_id, outcome)`
//! of the index connection; the recording stage derives the rest.

pub(crate) mod beneath;
mod store;

use crate::index::Index;
use crate::name;
use anyhow::{Context, Result, bail};
use beneath::FileStat;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Objects per work unit: one directory, cut into units of this size.
const UNIT_OBJECTS: usize = 1024;

/// Remove, or move into a trash directory of the cache.
#[derive(Debug, Clone)]
pub enum Mode {
    Unlink,
    /// Move each entry to `rel_dir/<its relative path>` (relative to the
    /// cache root, so one rename on the same file system).
    Trash {
        rel_dir: String,
    },
}

/// Counters the workers update as they go, for progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub objects: AtomicU64,
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

/// How to apply the plan.
pub struct Options<'a> {
    pub jobs: usize,
    pub mode: Mode,
    /// Non-zero (a signal number, set by a handler): stop at the next
    /// object boundary.
    pub interrupt: &'a AtomicUsize,
    pub progress: &'a Progress,
    /// (device, inode) of the cache root when the run started: a root
    /// swapped since is refused.
    pub root_identity: Option<(u64, u64)>,
}

/// What applying the plan did, in numbers.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Totals {
    pub removed_objects: u64,
    pub removed_files: u64,
    pub removed_bytes: u64,
    /// Files of objects skipped because something in them changed.
    pub skipped_changed: u64,
    pub skipped_objects: u64,
    /// Files already gone.
    pub skipped_gone: u64,
    pub failed: u64,
    /// Files not reached because the run was interrupted.
    pub not_attempted: u64,
    /// `-L` targets removed.
    pub targets_removed: u64,
    pub interrupted: bool,
}

impl Totals {
    pub fn skipped(&self) -> u64 {
        self.skipped_changed + self.skipped_gone
    }

    fn add(&mut self, o: &Totals) {
        self.removed_objects += o.removed_objects;
        self.removed_files += o.removed_files;
        self.removed_bytes += o.removed_bytes;
        self.skipped_changed += o.skipped_changed;
        self.skipped_objects += o.skipped_objects;
        self.skipped_gone += o.skipped_gone;
        self.failed += o.failed;
        self.not_attempted += o.not_attempted;
        self.targets_removed += o.targets_removed;
    }
}

/// What happened to one entry that was not simply removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exception {
    SkippedGone,
    /// It, or another entry of its object, changed since the scan.
    SkippedChanged(&'static str),
    Failed(String),
    NotAttempted,
}

impl Exception {
    /// The form stored in the removal history.
    pub fn as_text(&self) -> String {
        match self {
            Exception::SkippedGone => "skipped:gone".into(),
            Exception::SkippedChanged(why) => format!("skipped:changed:{why}"),
            Exception::Failed(why) => format!("failed:{why}"),
            Exception::NotAttempted => "not-attempted".into(),
        }
    }
}

/// One planned entry, with the stat it had when planned.
#[derive(Debug, Clone)]
struct Planned {
    entry_id: i64,
    name: String,
    kind: String,
    size: u64,
    disk_bytes: u64,
    mtime_ns: i64,
    ino: u64,
    is_symlink: bool,
    /// `-L`: the link's target and its planned stat.
    target: Option<(PathBuf, u64, u64, i64)>,
}

struct PlannedObject {
    stem: String,
    entries: Vec<Planned>,
}

/// One unit of work: objects of one directory.
struct Unit {
    rel: String,
    stamp: (i64, i64),
    objects: Vec<PlannedObject>,
}

/// What a unit gave back.
#[derive(Default)]
struct UnitResult {
    totals: Totals,
    exceptions: Vec<(i64, Exception)>,
    targets: Vec<(i64, String)>,
}

/// Apply the plan in `temp.selected` of `index`. Returns the totals; the
/// exceptions are in `temp.outcome`, `-L` targets removed in
/// `temp.target_removed`.
pub fn apply(index: &Index, opts: &Options<'_>) -> Result<Totals> {
    let conn = &index.conn;
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS outcome(entry_id INTEGER PRIMARY KEY, outcome TEXT NOT NULL);
         DELETE FROM temp.outcome;
         CREATE TEMP TABLE IF NOT EXISTS target_removed(entry_id INTEGER PRIMARY KEY, path TEXT NOT NULL);
         DELETE FROM temp.target_removed;",
    )
    .context("preparing the removal tables")?;
    if let Some(store) = &index.store {
        let (mut totals, exceptions) = store::apply(conn, store, opts)?;
        totals.interrupted = opts.interrupt.load(Ordering::Relaxed) != 0;
        record_exceptions(conn, &exceptions, &[])?;
        return Ok(totals);
    }
    let root = beneath::open_root(&index.cache_root).map_err(|e| {
        anyhow::anyhow!("opening the cache dir {}: {e}", index.cache_root.display())
    })?;
    if let Some(expected) = opts.root_identity {
        let now =
            beneath::identity(&root).map_err(|e| anyhow::anyhow!("stat of the cache dir: {e}"))?;
        if now != expected {
            bail!(
                "the cache dir {} is not the directory that was scanned (it was replaced during the run); nothing removed",
                index.cache_root.display()
            );
        }
    }
    let trash = match &opts.mode {
        Mode::Unlink => None,
        Mode::Trash { rel_dir } => Some(rel_dir.as_str()),
    };

    let (unit_tx, unit_rx) = crossbeam_channel::bounded::<Unit>(opts.jobs.max(1) * 2);
    let (res_tx, res_rx) = crossbeam_channel::unbounded::<UnitResult>();
    let mut totals = Totals::default();
    let mut exceptions: Vec<(i64, Exception)> = Vec::new();
    let mut targets: Vec<(i64, String)> = Vec::new();
    let pool = crate::pool::get(opts.jobs)?;
    std::thread::scope(|s| -> Result<()> {
        // The workers run on the shared pool; this thread reads the plan.
        let (root, workers) = (&root, opts.jobs.clamp(1, crate::pool::MAX_THREADS));
        s.spawn(move || {
            pool.scope(|ps| {
                for _ in 0..workers {
                    let (unit_rx, res_tx) = (unit_rx.clone(), res_tx.clone());
                    ps.spawn(move |_| {
                        for unit in unit_rx.iter() {
                            let r = work(root, &unit, trash, opts);
                            if res_tx.send(r).is_err() {
                                break;
                            }
                        }
                    });
                }
            });
        });
        let streamed = stream_plan(conn, |unit| {
            if opts.interrupt.load(Ordering::Relaxed) != 0 {
                // Not handed out: every entry is "not attempted".
                let mut r = UnitResult::default();
                for o in &unit.objects {
                    for e in &o.entries {
                        r.totals.not_attempted += 1;
                        r.exceptions.push((e.entry_id, Exception::NotAttempted));
                    }
                }
                totals.add(&r.totals);
                exceptions.extend(r.exceptions);
                return Ok(());
            }
            unit_tx
                .send(unit)
                .map_err(|_| anyhow::anyhow!("the removal threads stopped"))
        });
        drop(unit_tx);
        for r in res_rx.iter() {
            totals.add(&r.totals);
            exceptions.extend(r.exceptions);
            targets.extend(r.targets);
        }
        streamed
    })?;
    totals.interrupted = opts.interrupt.load(Ordering::Relaxed) != 0;
    record_exceptions(conn, &exceptions, &targets)?;
    Ok(totals)
}

/// Write what was not simply removed to `temp.outcome`, and the `-L`
/// targets removed to `temp.target_removed`.
fn record_exceptions(
    conn: &rusqlite::Connection,
    exceptions: &[(i64, Exception)],
    targets: &[(i64, String)],
) -> Result<()> {
    let mut ins = conn
        .prepare("INSERT OR REPLACE INTO temp.outcome(entry_id, outcome) VALUES (?1, ?2)")
        .context("preparing the outcome table")?;
    for (id, e) in exceptions {
        ins.execute(rusqlite::params![id, e.as_text()])
            .context("recording an outcome")?;
    }
    let mut ins = conn
        .prepare("INSERT OR REPLACE INTO temp.target_removed(entry_id, path) VALUES (?1, ?2)")
        .context("preparing the target table")?;
    for (id, path) in targets {
        ins.execute(rusqlite::params![id, path])
            .context("recording a removed target")?;
    }
    Ok(())
}

/// Read the plan a directory at a time (objects in id order, archives
/// first within an object) and hand each unit to `f`. The query follows
/// the `object_dir` and `entry_object` indexes, so SQLite streams it with
/// no sort (a sorted plan of 690k files held 500 MB in memory).
fn stream_plan(conn: &rusqlite::Connection, mut f: impl FnMut(Unit) -> Result<()>) -> Result<()> {
    let mut stmt = conn
        .prepare(
            "SELECT o.dir_id, d.path, d.mtime_ns, d.ctime_ns, o.id, o.stem,
                    e.id, e.ext, e.kind, e.size, e.blocks, e.mtime_ns, e.ino, e.is_symlink,
                    t.path, t.ino, t.size, t.mtime_ns
             FROM object o
             CROSS JOIN temp.selected s ON s.id = o.id
             JOIN dir d    ON d.id = o.dir_id
             JOIN entry e  ON e.object_id = o.id
             LEFT JOIN temp.link_target t ON t.entry_id = e.id
             ORDER BY o.dir_id, o.id, e.id",
        )
        .context("preparing the removal plan")?;
    let mut rows = stmt.query([]).context("reading the removal plan")?;
    let mut unit: Option<(i64, Unit)> = None;
    let mut last_object = None;
    while let Some(r) = rows.next().context("reading the removal plan")? {
        let dir_id: i64 = r.get(0)?;
        let object_id: i64 = r.get(4)?;
        let target = match r.get::<_, Option<String>>(14)? {
            Some(p) => Some((
                PathBuf::from(p),
                r.get::<_, i64>(15)? as u64,
                r.get::<_, i64>(16)? as u64,
                r.get::<_, i64>(17)?,
            )),
            None => None,
        };
        let stem: String = r.get(5)?;
        let entry = Planned {
            entry_id: r.get(6)?,
            name: format!("{stem}{}", r.get::<_, String>(7)?),
            kind: r.get(8)?,
            size: r.get::<_, i64>(9)? as u64,
            disk_bytes: r.get::<_, i64>(10)? as u64 * 512,
            mtime_ns: r.get(11)?,
            ino: r.get::<_, i64>(12)? as u64,
            is_symlink: r.get(13)?,
            target,
        };
        let same_object =
            last_object == Some(object_id) && unit.as_ref().is_some_and(|(d, _)| *d == dir_id);
        if same_object {
            if let Some(o) = unit.as_mut().and_then(|(_, u)| u.objects.last_mut()) {
                // The archive goes first (see `remove_object`).
                if entry.kind == "archive" {
                    o.entries.insert(0, entry);
                } else {
                    o.entries.push(entry);
                }
            }
            continue;
        }
        last_object = Some(object_id);
        let new_unit = unit
            .as_ref()
            .is_none_or(|(d, u)| *d != dir_id || u.objects.len() >= UNIT_OBJECTS);
        if new_unit {
            if let Some((_, u)) = unit.take() {
                f(u)?;
            }
            unit = Some((
                dir_id,
                Unit {
                    rel: r.get(1)?,
                    stamp: (r.get(2)?, r.get(3)?),
                    objects: Vec::new(),
                },
            ));
        }
        if let Some((_, u)) = unit.as_mut() {
            u.objects.push(PlannedObject {
                stem,
                entries: vec![entry],
            });
        }
    }
    if let Some((_, u)) = unit.take() {
        f(u)?;
    }
    Ok(())
}

fn errno_text(e: Errno) -> String {
    std::io::Error::from_raw_os_error(e.raw_os_error()).to_string()
}

/// Work one unit: open its directory safely, check, remove.
fn work(root: &OwnedFd, unit: &Unit, trash: Option<&str>, opts: &Options<'_>) -> UnitResult {
    let mut r = UnitResult::default();
    let every = |r: &mut UnitResult, ex: &dyn Fn() -> Exception| {
        for o in &unit.objects {
            for e in &o.entries {
                let x = ex();
                match x {
                    Exception::SkippedGone => r.totals.skipped_gone += 1,
                    Exception::Failed(_) => r.totals.failed += 1,
                    Exception::SkippedChanged(_) => r.totals.skipped_changed += 1,
                    Exception::NotAttempted => r.totals.not_attempted += 1,
                }
                r.exceptions.push((e.entry_id, x));
            }
        }
    };
    let dir = match beneath::open_dir_beneath(root, &unit.rel) {
        Ok(d) => d,
        Err(e) if beneath::is_gone(e) => {
            every(&mut r, &|| Exception::SkippedGone);
            return r;
        }
        Err(e) => {
            let why = if e == Errno::LOOP || e == Errno::NOTDIR || e == Errno::XDEV {
                "its directory is now a symlink or not a directory (refusing to follow it out of the cache)"
                    .to_string()
            } else {
                format!("cannot open its directory: {}", errno_text(e))
            };
            every(&mut r, &|| Exception::Failed(why.clone()));
            return r;
        }
    };
    let trash_dir = match trash {
        None => None,
        Some(t) => {
            let rel = if unit.rel.is_empty() {
                t.to_string()
            } else {
                format!("{t}/{}", unit.rel)
            };
            match beneath::create_dir_beneath(root, &rel) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    let why = format!("cannot create the trash directory {rel}: {}", errno_text(e));
                    every(&mut r, &|| Exception::Failed(why.clone()));
                    return r;
                }
            }
        }
    };
    // Listed again only if something was added, removed or renamed in the
    // directory since the scan.
    let listed: Option<HashMap<String, Vec<String>>> = match beneath::dir_stamp(&dir) {
        Ok(stamp) if stamp == unit.stamp => None,
        _ => beneath::list_names(&dir).ok().map(|names| {
            let mut by_stem: HashMap<String, Vec<String>> = HashMap::new();
            for n in names {
                if let Some(p) = name::parse(&n) {
                    by_stem
                        .entry(p.stem.to_string())
                        .or_default()
                        .push(p.ext.to_string());
                }
            }
            by_stem
        }),
    };
    for o in &unit.objects {
        if opts.interrupt.load(Ordering::Relaxed) != 0 {
            for e in &o.entries {
                r.totals.not_attempted += 1;
                r.exceptions.push((e.entry_id, Exception::NotAttempted));
            }
            continue;
        }
        remove_object(&dir, trash_dir.as_ref(), o, listed.as_ref(), opts, &mut r);
    }
    r
}

fn now_stat(dir: impl AsFd, e: &Planned) -> Result<Option<FileStat>, Errno> {
    match beneath::stat_in(dir, &e.name) {
        Ok(s) => Ok(Some(s)),
        Err(err) if beneath::is_gone(err) => Ok(None),
        Err(err) => Err(err),
    }
}

fn unchanged(e: &Planned, s: &FileStat) -> bool {
    s.mtime_ns == e.mtime_ns
        && s.size == e.size
        && s.ino == e.ino
        && s.is_symlink == e.is_symlink
        && (s.is_file || s.is_symlink)
}

fn target_unchanged(path: &Path, ino: u64, size: u64, mtime_ns: i64) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|md| {
        md.is_file()
            && md.ino() == ino
            && md.size() == size
            && md
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(md.mtime_nsec())
                == mtime_ns
    })
}

/// Remove the `-L` target of `e` (never in trash mode: the target is
/// outside the cache). False when it could not be removed.
fn remove_target(e: &Planned, trashing: bool, r: &mut UnitResult) -> bool {
    let Some((path, ..)) = &e.target else {
        return true;
    };
    if trashing {
        return true;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            r.totals.targets_removed += 1;
            r.targets.push((e.entry_id, path.display().to_string()));
            true
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => true,
        Err(err) => {
            let why = format!("cannot remove its link target {}: {err}", path.display());
            r.totals.failed += 1;
            r.exceptions.push((e.entry_id, Exception::Failed(why)));
            false
        }
    }
}

/// Put back archives an interrupted removal left taken aside (relative
/// paths from the scan): each goes back to its name unless a file has
/// that name again. Returns how many went back.
pub fn put_back(cache_root: &Path, leftovers: &[String]) -> anyhow::Result<u64> {
    let root = beneath::open_root(cache_root)
        .map_err(|e| anyhow::anyhow!("opening the cache dir {}: {e}", cache_root.display()))?;
    let mut n = 0;
    for rel in leftovers {
        let (dir_rel, name) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
        let Ok(dir) = beneath::open_dir_beneath(&root, dir_rel) else {
            continue;
        };
        let orig = match name.strip_suffix(ASIDE) {
            Some(o) => Some(o.to_string()),
            // A long name: find it among the archive names the object's
            // companions (still there: the archive goes first) imply.
            None => beneath::list_names(&dir).ok().and_then(|names| {
                names
                    .iter()
                    .filter_map(|n| crate::name::parse(n))
                    .flat_map(|p| [format!("{}.tar.zst", p.stem), format!("{}.tgz", p.stem)])
                    .find(|cand| aside_name(cand) == name)
            }),
        };
        if let Some(orig) = orig
            && beneath::rename_noreplace(&dir, name, &dir, &orig).is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}

/// The suffix an archive has between being taken aside and unlinked.
pub const ASIDE: &str = ".sscm-removing";
/// The prefix of the aside name of an archive whose name is too long for
/// the suffix (then `PREFIX` + 16 hex digits of a hash of the name).
pub const ASIDE_LONG: &str = ".sscm-removing-";

/// FNV-1a, 64 bits: names long aside files after the archive's name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The name an archive has while it is taken aside: `NAME.sscm-removing`,
/// or for names too long for that, `.sscm-removing-HASH`.
pub fn aside_name(name: &str) -> String {
    if name.len() + ASIDE.len() <= 255 {
        format!("{name}{ASIDE}")
    } else {
        format!("{ASIDE_LONG}{:016x}", fnv1a(name.as_bytes()))
    }
}

enum Take {
    Done,
    /// It changed between the re-check and the rename: put back.
    UsedNow,
    Err(Errno),
    /// It changed, and could not be put back (a new file took its name).
    Stuck(String),
}

/// Take the archive out of its name first (a rename, which a build's
/// touch-by-path can no longer reach), check the file once more, then
/// unlink it (or leave it in the trash). A touch that landed before the
/// rename shows in that check: the archive goes back and the object stays.
/// This closes the window between the re-check and the unlink for the one
/// file BitBake touches first when it reuses an object.
fn take_archive(dir: &OwnedFd, trash: Option<&OwnedFd>, e: &Planned) -> Take {
    let aside = aside_name(&e.name);
    let (held_in, held_as) = match trash {
        None => (dir, aside.as_str()),
        Some(t) => (t, e.name.as_str()),
    };
    let moved = match trash {
        None => beneath::rename_noreplace(dir, &e.name, dir, &aside),
        Some(t) => beneath::move_noreplace(dir, t, &e.name),
    };
    if let Err(err) = moved {
        return Take::Err(err);
    }
    match beneath::stat_in(held_in, held_as) {
        Ok(s) if unchanged(e, &s) => match trash {
            None => match beneath::unlink_in(dir, &aside) {
                Ok(()) => Take::Done,
                Err(err) => Take::Stuck(format!(
                    "taken aside as {aside} but not removed: {}",
                    errno_text(err)
                )),
            },
            Some(_) => Take::Done,
        },
        _ => match beneath::rename_noreplace(held_in, held_as, dir, &e.name) {
            Ok(()) => Take::UsedNow,
            Err(err) => Take::Stuck(format!(
                "changed while being removed, and could not be put back ({}); it is left as {held_as}",
                errno_text(err)
            )),
        },
    }
}

fn remove_object(
    dir: &OwnedFd,
    trash: Option<&OwnedFd>,
    o: &PlannedObject,
    listed: Option<&HashMap<String, Vec<String>>>,
    opts: &Options<'_>,
    r: &mut UnitResult,
) {
    let skip_all = |r: &mut UnitResult, why: &'static str| {
        r.totals.skipped_objects += 1;
        for e in &o.entries {
            r.totals.skipped_changed += 1;
            r.exceptions
                .push((e.entry_id, Exception::SkippedChanged(why)));
        }
    };
    // An entry added to the object since the scan (it was not planned).
    if let Some(exts) = listed.and_then(|l| l.get(&o.stem))
        && exts.iter().any(|x| {
            !o.entries
                .iter()
                .any(|e| e.name.len() == o.stem.len() + x.len() && e.name.ends_with(x.as_str()))
        })
    {
        skip_all(r, "new-entry");
        return;
    }
    // Re-check every entry before touching any.
    let mut present = Vec::with_capacity(o.entries.len());
    for e in &o.entries {
        match now_stat(dir, e) {
            Ok(None) => present.push(false),
            Ok(Some(s)) if unchanged(e, &s) => present.push(true),
            Ok(Some(_)) => {
                skip_all(r, "used-since-scan");
                return;
            }
            Err(err) => {
                let why = format!("cannot stat it: {}", errno_text(err));
                for e in &o.entries {
                    r.totals.failed += 1;
                    r.exceptions
                        .push((e.entry_id, Exception::Failed(why.clone())));
                }
                return;
            }
        }
        if let Some((path, ino, size, mtime)) = &e.target
            && !target_unchanged(path, *ino, *size, *mtime)
            && path.exists()
        {
            skip_all(r, "link-target-used-since-scan");
            return;
        }
    }
    if !present.iter().any(|p| *p) {
        for e in &o.entries {
            r.totals.skipped_gone += 1;
            r.exceptions.push((e.entry_id, Exception::SkippedGone));
        }
        return;
    }
    let mut removed_any = false;
    let mut stop: Option<String> = None;
    for (e, here) in o.entries.iter().zip(present) {
        if let Some(why) = &stop {
            r.totals.failed += 1;
            r.exceptions
                .push((e.entry_id, Exception::Failed(format!("kept because {why}"))));
            continue;
        }
        if !here {
            r.totals.skipped_gone += 1;
            r.exceptions.push((e.entry_id, Exception::SkippedGone));
            continue;
        }
        // -L: the link's target goes with it, after the link itself when
        // it is the archive (so that a link in use keeps its target).
        if e.kind != "archive" && !remove_target(e, trash.is_some(), r) {
            continue;
        }
        let done = if e.kind == "archive" {
            match take_archive(dir, trash, e) {
                Take::Done => {
                    remove_target(e, trash.is_some(), r);
                    Ok(())
                }
                Take::UsedNow => {
                    // Touched between the re-check and now: the object stays.
                    skip_all(r, "used-since-scan");
                    return;
                }
                Take::Err(err) => Err(err),
                Take::Stuck(why) => {
                    r.totals.failed += 1;
                    r.exceptions.push((e.entry_id, Exception::Failed(why)));
                    stop = Some("the archive could not be put back".into());
                    continue;
                }
            }
        } else {
            match trash {
                None => beneath::unlink_in(dir, &e.name),
                Some(t) => beneath::move_noreplace(dir, t, &e.name),
            }
        };
        match done {
            Ok(()) => {
                removed_any = true;
                r.totals.removed_files += 1;
                r.totals.removed_bytes += e.disk_bytes;
                opts.progress.files.fetch_add(1, Ordering::Relaxed);
                opts.progress
                    .bytes
                    .fetch_add(e.disk_bytes, Ordering::Relaxed);
            }
            Err(err) if beneath::is_gone(err) => {
                r.totals.skipped_gone += 1;
                r.exceptions.push((e.entry_id, Exception::SkippedGone));
            }
            Err(err) => {
                r.totals.failed += 1;
                r.exceptions
                    .push((e.entry_id, Exception::Failed(errno_text(err))));
                if e.kind == "archive" {
                    stop = Some("the archive could not be removed".into());
                }
            }
        }
    }
    if removed_any {
        r.totals.removed_objects += 1;
        opts.progress.objects.fetch_add(1, Ordering::Relaxed);
    }
}
