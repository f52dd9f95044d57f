//! `touch`: mark what a build used as used now, so that last-use policies
//! (`--older-than`, `--max-size`) keep it. For a mirror on an object store,
//! which records no reads: BitBake never updates the mirror's copy when it
//! restores from it, so its last-modified time is the upload time.

use super::{Want, open_session, say, warn};
use crate::cli::Format;
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use rayon::prelude::*;
use sstate_cache_management::policy;
use std::path::PathBuf;

pub fn run(
    cfg: &CacheConfig,
    stamps_dirs: &[PathBuf],
    dry_run: bool,
    format: Format,
) -> Result<i32> {
    let session = open_session(
        cfg,
        Want {
            stamps_dirs,
            lock_cache: true,
            wait: true,
            check: false,
            memory_ok: dry_run,
        },
    )?;
    let mut index = session.index;
    let stamps = session.stamps.unwrap_or_default();
    stamps
        .iter()
        .filter_map(|d| d.layout_hint())
        .for_each(|h| warn(&h));
    sstate_cache_management::index::ensure_lookup_indexes(&index.conn)?;
    policy::load_stamps(&index.conn, &stamps)?;
    let (used, objects) = used_entries(&index.conn)?;
    let rels: Vec<String> = used.iter().map(|u| u.0.clone()).collect();
    let store = index.store.clone();
    let now_ns = crate::config::now_ns();
    let results: Vec<Result<(), String>> = if dry_run {
        rels.iter().map(|_| Ok(())).collect()
    } else {
        match &store {
            Some(store) => store.touch_many(&rels),
            None => touch_local(&index.cache_root, &rels, now_ns, cfg.jobs)?,
        }
    };
    let failed: Vec<(&String, &String)> = rels
        .iter()
        .zip(&results)
        .filter_map(|(r, res)| res.as_ref().err().map(|e| (r, e)))
        .collect();
    for (rel, why) in failed.iter().take(20) {
        warn(&format!("cannot touch {rel}: {why}"));
    }
    if failed.len() > 20 {
        warn(&format!("... and {} more", failed.len() - 20));
    }
    let touched = rels.len() - failed.len();
    if !dry_run {
        // The index learns the new times: a store's are the server's, read
        // back by listing; a local cache's are the one this run set.
        match &store {
            Some(_) => {
                super::rescan(cfg, &mut index)?;
            }
            None => record_local(&mut index, &used, &results, now_ns)?,
        }
    }
    let verb = if dry_run { "Would touch" } else { "Touched" };
    match format {
        Format::Text => {
            say(format!(
                "{verb} {touched} files of {objects} objects the stamps name ({} failed)",
                failed.len()
            ))?;
            if let Some(s) = &store
                && cfg.verbose
            {
                eprintln!("Requests: {}", s.requests.summary());
            }
        }
        Format::Json => {
            let doc = serde_json::json!({
                "cache_dir": cfg.cache_dir,
                "dry_run": dry_run,
                "objects": objects,
                "files": rels.len(),
                "touched": touched,
                "failed": failed.iter().map(|(r, e)| serde_json::json!({"path": r, "error": e})).collect::<Vec<_>>(),
                "requests": store.as_ref().map(|s| s.requests.total()),
            });
            say(serde_json::to_string_pretty(&doc).context("encoding JSON")?)?;
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// Every entry of the objects the stamps name (relative path, entry id,
/// object id), and how many objects that is.
type Used = (String, i64, i64);

fn used_entries(conn: &rusqlite::Connection) -> Result<(Vec<Used>, u64)> {
    let mut stmt = conn
        .prepare(
            "SELECT CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END,
                    e.id, o.id
             FROM object o
             JOIN dir d ON d.id = o.dir_id
             JOIN entry e ON e.object_id = o.id
             WHERE EXISTS (SELECT 1 FROM temp.stamp_hash s
                           WHERE s.hash_key = o.hash_key AND s.hash = o.unihash)
             ORDER BY o.dir_id, o.id, e.id",
        )
        .context("preparing the query of used entries")?;
    let mut rels = Vec::new();
    let mut objects = std::collections::HashSet::new();
    let mut rows = stmt
        .query([])
        .context("listing the entries the stamps name")?;
    while let Some(r) = rows.next().context("listing the entries the stamps name")? {
        let object_id: i64 = r.get(2)?;
        rels.push((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, object_id));
        objects.insert(object_id);
    }
    Ok((rels, objects.len() as u64))
}

/// Set the mtime (and atime) of each entry to `now_ns`, without following
/// symlinks, `jobs` at a time.
fn touch_local(
    root: &std::path::Path,
    rels: &[String],
    now_ns: i64,
    jobs: usize,
) -> Result<Vec<Result<(), String>>> {
    use rustix::fs::{AtFlags, Timespec, Timestamps};
    let root_fd = rustix::fs::open(
        root,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .with_context(|| format!("opening the cache dir {}", root.display()))?;
    let t = Timespec {
        tv_sec: now_ns.div_euclid(1_000_000_000),
        tv_nsec: now_ns.rem_euclid(1_000_000_000) as _,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    let pool = sstate_cache_management::pool::get(jobs)?;
    Ok(pool.install(|| {
        rels.par_iter()
            .map(|rel| {
                rustix::fs::utimensat(&root_fd, rel.as_str(), &times, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()).to_string())
            })
            .collect()
    }))
}

/// Record the mtimes this run set, and the objects' last use.
fn record_local(
    index: &mut sstate_cache_management::index::Index,
    used: &[Used],
    results: &[Result<(), String>],
    now_ns: i64,
) -> Result<()> {
    let tx = index
        .conn
        .transaction()
        .context("starting the touch update")?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS touched(object_id INTEGER PRIMARY KEY);
         DELETE FROM temp.touched;",
    )
    .context("preparing the touch update")?;
    {
        let mut set = tx
            .prepare("UPDATE entry SET mtime_ns = ?1 WHERE id = ?2")
            .context("preparing the touch update")?;
        let mut note = tx
            .prepare("INSERT OR IGNORE INTO temp.touched(object_id) VALUES (?1)")
            .context("preparing the touch update")?;
        for ((_, entry_id, object_id), r) in used.iter().zip(results) {
            if r.is_ok() {
                set.execute(rusqlite::params![now_ns, entry_id])
                    .context("recording a touched entry")?;
                note.execute([object_id])
                    .context("recording a touched object")?;
            }
        }
    }
    tx.execute_batch(sstate_cache_management::index::REFRESH_OBJECTS_SQL)
        .context("recomputing the touched objects")?;
    tx.commit().context("committing the touch update")
}
