//! The commands: each takes resolved configuration, calls the core and
//! prints. All printing happens here.

pub mod clean;
pub mod query;
pub mod report;
pub mod scan;
pub mod trash;

use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::index::{self, Index};
use sstate_cache_management::lock::{self, Lock};
use sstate_cache_management::policy::{StampDir, stamps};
use sstate_cache_management::scan::{ScanOptions, ScanReport};
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
}

/// Lock, open and scan the index while the stamps of `stamps_dirs` (if
/// any) are read on another thread. A missing stamps dir fails before the
/// scan; an unreadable part of one, or one without stamps, after it.
pub fn open_session(cfg: &CacheConfig, want: Want<'_>) -> Result<Session> {
    stamps::check_dirs(want.stamps_dirs)?;
    let mut locks = Vec::new();
    let wait = if want.wait { cfg.wait } else { Duration::ZERO };
    ensure_index_dir(cfg)?;
    // Refuse a foreign file before creating its lock file beside it.
    index::precheck(&cfg.index_path)?;
    locks.push(lock::acquire(
        &lock::index_lock_path(&cfg.index_path),
        wait,
        &cfg.command,
    )?);
    if want.lock_cache {
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
        let scanned = open_and_scan(cfg, want.check);
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
    let report = sstate_cache_management::scan::scan(
        index,
        ScanOptions {
            jobs: cfg.jobs,
            full: false,
        },
    )?;
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

/// Print a warning the way every command does.
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

/// Open the index and bring it up to date (the caller holds the index
/// lock). An index found corrupt in the middle of the scan is moved aside
/// and rebuilt once.
fn open_and_scan(cfg: &CacheConfig, check: bool) -> Result<(Index, ScanReport)> {
    let opts = ScanOptions {
        jobs: cfg.jobs,
        full: cfg.full_rescan,
    };
    let (mut idx, notes) = Index::open(&cfg.index_path, &cfg.cache_root)?;
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
    if cfg.verbose {
        eprintln!(
            "Scanning {} (index {}{})",
            cfg.cache_dir.display(),
            cfg.index_path.display(),
            if notes.created { ", new" } else { "" }
        );
    }
    let report = match sstate_cache_management::scan::scan(&mut idx, opts) {
        Ok(r) => r,
        Err(e) if index::is_corruption(&e) => {
            drop(idx);
            let aside = index::move_aside(&cfg.index_path).with_context(|| {
                format!("index {} is corrupt ({e:#})", cfg.index_path.display())
            })?;
            warn(&format!(
                "index {} is corrupt ({e:#}); moved it to {}, rebuilding from the cache",
                cfg.index_path.display(),
                aside.display()
            ));
            let (fresh, _) = Index::open(&cfg.index_path, &cfg.cache_root)?;
            idx = fresh;
            sstate_cache_management::scan::scan(&mut idx, opts)?
        }
        Err(e) => return Err(e),
    };
    report.warnings.iter().for_each(|w| warn(w));
    if cfg.verbose {
        eprintln!(
            "Scanned ({}, {} ms): {} entries in {} objects; listed {} dirs, {} unchanged; {} added, {} removed, {} changed",
            report.mode,
            report.duration_ms,
            report.entries,
            report.objects,
            report.dirs_listed,
            report.dirs_stat,
            report.added,
            report.removed,
            report.changed
        );
    }
    Ok((idx, report))
}
