//! Scanning: bring the index up to date with the cache on disk.
//!
//! The walk (`walk.rs`) runs on a thread pool and streams one event per
//! directory; this module's writer applies them to the index in a single
//! transaction on the calling thread, so the walk and the SQLite work
//! overlap. A directory's entries are compared with what the index holds;
//! only directories that differ are rewritten.

mod restat;
mod store_walk;
mod walk;
mod writer;

pub use restat::{Reach, RestatReport, restat};
pub use walk::RawEntry;
pub use writer::{Stat, UNREADABLE_KNOWN, UNREADABLE_UNKNOWN};

use crate::index::{Index, now_rfc3339};
use crate::progress::Counters;
use anyhow::{Context, Result, bail};
use rusqlite::{Transaction, params};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use walk::{DirStamp, Event, Known, KnownDir, KnownDirs};
use writer::Writer;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Threads for the walk.
    pub jobs: usize,
    /// List and stat every directory, even those whose mtime is unchanged
    /// (this is what picks up mtime updates of builds reusing objects).
    pub full: bool,
    /// Bumped as directories are visited (`scan_*`).
    pub progress: Arc<Counters>,
}

/// What a scan found and changed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanReport {
    /// cold (empty index), incremental or full.
    pub mode: &'static str,
    pub dirs_listed: u64,
    pub dirs_stat: u64,
    pub entries: u64,
    pub objects: u64,
    pub disk_bytes: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub bytes_added: u64,
    pub bytes_removed: u64,
    pub duration_ms: u64,
    /// Directories that could not be read: what the index knew of them is
    /// kept (never selected); `unknown_dirs` of them were never read at all.
    pub unreadable_dirs: u64,
    pub unknown_dirs: u64,
    /// Archives an interrupted removal left taken aside (relative paths).
    pub leftovers: Vec<String>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Directories whose mtime is this close to the start of the scan are
/// recorded as "list again next time": a file added in the same clock tick
/// after we listed it would not change the mtime (coarse timestamps on NFS
/// and some file systems).
pub(crate) const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// Scan the cache into the index.
pub fn scan(index: &mut Index, opts: ScanOptions) -> Result<ScanReport> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let root = index.cache_root.clone();
    // (An unreadable root is reported by the walk and fails the scan.)
    let store = index.store.clone();
    if store.is_none() {
        let md =
            std::fs::metadata(&root).with_context(|| format!("cache dir {}", root.display()))?;
        if !md.is_dir() {
            bail!("cache dir {} is not a directory", root.display());
        }
    }

    let staging = index.staging_file().map(|p| p.to_path_buf());
    let checkpoint_later = index.can_checkpoint_in_background();
    let tx = index
        .conn
        .transaction()
        .with_context(|| format!("starting scan transaction on {}", index.path.display()))?;
    let known_dirs = load_dirs(&tx)?;
    let mode = if known_dirs.is_empty() {
        "cold"
    } else if opts.full {
        "full"
    } else {
        "incremental"
    };
    let known = Known::new(&known_dirs);
    let progress = &*opts.progress;
    progress.scan_dirs_known.store(
        known_dirs.len() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    // The directories this scan lists: their entries were stat-ed just
    // now, so a plan made right after need not stat them again.
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS fresh_dir(id INTEGER PRIMARY KEY); DELETE FROM temp.fresh_dir;",
    )
    .context("preparing the scan")?;
    let mut report = ScanReport {
        mode,
        ..Default::default()
    };
    // A cold scan only appends: drop the secondary indexes and build them
    // once at the end (a sort), rather than updating them row by row.
    let deferred = if mode == "cold" {
        drop_indexes(&tx)?
    } else {
        Vec::new()
    };
    let mut writer = Writer::new(&tx, &known_dirs, start_ns, mode == "cold")?;

    let (sender, receiver) = crossbeam_channel::bounded::<Event>(256);
    let walk_result = std::thread::scope(|s| -> Result<()> {
        let walker = s.spawn(|| match &store {
            Some(store) => store_walk::walk(store, sender).map(|()| 0),
            None => walk::walk(
                &root,
                &known,
                opts.full,
                opts.jobs,
                sender,
                &progress.scan_dirs,
            ),
        });
        let mut failure = None;
        for event in receiver.iter() {
            if failure.is_some() {
                continue; // drain so the walkers can finish
            }
            let applied = match event {
                Event::Warning(w) => {
                    report.warnings.push(w);
                    Ok(())
                }
                Event::Leftover(rel) => {
                    report.leftovers.push(rel);
                    Ok(())
                }
                Event::Unreadable { rel, warning } if rel.is_empty() => {
                    Err(anyhow::anyhow!("{warning}"))
                }
                Event::Unreadable { rel, warning } => writer.unreadable(rel, warning, &mut report),
                Event::Listed {
                    rel,
                    stamp,
                    entries,
                    relist,
                } => {
                    Counters::add(&progress.scan_dirs, 1);
                    Counters::add(&progress.scan_entries, entries.len() as u64);
                    writer.listed(rel, stamp, entries, relist, &mut report)
                }
            };
            if let Err(e) = applied {
                failure = Some(e);
            }
        }
        let walked = walker
            .join()
            .map_err(|_| anyhow::anyhow!("a scan thread panicked"))?;
        match failure {
            Some(e) => Err(e),
            None => {
                report.dirs_stat += walked?;
                Ok(())
            }
        }
    });
    walk_result?;
    // A new index: its table pages go to disk while the CPU builds the
    // secondary indexes (at 300k objects, 0.5 s of syncing off the
    // critical path; `publish` syncs what is left).
    let writeback = staging.map(|file| {
        std::thread::spawn(move || {
            let _ = std::fs::File::open(file).and_then(|f| f.sync_data());
        })
    });
    writer.finish(&mut report)?;
    let added_dirs = std::mem::take(&mut writer.added_dirs);
    drop(writer);
    build_deferred(&tx, deferred)?;

    let totals = crate::index::totals(&tx)?;
    report.entries = totals.entries;
    report.objects = totals.objects;
    report.disk_bytes = totals.disk_bytes;
    report.duration_ms = started.elapsed().as_millis() as u64;
    tx.execute(
        "INSERT INTO scan(started_at, duration_ms, mode, dirs_listed, dirs_stat, entries, objects, bytes,
                          added, removed, changed, bytes_added, bytes_removed, warnings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            started_at,
            report.duration_ms as i64,
            report.mode,
            report.dirs_listed as i64,
            report.dirs_stat as i64,
            report.entries as i64,
            report.objects as i64,
            report.disk_bytes as i64,
            report.added as i64,
            report.removed as i64,
            report.changed as i64,
            report.bytes_added as i64,
            report.bytes_removed as i64,
            report.warnings.len() as i64,
        ],
    )
    .context("recording the scan in the index")?;
    // (The commit only appends to the WAL; copying it into the database
    // is left to a background checkpoint.)
    let committed = crate::index::commit_big(tx, checkpoint_later)
        .with_context(|| format!("committing scan to {}", index.path.display()));
    index.after_big_commit(checkpoint_later, committed)?;
    // What the `dir` table now holds: the known directories this scan
    // reached (the others were dropped) and those it added.
    drop(known);
    let mut dir_paths: rustc_hash::FxHashMap<i64, String> = known_dirs
        .into_iter()
        .filter(|(_, d)| d.was_seen())
        .map(|(path, d)| (d.id, path))
        .collect();
    dir_paths.extend(added_dirs);
    index.dir_paths = Some(dir_paths);
    index.writeback = writeback;
    // (A first scan knows nothing of the directories it could not read.)
    index.listed_all = mode == "cold" || (mode == "full" && report.unreadable_dirs == 0);
    index.scan_totals = Some(totals);
    if index.is_staged() {
        // A first scan built a new index: it takes its name now.
        index.publish()?;
    }
    Ok(report)
}

