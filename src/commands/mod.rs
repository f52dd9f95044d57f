//! The commands: each takes resolved configuration, calls the core and
//! prints. All printing happens here.

pub mod clean;
pub mod query;
pub mod report;
pub mod scan;

use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::index::{self, Index};
use sstate_cache_management::policy::{StampDir, stamps};
use sstate_cache_management::scan::{ScanOptions, ScanReport};
use std::path::PathBuf;

/// Open and scan the index while the stamps of `stamps_dirs` (if any) are
/// read on another thread. A missing stamps dir fails before the scan; an
/// unreadable part of one, or one without stamps, after it.
pub fn scan_with_stamps(
    cfg: &CacheConfig,
    stamps_dirs: &[PathBuf],
) -> Result<(Index, ScanReport, Option<Vec<StampDir>>)> {
    stamps::check_dirs(stamps_dirs)?;
    let (found, scanned) = std::thread::scope(|s| {
        let found = (!stamps_dirs.is_empty()).then(|| s.spawn(|| stamps::collect(stamps_dirs)));
        let scanned = open_and_scan(cfg);
        let found = found
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("the stamps thread panicked"))?
            })
            .transpose();
        (found, scanned)
    });
    let (index, report) = scanned?;
    Ok((index, report, found?))
}

/// Print a warning the way every command does.
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

/// Open the index and bring it up to date. An index found corrupt in the
/// middle of the scan is moved aside and rebuilt once.
pub fn open_and_scan(cfg: &CacheConfig) -> Result<(Index, ScanReport)> {
    let opts = ScanOptions {
        jobs: cfg.jobs,
        full: cfg.full_rescan,
    };
    let (mut idx, notes) = Index::open(&cfg.index_path, &cfg.cache_root)?;
    notes.warnings.iter().for_each(|w| warn(w));
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
