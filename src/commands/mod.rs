//! The commands: each takes resolved configuration, calls the core and
//! prints. All printing happens here.

pub mod clean;
pub mod docs;
pub mod progress;
pub mod query;
pub mod report;
pub mod scan;
pub mod touch;
pub mod trash;
pub mod ui;

use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::index::{self, Index};
use sstate_cache_management::lock::{self, Lock};
use sstate_cache_management::policy::{StampDir, stamps};
use sstate_cache_management::scan::{ScanOptions, ScanReport};
use sstate_cache_management::units::human_bytes;
use std::path::PathBuf;
use std::time::Duration;

/// The index of one run, open for writing and up to date with the cache,
/// with the locks that make this run its only writer (released on drop).
pub struct Session {
    pub index: Index,
    pub scan: ScanReport,
    /// What the `--stamps-dir`s hold, read while the cache was scanned.
    pub stamps: Option<Vec<StampDir>>,
    /// Held until the session's owner drops them.
    pub _locks: Vec<Lock>,
}

/// How a command wants its session.
pub struct Want<'a> {
    pub stamps_dirs: &'a [PathBuf],
    /// Also take the cache's lock (runs that may remove files).
    pub lock_cache: bool,
    /// Wait for a busy lock (`cfg.wait`), or fail with `lock::Busy` at once.
    pub wait: bool,
    /// Run `PRAGMA quick_check` on the index before trusting it.
    pub check: bool,
    /// When the index location cannot be written, work on a copy in
    /// memory (dry runs, reports) instead of failing.
    pub memory_ok: bool,
}

/// Whether the index (or, if it does not exist yet, its directory) can
/// be written: the reason if not.
fn index_location_writable(cfg: &CacheConfig) -> std::result::Result<(), String> {
    use rustix::fs::Access;
    let dir = match cfg
        .index_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let why =
        |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error()).to_string();
    // The directory too: the WAL, its shared memory and the lock live there.
    rustix::fs::access(&dir, Access::WRITE_OK | Access::EXEC_OK)
        .map_err(|e| format!("{}: {}", dir.display(), why(e)))?;
    match rustix::fs::access(&cfg.index_path, Access::WRITE_OK) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(why(e)),
    }
    // access() does not see a read-only mount as root: ask the file system.
    if let Ok(st) = rustix::fs::statvfs(&dir)
        && st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY)
    {
        return Err(format!("{} is on a read-only file system", dir.display()));
    }
    Ok(())
}

/// Lock, open and scan the index while the stamps of `stamps_dirs` (if
/// any) are read on another thread. A missing stamps dir fails before the
/// scan; an unreadable part of one, or one without stamps, after it.
pub fn open_session(cfg: &CacheConfig, want: Want<'_>) -> Result<Session> {
    stamps::check_dirs(want.stamps_dirs)?;
    let mut locks = Vec::new();
    let wait = if want.wait { cfg.wait } else { Duration::ZERO };
    // (The default location may be impossible to create, say with a
    // read-only home: that is an unwritable location like any other.)
    let dir_made = ensure_index_dir(cfg);
    if !cfg.index_is_default {
        dir_made?;
    }
    // Refuse a foreign file before creating its lock file beside it.
    index::precheck(&cfg.index_path)?;
    let memory = match index_location_writable(cfg) {
        Ok(()) => false,
        Err(why) if want.memory_ok => {
            warn(&format!(
                "the index {} cannot be written ({why}): this run works on a copy in memory, \
                 which is not kept; pass --index PATH on a writable disk to keep one",
                cfg.index_path.display()
            ));
            true
        }
        Err(why) => anyhow::bail!(
            "the index {} cannot be written ({why}); a run that removes files needs to record it. \
             Pass --index PATH on a writable disk (or fix the permissions); nothing was removed",
            cfg.index_path.display()
        ),
    };
    if !memory {
        locks.push(lock::acquire(
            &lock::index_lock_path(&cfg.index_path),
            wait,
            &cfg.command,
        )?);
    }
    // (A mirror on an object store has no lock of its own: two hosts
    // cleaning one mirror each re-check every key before deleting it.)
    if want.lock_cache && cfg.store.is_none() {
        match lock::acquire_cache(&cfg.cache_root, wait, &cfg.command)? {
            Some(l) => locks.push(l),
            None => warn(&format!(
                "cannot take the lock {} (read-only cache dir, or no lock support there): \
                 a cleanup of this cache from another host is not kept out",
                lock::cache_lock_path(&cfg.cache_root).display()
            )),
        }
    }
    let stamps_dirs = want.stamps_dirs;
    let (found, scanned) = std::thread::scope(|s| {
        let found = (!stamps_dirs.is_empty()).then(|| s.spawn(|| stamps::collect(stamps_dirs)));
        let scanned = open_and_scan(cfg, want.check, memory);
        let found = found
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("the stamps thread panicked"))?
            })
            .transpose();
        (found, scanned)
    });
    let (index, scan) = scanned?;
    Ok(Session {
        index,
        scan,
        stamps: found?,
        _locks: locks,
    })
}

/// Run `stages` (which open a session: lock, open, scan, plan); if they
/// fail because the index is corrupt, move it aside and run them once more
/// on a new index built from the cache. Only for stages that show and
/// remove nothing.
pub fn with_rebuild<T>(cfg: &CacheConfig, mut stages: impl FnMut() -> Result<T>) -> Result<T> {
    match stages() {
        Err(e) if index::is_corruption(&e) && cfg.index_path.exists() => {
            let aside = index::move_aside(&cfg.index_path).with_context(|| {
                format!("index {} is corrupt ({e:#})", cfg.index_path.display())
            })?;
            warn(&format!(
                "index {} is corrupt ({e:#}); moved it to {}, rebuilding from the cache",
                cfg.index_path.display(),
                aside.display()
            ));
            stages()
        }
        other => other,
    }
}

