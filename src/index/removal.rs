//! Recording a cleanup in the index: drop what was removed, fix the
//! aggregates of objects that kept some entries, keep a history row.

use super::{Index, now_rfc3339};
use crate::policy::Plan;
use crate::remove::{Outcome, RemovalTotals};
use anyhow::{Context, Result};
use rusqlite::params;

/// Update the index after a removal (or record a dry run / a "no" at the
/// prompt, with `outcomes` empty). One transaction.
pub fn record_removal(
    index: &mut Index,
    plan: &Plan,
    outcomes: &[Outcome],
    totals: &RemovalTotals,
    dry_run: bool,
    confirmed: bool,
) -> Result<i64> {
    let tx = index
        .conn
        .transaction()
        .context("starting the removal transaction")?;
    tx.execute(
        "INSERT INTO removal_run(started_at, policies, dry_run, confirmed, selected_objects, selected_files,
                                 selected_bytes, removed_files, removed_bytes, skipped_files, failed_files)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            now_rfc3339(),
            plan.policy_names(),
            dry_run,
            confirmed,
            plan.objects as i64,
            plan.files as i64,
            plan.disk_bytes as i64,
            totals.removed_files as i64,
            totals.removed_bytes as i64,
            totals.skipped() as i64,
            totals.failed as i64,
        ],
    )
    .context("recording the removal run")?;
    let run_id = tx.last_insert_rowid();
    if !outcomes.is_empty() {
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS touched(object_id INTEGER PRIMARY KEY); DELETE FROM temp.touched;",
        )
        .context("preparing the removal update")?;
        {
            let mut log = tx.prepare(
                "INSERT INTO removal(run_id, path, size, outcome) VALUES (?1, ?2, ?3, ?4)",
            )?;
            // Matched on the stat too: if a concurrent scan rewrote the row,
            // this run's view of it is stale and the new row stays.
            let mut drop_entry =
                tx.prepare("DELETE FROM entry WHERE id = ?1 AND ino = ?2 AND mtime_ns = ?3")?;
            let mut touch =
                tx.prepare("INSERT OR IGNORE INTO temp.touched(object_id) VALUES (?1)")?;
            for (e, o) in plan.entries.iter().zip(outcomes) {
                log.execute(params![run_id, e.rel_path, e.size as i64, o.as_text()])
                    .context("recording a removed file")?;
                // What is no longer on disk leaves the index; a changed
                // entry stays as it was and the next scan picks it up.
                if matches!(o, Outcome::Removed | Outcome::SkippedGone) {
                    drop_entry
                        .execute(params![e.entry_id, e.ino as i64, e.mtime_ns])
                        .context("dropping a removed entry")?;
                    touch
                        .execute([e.object_id])
                        .context("noting a touched object")?;
                }
            }
        }
        tx.execute_batch(include_str!("refresh_objects.sql"))
            .context("refreshing objects after the removal")?;
    }
    tx.commit().context("committing the removal to the index")?;
    Ok(run_id)
}
