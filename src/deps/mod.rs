//! Dependency edges between objects, read from their siginfo files.
//!
//! A task's siginfo lists, in `runtaskhashes`, the unihash of every task it
//! depends on; those are the hashes in the dependencies' file names. The
//! index keeps one `dep` row per (object, dependency hash), keyed by the
//! first 64 bits of the hash ([`hash_key`]): a collision can only protect
//! an object too many, never select one.
//!
//! Edges are read on demand ([`update`]): only runs that use dependency
//! retention read siginfo contents, and only of objects that are new or
//! whose siginfo changed (new inode or size) since it was read. An
//! unreadable siginfo is recorded with its reason and contributes no edges.

use crate::index::Index;
use crate::progress::Counters;
use crate::siginfo;
use anyhow::{Context, Result};
use rayon::prelude::*;
use rusqlite::params;
use rustix::fd::AsFd;

mod protect;
pub use protect::protect;

/// Objects read per batch: bounds memory and keeps the writer busy.
const BATCH: usize = 4096;

/// The key edges are matched on: the first 16 hex digits of a unihash as a
/// signed 64-bit integer (0 for anything that is not hex).
pub fn hash_key(hex: &str) -> i64 {
    let prefix = hex.get(..16).unwrap_or(hex);
    u64::from_str_radix(prefix, 16).unwrap_or(0) as i64
}

/// What reading the edges did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EdgeReport {
    /// Siginfo files read in this run.
    pub read: u64,
    /// Of those, how many could not be parsed.
    pub unreadable: u64,
    /// Edges added.
    pub edges: u64,
    /// Times the siginfo of pending objects were looked for.
    pub rounds: u64,
    pub duration_ms: u64,
    /// Up to 20 (path, reason) of the unreadable ones, for the user.
    #[serde(skip)]
    pub samples: Vec<(String, String)>,
}

/// Which pending siginfo files to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every object whose edges are not known yet.
    All,
    /// Those of objects that stay (not in the planner's `temp.selected`:
    /// an object that goes protects nothing), then of the objects their
    /// edges name, and so on: everything dependency retention can reach.
    KeptClosure,
}

/// Read the siginfo files `scope` asks for, on `jobs` threads, and store
/// the edges. One transaction. `progress` counts the files queued and
/// read (`siginfo_*`).
pub fn update(
    index: &mut Index,
    jobs: usize,
    scope: Scope,
    progress: &Counters,
) -> Result<EdgeReport> {
    let started = std::time::Instant::now();
    let mut report = EdgeReport::default();
    let root = index.cache_root.clone();
    let store = index.store.clone();
    crate::index::ensure_lookup_indexes(&index.conn)?;
    let tx = index
        .conn
        .transaction()
        .context("starting the dependency update")?;
    tx.execute_batch(
        "UPDATE object SET deps_state = 'none' WHERE deps_state IS NULL AND NOT EXISTS
            (SELECT 1 FROM entry e WHERE e.object_id = object.id AND e.kind = 'siginfo');
         CREATE TEMP TABLE IF NOT EXISTS deps_round(id INTEGER PRIMARY KEY);
         DELETE FROM temp.deps_round;
         CREATE TEMP TABLE IF NOT EXISTS deps_todo(seq INTEGER PRIMARY KEY, id INTEGER NOT NULL);",
    )
    .context("marking objects without siginfo")?;
    let pool = crate::pool::get(jobs)?;
    let mut filter = match scope {
        Scope::All => "",
        Scope::KeptClosure => "AND o.id NOT IN (SELECT id FROM temp.selected)",
    };
    loop {
        // The round's objects go to a temp table, not into memory: at 1M
        // objects, the (id, path) list of a first read held 180 MB.
        tx.execute_batch("DELETE FROM temp.deps_todo;")
            .context("clearing the siginfo reading list")?;
        let sql = format!(
            "INSERT INTO temp.deps_todo(id) {}",
            include_str!("pending.sql").replace("/*scope*/", filter)
        );
        let queued = tx
            .execute(&sql, [])
            .context("listing siginfo files to read")?;
        if queued == 0 {
            break;
        }
        report.rounds += 1;
        Counters::add(&progress.siginfo_queued, queued as u64);
        // (The ids read are noted only for a next round: with every
        // siginfo in one round, 1M of them cost a 10 MB temp table.)
        let note_round = scope != Scope::All;
        read_into(
            &tx,
            pool,
            (&root, store.as_deref()),
            note_round,
            &mut report,
            progress,
        )?;
        if scope == Scope::All {
            break;
        }
        // The next round: what the objects just read depend on.
        filter = "AND o.hash_key IN (SELECT dd.hash_key FROM dep dd
                      WHERE dd.object_id IN (SELECT id FROM temp.deps_round))";
    }
    tx.commit().context("committing the dependency update")?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// One siginfo to read: its object, path (relative to the cache root) and