/// Scan again within a session (its locks held by the caller).
pub fn rescan(cfg: &CacheConfig, index: &mut Index) -> Result<ScanReport> {
    let opts = ScanOptions {
        jobs: cfg.jobs,
        full: false,
        progress: Default::default(),
    };
    let bar = progress::scanning(cfg.progress, &cfg.cache_dir, &opts.progress);
    let report = sstate_cache_management::scan::scan(index, opts)?;
    drop(bar);
    report.warnings.iter().for_each(|w| warn(w));
    Ok(report)
}

/// The default index location is created as needed; a directory given
/// with `--index` must exist (a typo should not make a tree of dirs).
fn ensure_index_dir(cfg: &CacheConfig) -> Result<()> {
    let Some(parent) = cfg
        .index_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    else {
        return Ok(());
    };
    if cfg.index_is_default {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the index directory {}", parent.display()))
    } else if parent.is_dir() {
        Ok(())
    } else {
        anyhow::bail!(
            "--index {}: the directory {} does not exist",
            cfg.index_path.display(),
            parent.display()
        )
    }
}

/// Print a line on stdout; a closed pipe is an error (which `main` turns
/// into a quiet exit), never a panic.
pub fn say(line: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// Print a warning the way every command does (not with `-q`).
pub fn warn(msg: &str) {
    ui::warning(msg);
}

/// After a scan that found no entry at all: the dir is probably not an
/// SSTATE_DIR (a typo, or a build's TMPDIR). Only a hint: an empty cache
/// is also what a new SSTATE_DIR looks like, and nothing can be removed
/// from it, so every command goes on as usual (exit 0).
fn hint_if_no_entries(cfg: &CacheConfig, scan: &ScanReport) {
    if scan.entries > 0 || !scan.warnings.is_empty() {
        return;
    }
    let others = std::fs::read_dir(&cfg.cache_root)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter(|e| e.file_name() != sstate_cache_management::TOOL_DIR)
                .count()
        })
        .unwrap_or(0);
    let what = if others == 0 {
        "it is empty".to_string()
    } else {
        format!(
            "none of the files below it is named like one (sstate:PN:…:HASH_TASK.EXT, in HH/hh dirs); \
             it holds {others} other {} at its top",
            if others == 1 { "item" } else { "items" }
        )
    };
    warn(&format!(
        "{} holds no sstate entries ({what}): it may not be an SSTATE_DIR. \
         Check --cache-dir (or $SSTATE_CACHE_DIR); nothing in it can be removed",
        cfg.cache_dir.display()
    ));
}

/// Open the index (or a copy of it in memory) and bring it up to date; the
/// caller holds the index lock.
fn open_and_scan(cfg: &CacheConfig, check: bool, memory: bool) -> Result<(Index, ScanReport)> {
    let opts = ScanOptions {
        jobs: cfg.jobs,
        full: cfg.full_rescan,
        progress: Default::default(),
    };
    let (mut idx, notes) = if memory {
        let idx = Index::open_in_memory(&cfg.index_path, &cfg.cache_root)?;
        (idx, index::OpenNotes::default())
    } else {
        Index::open(&cfg.index_path, &cfg.cache_root)?
    };
    notes.warnings.iter().for_each(|w| warn(w));
    // A run that may remove, or an explicit scan, checks the index first:
    // a plan from a damaged index is not one to act on.
    if check
        && !notes.created
        && let Some(problem) = idx.quick_check()?
    {
        drop(idx);
        let aside = index::move_aside(&cfg.index_path)?;
        warn(&format!(
            "index {} failed its check ({problem}); moved it to {}, rebuilding from the cache",
            cfg.index_path.display(),
            aside.display()
        ));
        idx = Index::open(&cfg.index_path, &cfg.cache_root)?.0;
    }
    if let Some(url) = &cfg.store {
        let connect = sstate_cache_management::store::Connect {
            endpoint: cfg.s3_endpoint.clone(),
            jobs: cfg.jobs,
        };
        idx.store = Some(std::sync::Arc::new(
            sstate_cache_management::store::Store::open(url.clone(), &connect)?,
        ));
    }
    if cfg.verbose {
        eprintln!(
            "Scanning {} (index {}{}; {} threads)",
            cfg.cache_dir.display(),
            cfg.index_path.display(),
            if notes.created { ", new" } else { "" },
            cfg.jobs
        );
    }
    // (A corrupt index found by the scan is the callers' `with_rebuild`.)
    let bar = progress::scanning(cfg.progress, &cfg.cache_dir, &opts.progress);
    let report = sstate_cache_management::scan::scan(&mut idx, opts);
    drop(bar);
    let report = report?;
    report.warnings.iter().for_each(|w| warn(w));
    hint_if_no_entries(cfg, &report);
    if cfg.verbose {
        eprintln!(
            "Scanned ({}, {}): {} entries in {} objects, {}; listed {} dirs, {} unchanged; {} added, {} removed, {} changed",
            report.mode,
            ui::millis(report.duration_ms),
            report.entries,
            report.objects,
            human_bytes(report.disk_bytes),
            report.dirs_listed,
            report.dirs_stat,
            report.added,
            report.removed,
            report.changed
        );
        if let Some(s) = &idx.store {
            eprintln!("Requests so far: {}", s.requests.summary());
        }
    }
    Ok((idx, report))
}
