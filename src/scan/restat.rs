//! Re-stat chosen objects: the way a warm index learns of reuse.
//!
//! BitBake marks reuse by touching an object's files in place, which no
//! directory mtime shows, so the incremental scan cannot see it. Before a
//! plan is trusted, the planner asks for the objects its decisions depend
//! on (those it would select, and ties) to be `lstat`-ed again; changed
//! entries are written back and the object aggregates recomputed.
//!
//! BitBake touches an archive together with its companions, so the
//! archive carries the reuse signal: the first pass stats one entry per
//! object (its archive; every entry of an object without one), and only
//! objects whose first stat changed get their other entries stat-ed.
//! Cost: about one `lstat` per object, in parallel, and nothing for the
//! rest of the cache. (A companion touched alone is still caught by the
//! removal's re-check, which keeps the object.)
//!
//! Objects without an archive (the siginfo of `do_compile`, `do_fetch`,
//! ...) are never changed in place by BitBake: it writes a siginfo to a
//! temporary file in the same directory and renames it over the old one
//! (`dump_sigtask`), which changes the directory's mtime, so the scan lists
//! that directory again. A plan ([`Reach::Archives`]) therefore re-stats
//! only objects with an archive; in the generated 300k-object cache that
//! is 45% of the objects. The removal's baseline ([`Reach::All`]) re-stats
//! every object it was given: a file changed in place by something other
//! than BitBake then keeps its object, as the re-check promises.

use super::writer::Stat;
use crate::index::Index;
use crate::progress::Counters;
use anyhow::{Context, Result};
use rayon::prelude::*;
use rusqlite::params;

/// Entries stat-ed per batch (bounds memory at any cache size).
const BATCH: usize = 8192;

/// Which of the objects in `temp.restat_todo` a re-stat looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Those with an archive: the only objects BitBake changes in place
    /// (see the module doc). What a plan needs to see reuse.
    Archives,
    /// Every one: a removal's baseline, where any change since the plan,
    /// by whatever wrote it, must keep the object.
    All,
}

impl Reach {
    /// The first pass's filter: the archive of each object, or (`All`)
    /// every entry of an object without one. (The condition on the object
    /// alone lets SQLite skip an object without reading its entries.)
    fn first_pass(self) -> &'static str {
        match self {
            Reach::Archives => "(o.archive_mtime_ns IS NOT NULL AND e.kind = 'archive')",
            Reach::All => "(e.kind = 'archive' OR o.archive_mtime_ns IS NULL)",
        }
    }
}

/// What a re-stat found.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RestatReport {
    pub objects: u64,
    pub entries: u64,
    /// Entries whose stat differed from the index (touched, rewritten).
    pub changed: u64,
    /// Entries gone since the scan.
    pub gone: u64,
    pub duration_ms: u64,
    /// Connections that read the first pass's rows beside the main one
    /// (0: it read them itself); the most of any re-stat of the plan.
    pub readers: u64,
    /// What the changes did to the index's totals (objects, entries,
    /// bytes): the plan adds them to the scan's instead of counting
    /// every object again.
    #[serde(skip)]
    pub totals_delta: TotalsDelta,
}

/// A change of [`crate::index::Totals`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotalsDelta {
    pub objects: i64,
    pub entries: i64,
    pub disk_bytes: i64,
    pub size: i64,
}

impl TotalsDelta {
    fn add(&mut self, o: &TotalsDelta) {
        self.objects += o.objects;
        self.entries += o.entries;
        self.disk_bytes += o.disk_bytes;
        self.size += o.size;
    }

    /// From sums `before` to sums `self`.
    fn since(&self, before: &TotalsDelta) -> TotalsDelta {
        TotalsDelta {
            objects: self.objects - before.objects,
            entries: self.entries - before.entries,
            disk_bytes: self.disk_bytes - before.disk_bytes,
            size: self.size - before.size,
        }
    }

