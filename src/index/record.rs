//! Recording a cleanup: one history row per run (dry runs and "no" answers
//! included), one row per file a confirmed run dealt with, and the index
//! brought in line with what was removed. Set-based: a few statements
//! whatever the size of the run.

use super::{Index, REFRESH_OBJECTS_SQL, now_rfc3339};
use anyhow::{Context, Result};
use rusqlite::named_params;

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
        tx.execute(
            "INSERT INTO removal(run_id, path, size, outcome)
             SELECT :run,
                    CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END,
                    e.size, coalesce(x.outcome, :gone)
             FROM temp.selected s
             JOIN object o ON o.id = s.id
             JOIN dir d    ON d.id = o.dir_id
             JOIN entry e  ON e.object_id = o.id
             LEFT JOIN temp.outcome x ON x.entry_id = e.id
             WHERE coalesce(x.outcome, '') <> 'not-attempted'",
            named_params! {":run": run_id, ":gone": rec.gone_word},
        )
        .context("recording the files of the cleanup")?;
        tx.execute(
            "INSERT INTO removal(run_id, path, size, outcome)
             SELECT :run, t.path, l.size, 'removed:link-target'
             FROM temp.target_removed t JOIN temp.link_target l ON l.entry_id = t.entry_id",
            named_params! {":run": run_id},
        )
        .context("recording the removed link targets")?;
        // What is no longer in the cache leaves the index; an entry kept
        // because it changed stays as it was (the next plan re-stats it).
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS touched(object_id INTEGER PRIMARY KEY);
             DELETE FROM temp.touched;
             INSERT INTO temp.touched(object_id) SELECT id FROM temp.selected;
             DELETE FROM entry
             WHERE object_id IN (SELECT id FROM temp.selected)
               AND id NOT IN (SELECT entry_id FROM temp.outcome WHERE outcome <> 'skipped:gone');",
        )
        .context("dropping removed entries from the index")?;
        tx.execute_batch(REFRESH_OBJECTS_SQL)
            .context("refreshing objects after the removal")?;
    }
    tx.commit().context("committing the cleanup to the index")?;
    Ok(run_id)
}
