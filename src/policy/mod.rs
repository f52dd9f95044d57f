//! Cleanup policies (SSTATE.md section 5): each selects objects, as an SQL
//! query over the index that yields object ids. The planner (`plan.rs`)
//! runs them, takes their union, applies the protections and the size
//! budget; removing an object removes all of its entries.

pub mod custom;
pub mod duplicates;
pub mod size;
pub mod stamps;

use anyhow::{Context, Result};
pub use stamps::StampDir;

/// Objects, files and bytes on disk (what a policy selects, what a
/// protection keeps).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct Count {
    pub objects: u64,
    pub files: u64,
    pub disk_bytes: u64,
}

impl Count {
    pub fn add(&mut self, o: &Count) {
        self.objects += o.objects;
        self.files += o.files;
        self.disk_bytes += o.disk_bytes;
    }

    pub fn sub(&mut self, o: &Count) {
        self.objects = self.objects.saturating_sub(o.objects);
        self.files = self.files.saturating_sub(o.files);
        self.disk_bytes = self.disk_bytes.saturating_sub(o.disk_bytes);
    }
}

/// One cleanup policy, as resolved from the command line.
#[derive(Debug, Clone)]
pub enum Policy {
    /// `-d`, `--keep-per-group N`: keep only the `keep` newest objects of
    /// each group.
    Duplicates { keep: u32 },
    /// `--remove-orphans`: objects without an archive.
    Orphans,
    /// `--stamps-dir`: objects whose unihash no stamp names.
    Stamps(Vec<StampDir>),
    /// `--older-than`: objects last used before `cutoff_ns`.
    OlderThan { cutoff_ns: i64, spec: String },
    /// `--select-sql` / `--where`: a read-only query yielding `object_id`.
    Custom(custom::Custom),
    /// `--max-size`: least recently used objects until the rest fits.
    MaxSize { bytes: u64, spec: String },
}

impl Policy {
    /// The name used in reports, JSON and the removal history.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Duplicates { .. } => "duplicates",
            Policy::Orphans => "orphans",
            Policy::Stamps(_) => "stamps",
            Policy::OlderThan { .. } => "older-than",
            Policy::Custom(_) => "custom",
            Policy::MaxSize { .. } => "max-size",
        }
    }

    /// A short description with its parameters, for `-v` and the history.
    pub fn describe(&self) -> String {
        match self {
            Policy::Duplicates { keep: 1 } => "duplicates (keep the newest of each group)".into(),
            Policy::Duplicates { keep } => {
                format!("duplicates (keep the {keep} newest of each group)")
            }
            Policy::Orphans => "orphans (objects without an archive)".into(),
            Policy::Stamps(dirs) => format!(
                "stamps (keep what {} stamps dir{} name)",
                dirs.len(),
                if dirs.len() == 1 { "" } else { "s" }
            ),
            Policy::OlderThan { spec, .. } => format!("older-than {spec} (not used since)"),
            Policy::Custom(c) => format!("custom ({})", c.label),
            Policy::MaxSize { spec, .. } => format!("max-size {spec} (least recently used first)"),
        }
    }

    /// Whether what it selects depends on last-use times: the planner then
    /// re-stats its selection before trusting it (reuse is a touch in
    /// place, which a warm index does not see).
    pub fn uses_last_use(&self) -> bool {
        match self {
            Policy::Duplicates { .. }
            | Policy::OlderThan { .. }
            | Policy::Custom(_)
            | Policy::MaxSize { .. } => true,
            Policy::Orphans | Policy::Stamps(_) => false,
        }
    }

    /// Whether dependency retention applies to it by default (without
    /// `--keep-deps` / `--no-keep-deps`): for the policies that decide by
    /// last use alone, which under-reports what builds need.
    pub fn keeps_deps_by_default(&self) -> bool {
        matches!(self, Policy::OlderThan { .. } | Policy::MaxSize { .. })
    }

    /// The SQL of a policy that is one query yielding the ids it selects
    /// (not `-d`, judged group by group in `duplicates.rs`, nor
    /// `--max-size`).
    pub fn sql(&self) -> Option<String> {
        Some(match self {
            Policy::Duplicates { .. } => return None,
            Policy::Orphans => include_str!("orphans.sql").to_string(),
            Policy::Stamps(_) => include_str!("stamps.sql").to_string(),
            Policy::OlderThan { .. } => include_str!("age.sql").to_string(),
            Policy::Custom(c) => c.sql.clone(),
            Policy::MaxSize { .. } => return None,
        })
    }
}

/// Load the stamp hashes into `temp.stamp_hash(hash_key, dir, hash)` of
/// this connection.
pub fn load_stamps(conn: &rusqlite::Connection, dirs: &[StampDir]) -> Result<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS stamp_hash(
             hash_key INTEGER NOT NULL, dir INTEGER NOT NULL, hash TEXT NOT NULL,
             PRIMARY KEY (hash_key, dir, hash)) WITHOUT ROWID;
         DELETE FROM temp.stamp_hash;",
    )
    .context("preparing the stamp hash table")?;
    let mut ins = conn
        .prepare("INSERT OR IGNORE INTO temp.stamp_hash(hash_key, dir, hash) VALUES (?1, ?2, ?3)")
        .context("preparing stamp hash insert")?;
    for (i, d) in dirs.iter().enumerate() {
        for h in &d.hashes {
            ins.execute(rusqlite::params![crate::deps::hash_key(h), i as i64, h])
                .context("loading stamp hashes")?;
        }
    }
    Ok(())
}

/// How many objects of the cache each stamps dir names (in `dirs` order).
pub fn stamps_matched(conn: &rusqlite::Connection, dirs: &[StampDir]) -> Result<Vec<u64>> {
    let mut stmt = conn
        .prepare(
            "SELECT count(*) FROM object o WHERE EXISTS (SELECT 1 FROM temp.stamp_hash s
                 WHERE s.hash_key = o.hash_key AND s.hash = o.unihash AND s.dir = ?1)",
        )
        .context("preparing the stamps match count")?;
    (0..dirs.len())
        .map(|i| {
            stmt.query_row([i as i64], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .context("counting the objects stamps name")
        })
        .collect()
}
