//! Recording a cleanup: one history row per run (dry runs and "no" answers
//! included), one row per file a confirmed run dealt with, and the index
//! brought in line with what was removed. Set-based: a few statements
//! per chunk of the plan, all in one transaction.

use super::{Index, REFRESH_OBJECTS_SQL, now_rfc3339};
use anyhow::{Context, Result};
use rusqlite::{named_params, params};

/// What to record about a run.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub started_at: &'a str,
    pub command: &'a str,
    pub policies: &'a str,
    pub dry_run: bool,
    pub confirmed: bool,
    pub interrupted: bool,
    pub selected: (u64, u64, u64),
    pub removed: (u64, u64),
    pub skipped_files: u64,
    pub failed_files: u64,
    /// The plan's numbers, as JSON, for `runs.plan_json`.
    pub plan_json: &'a str,
    /// Where a `--trash` run moved the files (relative to the cache root).
    pub trash_dir: Option<&'a str>,
    /// "removed" or "trashed": the outcome of files that went.
    pub gone_word: &'a str,
}

/// Record the run; with `applied`, also the per-file history (from
/// temp.selected and temp.outcome) and the index update. One transaction.
pub fn record_run(index: &mut Index, rec: &RunRecord<'_>, applied: bool) -> Result<i64> {
    let tx = index
        .conn
        .transaction()
        .context("starting the history transaction")?;
    tx.execute(
        "INSERT INTO removal_run(started_at, finished_at, command, policies, dry_run, confirmed, interrupted,
                                 selected_objects, selected_files, selected_bytes, removed_files, removed_bytes,
                                 skipped_files, failed_files, plan_json, trash_dir)
         VALUES (:started, :finished, :command, :policies, :dry, :confirmed, :interrupted,
                 :sel_objects, :sel_files, :sel_bytes, :removed_files, :removed_bytes,
                 :skipped, :failed, :plan, :trash)",
        named_params! {
            ":started": rec.started_at,
            ":finished": now_rfc3339(),
            ":command": rec.command,
            ":policies": rec.policies,
            ":dry": rec.dry_run,
            ":confirmed": rec.confirmed,
            ":interrupted": rec.interrupted,
            ":sel_objects": rec.selected.0 as i64,
            ":sel_files": rec.selected.1 as i64,
            ":sel_bytes": rec.selected.2 as i64,
            ":removed_files": rec.removed.0 as i64,
            ":removed_bytes": rec.removed.1 as i64,
            ":skipped": rec.skipped_files as i64,
            ":failed": rec.failed_files as i64,
            ":plan": rec.plan_json,
            ":trash": rec.trash_dir,
        },
    )
    .context("recording the cleanup run")?;
    let run_id = tx.last_insert_rowid();
    if applied {
        record_files(&tx, run_id, rec.gone_word)?;
    }
    tx.commit().context("committing the cleanup to the index")?;
    Ok(run_id)
}

/// Selected objects recorded per round of statements. A statement that
/// may fail half-way within a transaction (a foreign key to check: they
/// are on, rusqlite's bundled SQLite enables them; deleting `object` or
/// `grp` rows that others refer to, inserting `removal` rows) keeps a
/// statement journal, a copy of every page it changes, in memory with
/// temp_store = MEMORY. Over a whole removal in one statement that was most
/// of the object table and its indexes (150 MB at 300k objects, 141k of
/// them removed); a chunk of this many objects keeps it to a few MB.
const CHUNK: i64 = 2048;

/// The per-file history (from temp.selected and temp.outcome) and the
/// index update of an applied run, a chunk of temp.selected at a time,
/// inside the run's transaction.
fn record_files(tx: &rusqlite::Transaction<'_>, run_id: i64, gone_word: &str) -> Result<()> {
    let what = "recording the files of the cleanup";
    tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS touched(object_id INTEGER PRIMARY KEY);")
        .context(what)?;
    let mut bound = tx
        .prepare(
            "SELECT max(id) FROM (SELECT id FROM temp.selected WHERE id > ?1 ORDER BY id LIMIT ?2)",
        )
        .context(what)?;
    let mut history = tx
        .prepare(
            "INSERT INTO removal(run_id, path, size, outcome)
             SELECT :run,
                    CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END,
                    e.size, coalesce(x.outcome, :gone)
             FROM temp.selected s
             JOIN object o ON o.id = s.id
             JOIN dir d    ON d.id = o.dir_id
             JOIN entry e  ON e.object_id = o.id
             LEFT JOIN temp.outcome x ON x.entry_id = e.id
             WHERE s.id > :lo AND s.id <= :hi
               AND coalesce(x.outcome, '') <> 'not-attempted'",
        )
        .context(what)?;
    let mut touch = tx
        .prepare("INSERT INTO temp.touched(object_id) SELECT id FROM temp.selected WHERE id > ?1 AND id <= ?2")
        .context(what)?;
    let mut lo = i64::MIN;
    while let Some(hi) = bound
        .query_row(params![lo, CHUNK], |r| r.get::<_, Option<i64>>(0))
        .context(what)?
    {
        history
            .execute(named_params! {":run": run_id, ":gone": gone_word, ":lo": lo, ":hi": hi})
            .context(what)?;
        // What is no longer in the cache leaves the index; an entry kept
        // because it changed stays as it was (the next plan re-stats it).
        tx.execute_batch("DELETE FROM temp.touched;")
            .context("dropping removed entries from the index")?;
        touch
            .execute(params![lo, hi])
            .context("dropping removed entries from the index")?;
        tx.execute_batch(
            "DELETE FROM entry
             WHERE object_id IN (SELECT object_id FROM temp.touched)
               AND NOT EXISTS (SELECT 1 FROM temp.outcome x
                               WHERE x.entry_id = entry.id AND x.outcome <> 'skipped:gone');",
        )
        .context("dropping removed entries from the index")?;
        tx.execute_batch(REFRESH_OBJECTS_SQL)
            .context("refreshing objects after the removal")?;
        lo = hi;
    }
    tx.execute(
        "INSERT INTO removal(run_id, path, size, outcome)
         SELECT :run, t.path, l.size, 'removed:link-target'
         FROM temp.target_removed t JOIN temp.link_target l ON l.entry_id = t.entry_id",
        named_params! {":run": run_id},
    )
    .context("recording the removed link targets")?;
    Ok(())
}