    /// `totals` changed by this.
    pub fn apply(&self, t: crate::index::Totals) -> crate::index::Totals {
        let f = |v: u64, d: i64| (v as i64).saturating_add(d).max(0) as u64;
        crate::index::Totals {
            objects: f(t.objects, self.objects),
            entries: f(t.entries, self.entries),
            disk_bytes: f(t.disk_bytes, self.disk_bytes),
            size: f(t.size, self.size),
        }
    }
}

/// The aggregates of the objects in temp.touched, as the index holds them
/// (a change from nothing: two of them give the change between).
fn touched_sums(tx: &rusqlite::Transaction<'_>) -> Result<TotalsDelta> {
    tx.query_row(
        "SELECT count(*), coalesce(sum(o.n_entries), 0), coalesce(sum(o.disk_bytes), 0),
                coalesce(sum(o.size), 0)
         FROM temp.touched t CROSS JOIN object o ON o.id = t.object_id",
        [],
        |r| {
            Ok(TotalsDelta {
                objects: r.get(0)?,
                entries: r.get(1)?,
                disk_bytes: r.get(2)?,
                size: r.get(3)?,
            })
        },
    )
    .context("summing the re-stat-ed objects")
}

impl RestatReport {
    pub fn add(&mut self, other: &RestatReport) {
        self.objects += other.objects;
        self.entries += other.entries;
        self.changed += other.changed;
        self.gone += other.gone;
        self.duration_ms += other.duration_ms;
        self.readers = self.readers.max(other.readers);
        self.totals_delta.add(&other.totals_delta);
    }
}

struct Row {
    object_id: i64,
    entry_id: i64,
    is_siginfo: bool,
    /// The entry's path relative to the cache root.
    rel: String,
    stat: Stat,
}

/// Directory id → path, as the index holds them.
type DirPaths = rustc_hash::FxHashMap<i64, String>;

/// Every directory path of the index (when no scan of this process left
/// them in `Index::dir_paths`).
fn load_dir_paths(tx: &rusqlite::Transaction<'_>) -> Result<DirPaths> {
    let mut stmt = tx
        .prepare("SELECT id, path FROM dir")
        .context("reading indexed directories for the re-stat")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .context("reading indexed directories for the re-stat")?;
    rows.collect::<rusqlite::Result<_>>()
        .context("reading indexed directories for the re-stat")
}

enum Fresh {
    Same,
    Changed(Stat),
    Gone,
}

/// `dir/stem ext` (or `stem ext` in the root), in one allocation.
fn rel_path(dir: &str, stem: &str, ext: &str) -> String {
    let mut s = String::with_capacity(dir.len() + 1 + stem.len() + ext.len());
    if !dir.is_empty() {
        s.push_str(dir);
        s.push('/');
    }
    s.push_str(stem);
    s.push_str(ext);
    s
}

