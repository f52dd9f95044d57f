//! Cleanup policies: each is an SQL query over the index that yields the ids
//! of the objects it selects (SSTATE.md section 5). The removal set is the
//! union; removing an object removes all of its entries.

pub mod stamps;

use crate::index::Index;
use anyhow::{Context, Result};
use std::collections::HashSet;

/// One cleanup policy, as resolved from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// `-d`: keep only the newest object of each group.
    Duplicates,
    /// `--remove-orphans`: objects without an archive.
    Orphans,
    /// `--stamps-dir`: objects whose unihash no stamp names.
    Stamps(HashSet<String>),
}

impl Policy {
    /// The name used in reports, JSON and the removal history.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Duplicates => "duplicates",
            Policy::Orphans => "orphans",
            Policy::Stamps(_) => "stamps",
        }
    }

    fn sql(&self) -> &'static str {
        match self {
            Policy::Duplicates => include_str!("duplicates.sql"),
            Policy::Orphans => include_str!("orphans.sql"),
            Policy::Stamps(_) => include_str!("stamps.sql"),
        }
    }
}

/// An entry to remove, with the stat it had when indexed (the removal
/// re-checks it just before unlinking).
#[derive(Debug, Clone)]
pub struct PlannedEntry {
    pub entry_id: i64,
    pub object_id: i64,
    /// Relative to the cache root.
    pub rel_path: String,
    pub size: u64,
    pub disk_bytes: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub is_symlink: bool,
}

/// What one policy selected on its own.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PolicySummary {
    pub policy: &'static str,
    pub objects: u64,
    pub files: u64,
    pub disk_bytes: u64,
}

/// The result of planning: what to remove, and out of how much.
#[derive(Debug, Default)]
pub struct Plan {
    pub policies: Vec<PolicySummary>,
    /// Objects, files and disk bytes selected by the union of the policies.
    pub objects: u64,
    pub files: u64,
    pub disk_bytes: u64,
    /// Entries in the index: the "M" of "N out of M files".
    pub total_entries: u64,
    /// The entries to remove; loaded only when asked for (a dry run that
    /// prints no paths needs the counts alone).
    pub entries: Vec<PlannedEntry>,
}

impl Plan {
    pub fn policy_names(&self) -> String {
        self.policies
            .iter()
            .map(|p| p.policy)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Load what a policy needs beyond the index (the stamp hashes) into temp
/// tables of this connection. Nothing else is written.
fn prepare(index: &Index, policies: &[Policy]) -> Result<()> {
    let conn = &index.conn;
    for policy in policies {
        if let Policy::Stamps(hashes) = policy {
            conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS stamp_hash(hash TEXT PRIMARY KEY); DELETE FROM temp.stamp_hash;",
            )
            .context("preparing the stamp hash table")?;
            let mut ins = conn
                .prepare("INSERT OR IGNORE INTO temp.stamp_hash(hash) VALUES (?1)")
                .context("preparing stamp hash insert")?;
            for h in hashes {
                ins.execute([h]).context("loading stamp hashes")?;
            }
        }
    }
    Ok(())
}

/// Objects, files and bytes of the objects a query selects; the query
/// yields (id, n_entries, disk_bytes), one row per object.
fn count(index: &Index, selection: &str, what: &str) -> Result<(u64, u64, u64)> {
    index
        .conn
        .query_row(
            &format!("SELECT count(*), coalesce(sum(n_entries), 0), coalesce(sum(disk_bytes), 0) FROM ({selection})"),
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
        )
        .with_context(|| format!("running the {what} query"))
}

/// The union of the policies' selections, as one SQL query.
fn union_sql(policies: &[Policy]) -> String {
    policies
        .iter()
        .map(|p| format!("SELECT * FROM ({})", p.sql()))
        .collect::<Vec<_>>()
        .join(" UNION ")
}

/// What each policy selects on its own.
pub fn select(index: &Index, policies: &[Policy]) -> Result<Vec<PolicySummary>> {
    prepare(index, policies)?;
    policies
        .iter()
        .map(|p| {
            let (objects, files, disk_bytes) = count(index, p.sql(), p.name())?;
            Ok(PolicySummary {
                policy: p.name(),
                objects,
                files,
                disk_bytes,
            })
        })
        .collect()
}

/// Run the policies and build the plan; with `with_entries`, also every
/// entry of every selected object with the stat it had when indexed. One
/// read transaction, so that counts and entries agree.
pub fn plan(index: &Index, policies: &[Policy], with_entries: bool) -> Result<Plan> {
    let conn = &index.conn;
    conn.execute_batch("BEGIN")
        .context("starting the planning transaction")?;
    let result = plan_in_transaction(index, policies, with_entries);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)
        .context("ending the planning transaction")?;
    result
}

fn plan_in_transaction(index: &Index, policies: &[Policy], with_entries: bool) -> Result<Plan> {
    let conn = &index.conn;
    let mut plan = Plan {
        policies: select(index, policies)?,
        total_entries: index.entry_count()?,
        ..Plan::default()
    };
    let union = union_sql(policies);
    (plan.objects, plan.files, plan.disk_bytes) = match plan.policies.as_slice() {
        [only] => (only.objects, only.files, only.disk_bytes),
        _ => count(index, &union, "union of the policies")?,
    };
    if !with_entries {
        return Ok(plan);
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT e.id, o.id, CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END,
                    e.size, e.blocks, e.mtime_ns, e.ino, e.is_symlink
             FROM ({union}) s
             JOIN object o ON o.id = s.id
             JOIN dir d    ON d.id = o.dir_id
             JOIN entry e  ON e.object_id = o.id
             ORDER BY o.id"
        ))
        .context("preparing the plan query")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(PlannedEntry {
                entry_id: r.get(0)?,
                object_id: r.get(1)?,
                rel_path: r.get(2)?,
                size: r.get::<_, i64>(3)? as u64,
                disk_bytes: r.get::<_, i64>(4)? as u64 * 512,
                mtime_ns: r.get(5)?,
                ino: r.get::<_, i64>(6)? as u64,
                is_symlink: r.get(7)?,
            })
        })
        .context("reading the plan")?;
    plan.entries = rows
        .collect::<rusqlite::Result<_>>()
        .context("reading the plan")?;
    Ok(plan)
}