/// Drop the explicit indexes of the object, entry, dir and grp tables
/// (unique keys included: nothing inserts a duplicate, and building them
/// fails the scan if anything did); returns the
/// statements that recreate them, read from the schema itself so that they
/// always match the migrations. (Building them at the end costs fewer
/// instructions than keeping them, even those that grow in insertion
/// order: 20k objects under callgrind, 1.29 G against 1.39 G for the scan.)
/// The lookup indexes are left out: the first run that needs them builds
/// them (`index::ensure_lookup_indexes`).
/// Build the indexes a cold scan left out, one sort each. With a page
/// cache of 8 MiB instead of the index's 64 MiB, SQLite's sorter sorts
/// runs that fit the CPU caches and merges them: at 300k objects the five
/// builds took 0.85–0.88 s instead of 0.98–1.06 s (3 runs each).
fn build_deferred(tx: &Transaction, deferred: Vec<String>) -> Result<()> {
    if deferred.is_empty() {
        return Ok(());
    }
    let cache: i64 = tx
        .query_row("PRAGMA cache_size", [], |r| r.get(0))
        .context("reading the page cache size")?;
    tx.execute_batch("PRAGMA cache_size = -8192")
        .context("sizing the page cache for the index builds")?;
    let built = deferred.iter().try_for_each(|sql| {
        tx.execute_batch(sql)
            .with_context(|| format!("rebuilding index: {sql}"))
    });
    tx.execute_batch(&format!("PRAGMA cache_size = {cache}"))
        .context("restoring the page cache size")?;
    built
}

fn drop_indexes(tx: &Transaction) -> Result<Vec<String>> {
    let mut stmt = tx
        .prepare(
            "SELECT name, sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name IN ('object', 'entry', 'dir', 'grp') AND sql IS NOT NULL",
        )
        .context("reading the index definitions")?;
    let defs = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .context("reading the index definitions")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading the index definitions")?;
    for (name, _) in &defs {
        tx.execute_batch(&format!("DROP INDEX \"{name}\""))
            .with_context(|| format!("dropping index {name} for a cold scan"))?;
    }
    Ok(defs
        .into_iter()
        .filter(|(name, _)| !crate::index::LOOKUP_INDEXES.contains(&name.as_str()))
        .map(|(_, sql)| sql)
        .collect())
}

fn load_dirs(tx: &Transaction) -> Result<KnownDirs> {
    // (Sized once, rather than grown through every power of two: the
    // highest id bounds the count without reading the table. Capped, in
    // case ids were spent on directories long gone.)
    let max_id: Option<i64> = tx
        .query_row("SELECT max(id) FROM dir", [], |r| r.get(0))
        .context("reading indexed directories")?;
    let capacity = max_id.unwrap_or(0).clamp(0, 1 << 22) as usize;
    let mut dirs = KnownDirs::with_capacity_and_hasher(capacity, Default::default());
    // Unreadable dirs were recorded with stamp -1: they are listed again.
    let mut stmt = tx
        .prepare("SELECT id, path, mtime_ns, ctime_ns FROM dir")
        .context("reading indexed directories")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                KnownDir::new(
                    r.get(0)?,
                    DirStamp {
                        mtime_ns: r.get(2)?,
                        ctime_ns: r.get(3)?,
                    },
                ),
            ))
        })
        .context("reading indexed directories")?;
    for row in rows {
        let (path, dir) = row.context("reading indexed directories")?;
        dirs.insert(path, dir);
    }
    Ok(dirs)
}