/// `lstat` of `rel`, resolved from the open cache root.
fn stat_now(root: &rustix::fd::OwnedFd, rel: &str) -> std::io::Result<Stat> {
    let f = crate::remove::beneath::fields(&rustix::fs::statat(
        root,
        rel,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?);
    Ok(Stat {
        size: f.size,
        blocks: f.blocks,
        mtime_ns: f.mtime_ns,
        ino: f.ino,
        is_symlink: f.file_type == rustix::fs::FileType::Symlink,
    })
}

/// Objects of `temp.restat_todo` per batch: only one batch's rows are in
/// memory (a warm `-d` at 1M objects re-stats 470k of them).
const OBJECTS_PER_BATCH: i64 = 8192;

/// The objects a pass goes through, as `(table, id column)`: the first
/// pass every object asked for, the second only those whose first stat
/// changed (a few thousand after a day's reuse, against 145k asked for by
/// a warm `-d` at 300k objects).
const FIRST_PASS_OBJECTS: (&str, &str) = ("temp.restat_todo", "id");
const SECOND_PASS_OBJECTS: (&str, &str) = ("temp.touched", "object_id");

/// The upper end of the next batch of the objects of `(table, id)` after
/// `after` (None: no more).
fn next_batch_end(
    tx: &rusqlite::Transaction<'_>,
    (table, id): (&str, &str),
    after: i64,
) -> Result<Option<i64>> {
    tx.query_row(
        &format!(
            "SELECT max({id}) FROM (SELECT {id} FROM {table} WHERE {id} > ?1 ORDER BY {id} LIMIT ?2)"
        ),
        params![after, OBJECTS_PER_BATCH],
        |r| r.get(0),
    )
    .context("reading the next objects to re-stat")
}

/// The entries to stat: of the objects in `temp.restat_todo` with ids in
/// `(after, end]`, with the first pass's filter or the second pass's.
/// Driven by the todo table, in object order (an object's entries
/// together; no sort of the result).
fn rows(
    tx: &rusqlite::Transaction<'_>,
    dirs: &DirPaths,
    ((table, id), filter): ((&str, &str), &str),
    after: i64,
    end: i64,
) -> Result<Vec<Row>> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}
             FROM {table} t
             CROSS JOIN object o ON o.id = t.{id}
             JOIN entry e  ON e.object_id = o.id
             WHERE t.{id} > ?1 AND t.{id} <= ?2 AND {filter}"
        ))
        .context("preparing the re-stat query")?;
    let rows = stmt
        .query(params![after, end])
        .context("reading the objects to re-stat")?;
    read_rows(tx, dirs, rows)
}

/// The first pass's entries of the objects `ids` (sorted), read on a
/// connection of its own.
fn first_rows_of(
    conn: &rusqlite::Connection,
    dirs: &DirPaths,
    reach: Reach,
    ids: &[i64],
) -> Result<Vec<Row>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}
             FROM rarray(?1) t
             CROSS JOIN object o ON o.id = t.value
             JOIN entry e  ON e.object_id = o.id
             WHERE {}",
            reach.first_pass()
        ))
        .context("preparing the re-stat query")?;
    let rows = stmt
        .query([crate::index::id_array(ids.to_vec())])
        .context("reading the objects to re-stat")?;
    read_rows(conn, dirs, rows)
}

/// What [`read_rows`] reads.
const ROW_COLUMNS: &str = "o.id, e.id, e.kind = 'siginfo', o.dir_id, o.stem, e.ext,
                    e.size, e.blocks, e.mtime_ns, e.ino, e.is_symlink";

fn read_rows(
    conn: &rusqlite::Connection,
    dirs: &DirPaths,
    mut rows: rusqlite::Rows<'_>,
) -> Result<Vec<Row>> {
    // (Stem and extension are borrowed from the row: each path is built
    // in one allocation.)
    let mut out = Vec::new();
    while let Some(r) = rows.next().context("reading the objects to re-stat")? {
        let read = || -> rusqlite::Result<Row> {
            let dir_id: i64 = r.get(3)?;
            let stem = r.get_ref(4)?.as_str()?;
            let ext = r.get_ref(5)?.as_str()?;
            let rel = match dirs.get(&dir_id) {
                Some(dir) => rel_path(dir, stem, ext),
                // (Never expected: only scans change `dir`, and they
                // refresh the map.)
                None => {
                    let dir: String =
                        conn.query_row("SELECT path FROM dir WHERE id = ?1", [dir_id], |d| {
                            d.get(0)
                        })?;
                    rel_path(&dir, stem, ext)
                }
            };
            Ok(Row {
                object_id: r.get(0)?,
                entry_id: r.get(1)?,
                is_siginfo: r.get(2)?,
                rel,
                stat: Stat {
                    size: r.get::<_, i64>(6)? as u64,
                    blocks: r.get::<_, i64>(7)? as u64,
                    mtime_ns: r.get(8)?,
                    ino: r.get::<_, i64>(9)? as u64,
                    is_symlink: r.get(10)?,
                },
            })
        };
        out.push(read().context("reading the objects to re-stat")?);
    }
    Ok(out)
}

