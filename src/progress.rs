//! Progress counters: the long stages (scan, siginfo reading, re-stat)
//! bump them as they go, and a caller may poll them from another thread to
//! show progress. The core never prints; the removal has its own counters
//! ([`crate::remove::Progress`]).
//!
//! Updates are relaxed atomic adds, batched where the work per item is
//! small (one per directory for the scan, one per batch for the re-stat),
//! so that counting costs nothing measurable.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the stages have done so far (monotonic within a process).
#[derive(Debug, Default)]
pub struct Counters {
    /// Scan: directories visited (listed or only stat-ed as unchanged).
    pub scan_dirs: AtomicU64,
    /// Scan: directories the index knew when the scan started (0 on a
    /// cold scan: the total is unknown).
    pub scan_dirs_known: AtomicU64,
    /// Scan: entries found in the directories listed.
    pub scan_entries: AtomicU64,
    /// Siginfo files read, and queued for reading.
    pub siginfo_read: AtomicU64,
    pub siginfo_queued: AtomicU64,
    /// Re-stat: entries stat-ed again, and queued for it.
    pub restat_done: AtomicU64,
    pub restat_queued: AtomicU64,
}

impl Counters {
    /// Add `n` to `counter` (relaxed: readers only want a recent value).
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value of `counter`.
    #[inline]
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
