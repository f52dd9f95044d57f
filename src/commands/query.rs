//! `query SQL`: run read-only SQL against the index.

use super::{Want, open_session, warn};
use crate::cli::TableFormat;
use crate::config::CacheConfig;
use anyhow::Context;
use anyhow::Result;
use sstate_cache_management::index::{self, Index};
use sstate_cache_management::report::{self, CsvSink, JsonSink, RowSink, TextSink};

pub fn run(cfg: &CacheConfig, sql: &str, format: TableFormat) -> Result<i32> {
    if !cfg.index_path.exists() {
        // No index yet: build it, then query it read-only like any other.
        drop(build(cfg)?);
    }
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut sink: Box<dyn RowSink> = match format {
        TableFormat::Table => Box::new(TextSink::new(out)),
        TableFormat::Csv => Box::new(CsvSink::new(out)),
        TableFormat::Json => Box::new(JsonSink::new(out)),
    };
    let first = Index::open_read_only(&cfg.index_path, &cfg.cache_root)
        .and_then(|index| report::query(&index, sql, sink.as_mut()));
    match first {
        Err(e) if index::is_corruption(&e) => {
            let hint = format!(
                "index {} is corrupt; run `sstate-cache-management scan` to check and rebuild it",
                cfg.index_path.display()
            );
            // Rebuild and answer, if nothing was printed yet and no
            // cleanup holds the index (a query never waits for one).
            if sink.written() {
                return Err(e.context(format!("{hint} (the output above is incomplete)")));
            }
            let aside = index::move_aside(&cfg.index_path).context(hint.clone())?;
            warn(&format!(
                "{hint}: moved it to {}, rebuilding from the cache",
                aside.display()
            ));
            drop(build(cfg)?);
            let index = Index::open_read_only(&cfg.index_path, &cfg.cache_root)?;
            report::query(&index, sql, sink.as_mut()).map(|_| 0)
        }
        other => other.map(|_| 0),
    }
}

/// Build (or bring up to date) the index, without waiting for a cleanup.
fn build(cfg: &CacheConfig) -> Result<super::Session> {
    open_session(
        cfg,
        Want {
            stamps_dirs: &[],
            lock_cache: false,
            wait: false,
            check: false,
            memory_ok: false,
        },
    )
}