/// The other entries of the objects whose first stat changed.
/// (Driven by temp.touched: see [`SECOND_PASS_OBJECTS`].)
const SECOND_PASS: &str = "NOT (e.kind = 'archive' OR o.archive_mtime_ns IS NULL)";

/// `lstat` the objects in `temp.restat_todo(id)` that `reach` says (see
/// the module doc) and write what changed back to the index (one
/// transaction). Errors other than "gone" leave the entry as indexed: the
/// removal checks it again. `progress` counts the entries queued and
/// stat-ed (`restat_*`).
pub fn restat(
    index: &mut Index,
    reach: Reach,
    jobs: usize,
    progress: &Counters,
) -> Result<RestatReport> {
    let started = std::time::Instant::now();
    let (index_is_store, cache_root) = (index.store.is_some(), index.cache_root.clone());
    let mut report = RestatReport::default();
    let mut beside = if index_is_store {
        None
    } else {
        readers_beside(index, jobs)?
    };
    let checkpoint_later = !index_is_store && index.can_checkpoint_in_background();
    let tx = index.conn.transaction().context("starting the re-stat")?;
    let pool = crate::pool::get(jobs)?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS restat_changed(object_id INTEGER PRIMARY KEY);
         DELETE FROM temp.restat_changed;
         CREATE TEMP TABLE IF NOT EXISTS touched(object_id INTEGER PRIMARY KEY);
         DELETE FROM temp.touched;",
    )
    .context("preparing the re-stat tables")?;
    if index_is_store {
        // Every key was listed by this run's scan, with its last-modified
        // time and ETag: there is nothing older to check again.
        tx.commit().context("committing the re-stat")?;
        return Ok(report);
    }
    let root = crate::remove::beneath::open_root(&cache_root)
        .map_err(|e| anyhow::anyhow!("opening the cache dir {}: {e}", cache_root.display()))?;
    let dirs = match index.dir_paths.take() {
        Some(d) => d,
        None => load_dir_paths(&tx)?,
    };
    let dirs_ref = &dirs;
    let passes = [
        (FIRST_PASS_OBJECTS, reach.first_pass()),
        (SECOND_PASS_OBJECTS, SECOND_PASS),
    ];
    for (pass, (objects, filter)) in passes.into_iter().enumerate() {
        if pass == 1 && report.changed + report.gone == 0 {
            // No first stat changed: no object has other entries to check.
            break;
        }
        if let Some((readers, ids)) = beside.take().filter(|_| pass == 0) {
            report.readers = readers.len() as u64;
            first_pass_beside(
                &tx,
                readers,
                &ids,
                (dirs_ref, reach),
                (pool, &root),
                progress,
                &mut report,
            )?;
            continue;
        }
        // The threads stat one batch while this thread writes back the
        // batch before and reads the rows of the next one.
        let mut after = i64::MIN;
        let mut fetch = || -> Result<Option<Vec<Row>>> {
            let Some(end) = next_batch_end(&tx, objects, after)? else {
                return Ok(None);
            };
            let batch = rows(&tx, dirs_ref, (objects, filter), after, end)?;
            after = end;
            Counters::add(&progress.restat_queued, batch.len() as u64);
            Ok(Some(batch))
        };
        let Some(mut current) = fetch()? else {
            continue;
        };
        let root = &root;
        std::thread::scope(|s| -> Result<()> {
            loop {
                let stating = s.spawn(move || {
                    let fresh = stat_all(pool, root, &current, progress);
                    (current, fresh)
                });
                let following = fetch()?;
                let (batch, fresh) = stating
                    .join()
                    .map_err(|_| anyhow::anyhow!("a re-stat thread panicked"))?;
                if pass == 0 {
                    report.objects +=
                        batch.chunk_by(|a, b| a.object_id == b.object_id).count() as u64;
                }
                report.entries += batch.len() as u64;
                write_back(&tx, &batch, fresh, &mut report)?;
                match following {
                    Some(next) => current = next,
                    None => return Ok(()),
                }
            }
        })?;
    }
    if report.changed + report.gone > 0 {
        tx.execute_batch(
            "DELETE FROM dep WHERE object_id IN (SELECT object_id FROM temp.restat_changed);
             UPDATE object SET deps_state = NULL, deps_error = NULL
             WHERE id IN (SELECT object_id FROM temp.restat_changed);",
        )
        .context("resetting the edges of changed siginfo files")?;
        let before = touched_sums(&tx)?;
        tx.execute_batch(crate::index::REFRESH_OBJECTS_SQL)
            .context("recomputing re-stat-ed objects")?;
        report.totals_delta = touched_sums(&tx)?.since(&before);
    }
    // (As the scan's commit: what changed goes to the log, and copying it
    // into the database is left to a background checkpoint. After a 1%
    // reuse at 300k objects that is about 4,000 pages.)
    let later = report.changed + report.gone > 0 && checkpoint_later;
    let committed = crate::index::commit_big(tx, later).context("committing the re-stat");
    index.after_big_commit(later, committed)?;
    index.dir_paths = Some(dirs);
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Read-only connections for the first pass, and the ids to re-stat
/// (sorted).
type Beside = (Vec<rusqlite::Connection>, Vec<i64>);

