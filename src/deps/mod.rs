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

/// The SQL that moves dependencies of kept objects out of the selection.
pub const PROTECT_SQL: &str = include_str!("protect.sql");

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
        read_into(&tx, pool, (&root, store.as_deref()), &mut report, progress)?;
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

/// Read the siginfo of the objects in temp.deps_todo, `BATCH` at a time
/// in its order, and store their edges; the ids end up in temp.deps_round.
fn read_into(
    tx: &rusqlite::Transaction<'_>,
    pool: &rayon::ThreadPool,
    (root, store): (&std::path::Path, Option<&crate::store::Store>),
    report: &mut EdgeReport,
    progress: &Counters,
) -> Result<()> {
    tx.execute_batch("DELETE FROM temp.deps_round;")
        .context("preparing a round of siginfo reading")?;
    let mut edge = tx
        .prepare("INSERT OR IGNORE INTO dep(hash_key, object_id) VALUES (?1, ?2)")
        .context("preparing the edge insert")?;
    let mut ok = tx
        .prepare("UPDATE object SET deps_state = 'ok', deps_error = NULL WHERE id = ?1")
        .context("preparing the siginfo state update")?;
    let mut bad = tx
        .prepare("UPDATE object SET deps_state = 'unreadable', deps_error = ?2 WHERE id = ?1")
        .context("preparing the siginfo state update")?;
    let mut round = tx
        .prepare("INSERT OR IGNORE INTO temp.deps_round(id) VALUES (?1)")
        .context("preparing a round of siginfo reading")?;
    let mut next = tx
        .prepare(include_str!("todo_batch.sql"))
        .context("preparing the siginfo reading list")?;
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, i64, String)> = next
            .query_map(params![after, BATCH as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .and_then(|rows| rows.collect())
            .context("reading the siginfo reading list")?;
        let Some(&(last, ..)) = rows.last() else {
            break;
        };
        after = last;
        let chunk: Vec<(i64, String)> = rows.into_iter().map(|(_, id, rel)| (id, rel)).collect();
        let results: Vec<Result<Vec<String>, siginfo::Unreadable>> = match store {
            None => pool.install(|| {
                chunk
                    .par_iter()
                    .map_init(siginfo::Reader::default, |reader, (_, rel)| {
                        // (One relaxed add per file: a read and a
                        // decompression each, so it costs nothing.)
                        let deps = reader.read_deps(&root.join(rel));
                        Counters::add(&progress.siginfo_read, 1);
                        deps
                    })
                    .collect()
            }),
            // From a store: GET them (`jobs` at a time), then decode.
            Some(store) => {
                let rels: Vec<String> = chunk.iter().map(|(_, rel)| rel.clone()).collect();
                let got = store.get_many(&rels, siginfo::MAX_DECOMPRESSED);
                pool.install(|| {
                    got.into_par_iter()
                        .map_init(siginfo::Reader::default, |reader, bytes| {
                            Counters::add(&progress.siginfo_read, 1);
                            match bytes {
                                Ok(b) => reader.deps_of_bytes(&b),
                                Err(e) => Err(siginfo::Unreadable(format!("cannot read: {e}"))),
                            }
                        })
                        .collect()
                })
            }
        };
        for ((object_id, rel), result) in chunk.iter().zip(results) {
            report.read += 1;
            round
                .execute([object_id])
                .context("noting a read siginfo")?;
            match result {
                Ok(hashes) => {
                    for h in &hashes {
                        report.edges += edge
                            .execute(params![hash_key(h), object_id])
                            .context("storing a dependency edge")?
                            as u64;
                    }
                    ok.execute([object_id])
                        .context("recording a read siginfo")?;
                }
                Err(why) => {
                    report.unreadable += 1;
                    if report.samples.len() < 20 {
                        report.samples.push((rel.clone(), why.0.clone()));
                    }
                    bad.execute(params![object_id, why.0])
                        .context("recording an unreadable siginfo")?;
                }
            }
        }
    }
    Ok(())
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
