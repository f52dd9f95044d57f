//! `query SQL`: run read-only SQL against the index.

use super::{Want, open_session};
use crate::cli::TableFormat;
use crate::config::CacheConfig;
use anyhow::Result;
use sstate_cache_management::index::Index;
use sstate_cache_management::report::{self, CsvSink, JsonSink, RowSink, TextSink};

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
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut sink: Box<dyn RowSink> = match format {
        TableFormat::Table => Box::new(TextSink::new(out)),
        TableFormat::Csv => Box::new(CsvSink(out)),
        TableFormat::Json => Box::new(JsonSink::new(out)),
    };
    report::query(&index, sql, sink.as_mut())?;
    Ok(0)
}
