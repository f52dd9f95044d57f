//! One pool of worker threads per process, made on first use with the
//! `-j` count and shared by every parallel stage (walk, re-stat, siginfo
//! reading, removal): with `-j 1024` for a slow NFS server, 1024 threads
//! are started once, not once per stage.

use std::sync::OnceLock;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

/// Threads used at most, whatever `-j` says: idle workers spin before
/// they sleep, and past a few hundred they cost more CPU than any latency
/// they could hide (1024 took a second to start on two cores, 256 took
/// 30 ms).
pub const MAX_THREADS: usize = 256;

/// The pool, with `jobs` threads up to [`MAX_THREADS`] (the first caller's
/// count wins: every caller in a run passes the same `-j`).
pub fn get(jobs: usize) -> anyhow::Result<&'static rayon::ThreadPool> {
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, MAX_THREADS))
        .thread_name(|i| format!("sscm-{i}"))
        .build()
        .map_err(|e| anyhow::anyhow!("starting {jobs} worker threads: {e}"))?;
    Ok(POOL.get_or_init(|| pool))
}
