//! `scan`: update the index only and say what changed.

use super::{Want, open_session, say};
use crate::cli::Format;
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::units::human_bytes;

pub fn run(cfg: &CacheConfig, format: Format) -> Result<i32> {
    let session = super::with_rebuild(cfg, || {
        open_session(
            cfg,
            Want {
                stamps_dirs: &[],
                lock_cache: false,
                wait: true,
                check: true,
                memory_ok: false,
            },
        )
    })?;
    let r = session.scan;
    let requests = session.index.store.as_ref().map(|s| {
        let list = s.requests.list.load(std::sync::atomic::Ordering::Relaxed);
        (list, s.requests.total(), s.requests.counts())
    });
    match format {
        Format::Text => {
            say(format!(
                "Scanned {} ({}, {:.2} s): {} entries in {} objects, {} on disk",
                cfg.cache_dir.display(),
                r.mode,
                r.duration_ms as f64 / 1000.0,
                r.entries,
                r.objects,
                human_bytes(r.disk_bytes)
            ))?;
            say(format!(
                "Since the last scan: {} added ({}), {} removed ({}), {} changed; {} dirs listed, {} unchanged",
                r.added,
                human_bytes(r.bytes_added),
                r.removed,
                human_bytes(r.bytes_removed),
                r.changed,
                r.dirs_listed,
                r.dirs_stat
            ))?;
            if let Some((list, total, _)) = &requests {
                say(format!(
                    "Listed {} keys with {list} list requests ({total} requests in all), {:.0} ms per 1,000 keys",
                    r.entries,
                    r.duration_ms as f64 * 1000.0 / r.entries.max(1) as f64
                ))?;
            }
        }
        Format::Json => {
            let doc = serde_json::json!({
                "cache_dir": cfg.cache_dir,
                "index": cfg.index_path,
                "scan": r,
                "warnings": r.warnings,
                "requests": requests.map(|(_, _, counts)| counts),
            });
            say(serde_json::to_string_pretty(&doc).context("encoding JSON")?)?;
        }
    }
    Ok(0)
}