/// Side connections read the first pass's rows when the re-stat is
/// bigger than a batch, there is more than one CPU and `-j` is above 1:
/// reading the rows (SQLite, one thread) took as long as stat-ing them
/// (every thread), so one reader left the CPUs idle half the time. With
/// readers beside the main connection, each reads a batch, stats it on
/// the pool and sends back what changed; this thread only writes that
/// back. `None`: the main connection reads them (also when the index is
/// not in WAL mode, see [`Index::side_readers`]).
fn readers_beside(index: &Index, jobs: usize) -> Result<Option<Beside>> {
    let n = Index::reader_threads(jobs);
    if n < 2 {
        return Ok(None);
    }
    let todo: i64 = index
        .conn
        .query_row("SELECT count(*) FROM temp.restat_todo", [], |r| r.get(0))
        .context("counting the objects to re-stat")?;
    if todo <= OBJECTS_PER_BATCH {
        return Ok(None);
    }
    let Some(readers) = index.side_readers(n) else {
        return Ok(None);
    };
    let mut stmt = index
        .conn
        .prepare("SELECT id FROM temp.restat_todo ORDER BY id")
        .context("reading the objects to re-stat")?;
    let ids = stmt
        .query_map([], |r| r.get(0))
        .context("reading the objects to re-stat")?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .context("reading the objects to re-stat")?;
    Ok(Some((readers, ids)))
}

/// What a reader found in one batch: its counts, and the rows whose stat
/// differed, with their fresh stat.
struct Found {
    objects: u64,
    entries: u64,
    rows: Vec<Row>,
    fresh: Vec<Fresh>,
}

