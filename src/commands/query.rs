//! `query SQL`: run read-only SQL against the index.

use super::{Want, open_session};
use crate::cli::TableFormat;
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::index::Index;
use sstate_cache_management::report;

pub fn run(cfg: &CacheConfig, sql: &str, format: TableFormat) -> Result<i32> {
    if !cfg.index_path.exists() {
        // No index yet: build it, then query it read-only like any other.
        drop(open_session(
            cfg,
            Want {
                stamps_dirs: &[],
                lock_cache: false,
                wait: true,
            },
        )?);
    }
    let index = Index::open_read_only(&cfg.index_path, &cfg.cache_root)?;
    let table = report::query(&index, sql)?;
    let out = match format {
        TableFormat::Table => table.to_text(),
        TableFormat::Csv => table.to_csv(),
        TableFormat::Json => {
            serde_json::to_string_pretty(&table.to_json()).context("encoding JSON")? + "\n"
        }
    };
    print!("{out}");
    Ok(0)
}
