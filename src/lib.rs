//! sstate-cache-management: an indexed cleanup tool for Yocto/OpenEmbedded
//! shared-state caches. The binary (`src/main.rs`) is thin glue; everything
//! here is the core and never prints.
//!
//! - [`name`]: the sstate file-name parser.
//! - [`scan`]: the parallel, incremental walk that fills the index.
//! - [`index`]: the SQLite index: open, migrate, record.
//! - [`policy`]: the cleanup policies as SQL over the index.
//! - [`plan`]: policies, protections and budget into a plan, made exact
//!   on a warm index by re-stat-ing what it depends on.
//! - [`deps`], [`siginfo`]: dependency edges read from siginfo files.
//! - [`remove`]: re-check and unlink whole objects, beneath the cache root.
//! - [`lock`], [`trash`]: one writer at a time; undoable cleanups.
//! - [`progress`]: counters the long stages bump, for a caller to show.

pub mod deps;
pub mod index;
pub mod lock;
pub mod name;
pub mod plan;
pub mod policy;
pub mod pool;
pub mod progress;
pub mod remove;
pub mod report;
pub mod scan;
pub mod siginfo;
pub mod store;
pub mod trash;
pub mod units;

/// The directory the tool keeps inside a cache (its lock file and trash);
/// never scanned as part of the cache.
pub const TOOL_DIR: &str = ".sstate-cache-management";