/// The first pass with `readers` beside the main connection (see
/// [`readers_beside`]): each takes the next batch of `ids`, reads its rows,
/// stats them on the pool, and sends what changed to this thread, which
/// writes it back in `tx`. (The readers see the index as last committed;
/// `tx` has changed nothing they read: it writes back only entries of
/// batches already read.)
fn first_pass_beside(
    tx: &rusqlite::Transaction<'_>,
    readers: Vec<rusqlite::Connection>,
    ids: &[i64],
    (dirs, reach): (&DirPaths, Reach),
    (pool, root): (&rayon::ThreadPool, &rustix::fd::OwnedFd),
    progress: &Counters,
    report: &mut RestatReport,
) -> Result<()> {
    let batches: Vec<&[i64]> = ids.chunks(OBJECTS_PER_BATCH as usize).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (send, receive) = std::sync::mpsc::channel::<Found>();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = readers
            .into_iter()
            .map(|conn| {
                let (send, batches, next) = (send.clone(), &batches, &next);
                s.spawn(move || -> Result<()> {
                    let conn = &conn;
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(batch) = batches.get(k) else {
                            return Ok(());
                        };
                        let rows = first_rows_of(conn, dirs, reach, batch)?;
                        Counters::add(&progress.restat_queued, rows.len() as u64);
                        let fresh = stat_all(pool, root, &rows, progress);
                        let mut found = Found {
                            objects: rows.chunk_by(|a, b| a.object_id == b.object_id).count()
                                as u64,
                            entries: rows.len() as u64,
                            rows: Vec::new(),
                            fresh: Vec::new(),
                        };
                        for (row, f) in rows.into_iter().zip(fresh) {
                            if !matches!(f, Fresh::Same) {
                                found.rows.push(row);
                                found.fresh.push(f);
                            }
                        }
                        if send.send(found).is_err() {
                            // (This thread stopped on an error of its own.)
                            return Ok(());
                        }
                    }
                })
            })
            .collect();
        drop(send);
        let mut written = Ok(());
        for found in receive {
            report.objects += found.objects;
            report.entries += found.entries;
            written = write_back(tx, &found.rows, found.fresh, report);
            if written.is_err() {
                // Readers stop at their next send.
                break;
            }
        }
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a re-stat thread panicked"))??;
        }
        written
    })
}

/// `lstat` every row, in parallel.
fn stat_all(
    pool: &rayon::ThreadPool,
    root: &rustix::fd::OwnedFd,
    rows: &[Row],
    progress: &Counters,
) -> Vec<Fresh> {
    let mut fresh = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(BATCH) {
        fresh.extend(pool.install(|| {
            chunk
                .par_iter()
                .map(|row| match stat_now(root, &row.rel) {
                    Ok(s) if s == row.stat => Fresh::Same,
                    Ok(s) => Fresh::Changed(s),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Fresh::Gone,
                    Err(_) => Fresh::Same,
                })
                .collect::<Vec<_>>()
        }));
        Counters::add(&progress.restat_done, chunk.len() as u64);
    }
    fresh
}

/// Write what changed to the index, noting changed objects in
/// temp.touched.
fn write_back(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Row],
    fresh: Vec<Fresh>,
    report: &mut RestatReport,
) -> Result<()> {
    let mut update = tx
        .prepare_cached(
            "UPDATE entry SET size = ?2, blocks = ?3, mtime_ns = ?4, ino = ?5, is_symlink = ?6 WHERE id = ?1",
        )
        .context("preparing the re-stat update")?;
    let mut delete = tx
        .prepare_cached("DELETE FROM entry WHERE id = ?1")
        .context("preparing the re-stat delete")?;
    let mut touch = tx
        .prepare_cached("INSERT OR IGNORE INTO temp.touched(object_id) VALUES (?1)")
        .context("preparing the re-stat bookkeeping")?;
    let mut siginfo_changed = tx
        .prepare_cached("INSERT OR IGNORE INTO temp.restat_changed(object_id) VALUES (?1)")
        .context("preparing the re-stat bookkeeping")?;
    for (row, f) in rows.iter().zip(fresh) {
        let siginfo_moved = match &f {
            Fresh::Same => continue,
            Fresh::Changed(s) => {
                report.changed += 1;
                update
                    .execute(params![
                        row.entry_id,
                        s.size as i64,
                        s.blocks as i64,
                        s.mtime_ns,
                        s.ino as i64,
                        s.is_symlink
                    ])
                    .context("updating a re-stat-ed entry")?;
                s.ino != row.stat.ino || s.size != row.stat.size
            }
            Fresh::Gone => {
                report.gone += 1;
                delete
                    .execute([row.entry_id])
                    .context("dropping an entry gone since the scan")?;
                true
            }
        };
        touch
            .execute([row.object_id])
            .context("noting a re-stat-ed object")?;
        if siginfo_moved && row.is_siginfo {
            siginfo_changed
                .execute([row.object_id])
                .context("noting a changed siginfo")?;
        }
    }
    Ok(())
}
