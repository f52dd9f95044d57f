//! sstate-cache-management: an indexed cleanup tool for Yocto/OpenEmbedded
//! shared-state caches. The binary (`src/main.rs`) is thin glue; everything
//! here is the core and never prints.
//!
//! - [`name`]: the sstate file-name parser.
//! - [`scan`]: the parallel, incremental walk that fills the index.
//! - [`index`]: the SQLite index: open, migrate, record.
//! - [`policy`]: the cleanup policies as SQL over the index.
//! - [`remove`]: re-check and unlink.

pub mod index;
pub mod name;
pub mod policy;
pub mod remove;
pub mod report;
pub mod scan;
pub mod units;