/// size as indexed.
struct Todo {
    object_id: i64,
    rel: String,
    size: u64,
}

type Decoded = Vec<Result<Vec<String>, siginfo::Unreadable>>;

/// Read the siginfo of the objects in temp.deps_todo, `BATCH` at a time
/// in its order, and store their edges; with `note_round`, the ids end up
/// in temp.deps_round.
/// The threads read and decode one batch while this thread stores the
/// edges of the one before and fetches the one after.
fn read_into(
    tx: &rusqlite::Transaction<'_>,
    pool: &rayon::ThreadPool,
    src: (&std::path::Path, Option<&crate::store::Store>),
    note_round: bool,
    report: &mut EdgeReport,
    progress: &Counters,
) -> Result<()> {
    tx.execute_batch("DELETE FROM temp.deps_round;")
        .context("preparing a round of siginfo reading")?;
    let mut next = tx
        .prepare(include_str!("todo_batch.sql"))
        .context("preparing the siginfo reading list")?;
    let mut writer = EdgeWriter::new(tx, note_round)?;
    let mut after = 0i64;
    let mut fetch = || -> Result<Vec<Todo>> {
        let rows: Vec<(i64, Todo)> = next
            .query_map(params![after, BATCH as i64], |r| {
                Ok((
                    r.get(0)?,
                    Todo {
                        object_id: r.get(1)?,
                        rel: r.get(2)?,
                        size: r.get::<_, i64>(3)?.max(0) as u64,
                    },
                ))
            })
            .and_then(|rows| rows.collect())
            .context("reading the siginfo reading list")?;
        if let Some(&(last, _)) = rows.last() {
            after = last;
        }
        Ok(rows.into_iter().map(|(_, t)| t).collect())
    };
    let mut current = fetch()?;
    if current.is_empty() {
        return Ok(());
    }
    // Files are opened relative to the cache root (when it opens: else by
    // their whole path, and the error is each file's).
    let root_fd = match src.1 {
        None => crate::remove::beneath::open_root(src.0).ok(),
        Some(_) => None,
    };
    let root_fd = &root_fd;
    std::thread::scope(|s| -> Result<()> {
        loop {
            let reading = s.spawn(move || {
                let decoded = decode(
                    pool,
                    src,
                    root_fd.as_ref().map(|f| f.as_fd()),
                    &current,
                    progress,
                );
                (current, decoded)
            });
            let following = fetch()?;
            let (chunk, decoded) = reading
                .join()
                .map_err(|_| anyhow::anyhow!("a siginfo reading thread panicked"))?;
            writer.write(&chunk, decoded, report)?;
            if following.is_empty() {
                return Ok(());
            }
            current = following;
        }
    })
}

