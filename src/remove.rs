//! Removal: re-check every planned entry with `lstat` just before unlinking
//! it, in parallel. An entry that is gone, or whose mtime, size or inode
//! changed since it was indexed (a build used or rewrote it), is skipped and
//! reported, never removed.

use crate::policy::PlannedEntry;
use rayon::prelude::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What happened to one planned entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Removed,
    /// Already gone when we looked: nothing to do.
    SkippedGone,
    /// Changed since indexed: in use by a build, kept.
    SkippedChanged,
    /// The unlink itself failed (permissions, read-only file system, ...).
    Failed(String),
}

impl Outcome {
    /// The form stored in the index's removal history.
    pub fn as_text(&self) -> String {
        match self {
            Outcome::Removed => "removed".into(),
            Outcome::SkippedGone => "skipped:gone".into(),
            Outcome::SkippedChanged => "skipped:changed".into(),
            Outcome::Failed(why) => format!("failed:{why}"),
        }
    }
}

/// Totals of a removal.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RemovalTotals {
    pub removed_files: u64,
    pub removed_bytes: u64,
    pub skipped_gone: u64,
    pub skipped_changed: u64,
    pub failed: u64,
}

impl RemovalTotals {
    pub fn skipped(&self) -> u64 {
        self.skipped_gone + self.skipped_changed
    }
}

/// Re-check and unlink each entry on `jobs` threads. Returns the outcome of
/// each entry, in plan order.
pub fn remove(root: &Path, entries: &[PlannedEntry], jobs: usize) -> anyhow::Result<Vec<Outcome>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .thread_name(|i| format!("remove-{i}"))
        .build()
        .map_err(|e| anyhow::anyhow!("starting {jobs} removal threads: {e}"))?;
    Ok(pool.install(|| entries.par_iter().map(|e| remove_one(root, e)).collect()))
}

fn remove_one(root: &Path, e: &PlannedEntry) -> Outcome {
    let path = root.join(&e.rel_path);
    let md = match std::fs::symlink_metadata(&path) {
        Ok(md) => md,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Outcome::SkippedGone,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    let mtime_ns = md
        .mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(md.mtime_nsec());
    if mtime_ns != e.mtime_ns
        || md.size() != e.size
        || md.ino() != e.ino
        || md.file_type().is_symlink() != e.is_symlink
    {
        return Outcome::SkippedChanged;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Outcome::Removed,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Outcome::SkippedGone,
        Err(err) => Outcome::Failed(err.to_string()),
    }
}

/// Sum outcomes.
pub fn totals(entries: &[PlannedEntry], outcomes: &[Outcome]) -> RemovalTotals {
    let mut t = RemovalTotals::default();
    for (e, o) in entries.iter().zip(outcomes) {
        match o {
            Outcome::Removed => {
                t.removed_files += 1;
                t.removed_bytes += e.disk_bytes;
            }
            Outcome::SkippedGone => t.skipped_gone += 1,
            Outcome::SkippedChanged => t.skipped_changed += 1,
            Outcome::Failed(_) => t.failed += 1,
        }
    }
    t
}
