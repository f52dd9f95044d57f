//! `trash list | restore RUN | empty [--older-than D]`.

use super::{say, warn};
use crate::cli::{Format, TrashAction};
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::lock;
use sstate_cache_management::store::{Connect, Store};
use sstate_cache_management::trash;
use sstate_cache_management::units::human_bytes;

/// Where the trash is: the cache dir, or a mirror on an object store.
enum Place {
    Dir,
    Store(Store),
}

impl Place {
    fn open(cfg: &CacheConfig) -> Result<Place> {
        Ok(match &cfg.store {
            None => Place::Dir,
            Some(url) => Place::Store(Store::open(
                url.clone(),
                &Connect {
                    endpoint: cfg.s3_endpoint.clone(),
                    jobs: cfg.jobs,
                },
            )?),
        })
    }

    fn list(&self, cfg: &CacheConfig) -> Result<Vec<trash::TrashRun>> {
        match self {
            Place::Dir => trash::list(&cfg.cache_root),
            Place::Store(s) => trash::store::list(s),
        }
    }
}

pub fn run(cfg: &CacheConfig, action: TrashAction) -> Result<i32> {
    let place = Place::open(cfg)?;
    match action {
        TrashAction::List { format } => list(cfg, &place, format),
        TrashAction::Restore { run } => {
            let _lock = cache_lock(cfg)?;
            let found = trash::pick(place.list(cfg)?, &run, &cfg.cache_dir.display().to_string())?;
            let r = match &place {
                Place::Dir => trash::restore(&cfg.cache_root, &found.name)?,
                Place::Store(s) => trash::store::restore(s, &found.name)?,
            };
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
            let gone = match &place {
                Place::Dir => trash::empty(&cfg.cache_root, before.as_deref())?,
                Place::Store(s) => trash::store::empty(s, before.as_deref())?,
            };
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
/// (A mirror on an object store has no lock: see `open_session`.)
fn cache_lock(cfg: &CacheConfig) -> Result<Option<lock::Lock>> {
    match cfg.store {
        Some(_) => Ok(None),
        None => lock::acquire_cache(&cfg.cache_root, cfg.wait, &cfg.command),
    }
}

fn list(cfg: &CacheConfig, place: &Place, format: Format) -> Result<i32> {
    let runs = place.list(cfg)?;
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
