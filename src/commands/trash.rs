//! `trash list | restore RUN | empty [--older-than D]`.

use super::{say, warn};
use crate::cli::{Format, TrashAction};
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::lock;
use sstate_cache_management::trash;
use sstate_cache_management::units::human_bytes;

pub fn run(cfg: &CacheConfig, action: TrashAction) -> Result<i32> {
    match action {
        TrashAction::List { format } => list(cfg, format),
        TrashAction::Restore { run } => {
            let _lock = cache_lock(cfg)?;
            let found = trash::find(&cfg.cache_root, &run)?;
            let r = trash::restore(&cfg.cache_root, &found.name)?;
            say(format!(
                "Restored {} files of {} to {}.",
                r.restored,
                found.name,
                cfg.cache_dir.display()
            ))?;
            for p in &r.kept_newer {
                warn(&format!(
                    "{} is in the cache again (a build made it since): the trashed copy stays in the trash",
                    cfg.cache_dir.join(p).display()
                ));
            }
            for (p, why) in &r.failed {
                eprintln!("error: could not restore {p}: {why}");
            }
            Ok(if r.failed.is_empty() { 0 } else { 1 })
        }
        TrashAction::Empty { older_than } => {
            let _lock = cache_lock(cfg)?;
            let before = older_than.map(|w| {
                (chrono::Utc::now() - chrono::Duration::seconds(w.value as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            });
            let gone = trash::empty(&cfg.cache_root, before.as_deref())?;
            let files: u64 = gone.iter().map(|r| r.files).sum();
            let bytes: u64 = gone.iter().map(|r| r.disk_bytes).sum();
            say(format!(
                "Deleted {} runs from the trash: {files} files, {} freed.",
                gone.len(),
                human_bytes(bytes)
            ))?;
            Ok(0)
        }
    }
}

/// Restoring and emptying change the cache: one at a time with cleanups.
fn cache_lock(cfg: &CacheConfig) -> Result<Option<lock::Lock>> {
    lock::acquire_cache(&cfg.cache_root, cfg.wait, &cfg.command)
}

fn list(cfg: &CacheConfig, format: Format) -> Result<i32> {
    let runs = trash::list(&cfg.cache_root)?;
    match format {
        Format::Json => say(serde_json::to_string_pretty(&runs).context("encoding JSON")?)?,
        Format::Text => {
            if runs.is_empty() {
                say(format!(
                    "The trash of {} is empty.",
                    cfg.cache_dir.display()
                ))?;
            }
            for r in &runs {
                let (when, what) = match &r.manifest {
                    Some(m) => (m.started_at.as_str(), m.policies.as_str()),
                    None => (r.started_at.as_str(), "?"),
                };
                say(format!(
                    "{}  {when}  {:>8} files  {:>10}  {what}",
                    r.name,
                    r.files,
                    human_bytes(r.disk_bytes)
                ))?;
            }
        }
    }
    Ok(0)
}