/// Read and decode `chunk` on the pool's threads.
fn decode(
    pool: &rayon::ThreadPool,
    (root, store): (&std::path::Path, Option<&crate::store::Store>),
    root_fd: Option<rustix::fd::BorrowedFd<'_>>,
    chunk: &[Todo],
    progress: &Counters,
) -> Decoded {
    thread_local! {
        // One reader (zstd context and buffers) per thread, for every
        // batch: rayon's map_init would make one per split.
        static READER: std::cell::RefCell<siginfo::Reader> = std::cell::RefCell::default();
    }
    let read_one = |todo: &Todo| {
        // (One relaxed add per file: a read and a decompression each, so
        // it costs nothing.)
        Counters::add(&progress.siginfo_read, 1);
        READER.with_borrow_mut(|reader| match root_fd {
            Some(fd) => reader.read_deps_at(fd, &todo.rel, todo.size),
            None => reader.read_deps_sized(&root.join(&todo.rel), todo.size),
        })
    };
    match store {
        None => pool.install(|| chunk.par_iter().map(read_one).collect()),
        // From a store: GET them (`jobs` at a time), then decode.
        Some(store) => {
            let rels: Vec<String> = chunk.iter().map(|t| t.rel.clone()).collect();
            let got = store.get_many(&rels, siginfo::MAX_DECOMPRESSED);
            pool.install(|| {
                got.into_par_iter()
                    .map(|bytes| {
                        Counters::add(&progress.siginfo_read, 1);
                        match bytes {
                            Ok(b) => READER.with_borrow_mut(|reader| reader.deps_of_bytes(&b)),
                            Err(e) => Err(siginfo::Unreadable(format!("cannot read: {e}"))),
                        }
                    })
                    .collect()
            })
        }
    }
}

/// The statements that store what a batch of siginfo said.
struct EdgeWriter<'t> {
    edge: rusqlite::Statement<'t>,
    ok: rusqlite::Statement<'t>,
    bad: rusqlite::Statement<'t>,
    /// Notes the ids read in temp.deps_round (None: not needed).
    round: Option<rusqlite::Statement<'t>>,
}

impl<'t> EdgeWriter<'t> {
    fn new(tx: &'t rusqlite::Transaction<'_>, note_round: bool) -> Result<Self> {
        Ok(EdgeWriter {
            edge: tx
                .prepare("INSERT OR IGNORE INTO dep(hash_key, object_id) VALUES (?1, ?2)")
                .context("preparing the edge insert")?,
            ok: tx
                .prepare("UPDATE object SET deps_state = 'ok', deps_error = NULL WHERE id = ?1")
                .context("preparing the siginfo state update")?,
            bad: tx
                .prepare(
                    "UPDATE object SET deps_state = 'unreadable', deps_error = ?2 WHERE id = ?1",
                )
                .context("preparing the siginfo state update")?,
            round: note_round
                .then(|| tx.prepare("INSERT OR IGNORE INTO temp.deps_round(id) VALUES (?1)"))
                .transpose()
                .context("preparing a round of siginfo reading")?,
        })
    }

    fn write(&mut self, chunk: &[Todo], decoded: Decoded, report: &mut EdgeReport) -> Result<()> {
        for (todo, result) in chunk.iter().zip(decoded) {
            let object_id = todo.object_id;
            report.read += 1;
            if let Some(round) = self.round.as_mut() {
                round
                    .execute([object_id])
                    .context("noting a read siginfo")?;
            }
            match result {
                Ok(hashes) => {
                    for h in &hashes {
                        report.edges += self
                            .edge
                            .execute(params![hash_key(h), object_id])
                            .context("storing a dependency edge")?
                            as u64;
                    }
                    self.ok
                        .execute([object_id])
                        .context("recording a read siginfo")?;
                }
                Err(why) => {
                    report.unreadable += 1;
                    if report.samples.len() < 20 {
                        report.samples.push((todo.rel.clone(), why.0.clone()));
                    }
                    self.bad
                        .execute(params![object_id, why.0])
                        .context("recording an unreadable siginfo")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys() {
        let h = "3b5f1c0e9a7d2b4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
        assert_eq!(hash_key(h), 0x3b5f_1c0e_9a7d_2b4c);
        assert_eq!(hash_key("ffffffffffffffff0000"), -1);
        assert_eq!(
            hash_key("0123456789abcdef0123456789abcdef"),
            0x0123_4567_89ab_cdef
        );
        assert_eq!(hash_key("xyz"), 0);
    }
}
