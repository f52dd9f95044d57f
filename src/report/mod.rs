//! Reports and ad-hoc queries over the index. Builds tables; never prints.

pub mod html;
pub mod table;

use crate::index::Index;
use crate::plan::{self, Request};
use anyhow::{Context, Result, bail};
use rusqlite::types::Value;
use serde::Serialize;
pub use table::{CsvSink, JsonSink, RowSink, Table, TextSink};

/// Run one read-only SQL statement and stream its rows into `sink`;
/// returns how many. The index must have been opened read-only
/// ([`Index::open_read_only`]); on top of that, statements that would
/// write and ATTACH are refused with a clear message. An error from the
/// sink (a closed pipe) ends the query.
pub fn query(index: &Index, sql: &str, sink: &mut dyn RowSink) -> Result<u64> {
    index
        .conn
        .set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)
        .context("restricting the query connection")?;
    let mut stmt = match index.conn.prepare(sql) {
        Ok(s) => s,
        Err(rusqlite::Error::MultipleStatement) => bail!("query: give exactly one SQL statement"),
        Err(e) if is_attach_refusal(&e) => bail!(ATTACH_REFUSED),
        Err(e) => return Err(e).context("query: preparing the SQL"),
    };
    if !stmt.readonly() {
        bail!(
            "query: only read-only SQL is allowed (SELECT, WITH, EXPLAIN, read-only PRAGMA); the index is opened read-only"
        );
    }
    let first_word = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if first_word == "ATTACH" || first_word == "DETACH" {
        bail!(ATTACH_REFUSED);
    }
    if stmt.column_count() == 0 {
        bail!("query: the statement returns no columns (BEGIN, SAVEPOINT, ...); give a SELECT");
    }
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let n = columns.len();
    sink.columns(&columns).context("writing the query result")?;
    let mut rows = stmt.query([]).context("query: running the SQL")?;
    let mut count = 0;
    let mut row = Vec::with_capacity(n);
    loop {
        let r = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) if is_attach_refusal(&e) => bail!(ATTACH_REFUSED),
            Err(e) => return Err(e).context("query: reading the result"),
        };
        row.clear();
        for i in 0..n {
            row.push(r.get::<_, Value>(i).context("query: reading a value")?);
        }
        sink.row(&row).context("writing the query result")?;
        count += 1;
    }
    sink.finish().context("writing the query result")?;
    Ok(count)
}

const ATTACH_REFUSED: &str = "query: ATTACH is not allowed; queries run against the index only";

/// The connection allows no attached database, so ATTACH fails with this.
fn is_attach_refusal(e: &rusqlite::Error) -> bool {
    e.to_string().contains("too many attached databases")
}

/// One line of a report breakdown.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub objects: u64,
    pub files: u64,
    pub disk_bytes: u64,
}

/// What is in the cache, by several keys, and what the policies would
/// reclaim now.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub groups: u64,
    pub objects: u64,
    pub files: u64,
    pub disk_bytes: u64,
    pub size: u64,
    /// (section name, rows): by_task, by_pkgarch, by_extrapath, top_recipes, age.
    pub sections: Vec<(String, Vec<Row>)>,
    /// What each policy would select, alone.
    pub reclaim: Vec<Reclaim>,
    /// What the index knows of dependencies between objects.
    pub deps: DepsSummary,
    /// The cache as each scan left it, oldest first (at most
    /// [`HISTORY_POINTS`]; see `history.sql`).
    pub history: Vec<ScanPoint>,
}

impl Report {
    /// The JSON shape `report --format json` prints (documented in the
    /// README) and the HTML page embeds: totals at the top level,
    /// `sections` an object of arrays, `reclaim` and `history` arrays.
    pub fn to_json(&self) -> serde_json::Value {
        let sections: serde_json::Map<String, serde_json::Value> = self
            .sections
            .iter()
            .map(|(name, rows)| {
                let rows = rows.iter().map(|r| serde_json::json!(r)).collect();
                (name.clone(), serde_json::Value::Array(rows))
            })
            .collect();
        serde_json::json!({
            "groups": self.groups,
            "objects": self.objects,
            "files": self.files,
            "disk_bytes": self.disk_bytes,
            "size": self.size,
            "sections": sections,
            "reclaim": self.reclaim,
            "deps": self.deps,
            "history": self.history,
        })
    }
}

/// The cache after one scan: a point of the growth chart.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ScanPoint {
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `cold`, `incremental` or `full`.
    pub mode: String,
    pub entries: u64,
    pub objects: u64,
    pub disk_bytes: u64,
}

/// At most this many scans in [`Report::history`].
pub const HISTORY_POINTS: u32 = 400;

/// What one policy alone would remove now, and what dependency retention
/// keeps of what it would otherwise select.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reclaim {
    pub policy: String,
    pub objects: u64,
    pub files: u64,
    pub disk_bytes: u64,
    pub kept_by_deps: plan::Count,
}

/// Dependency edges in the index (read from siginfo files on demand).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DepsSummary {
    pub edges: u64,
    /// Objects whose siginfo was read, could not be read, is not read yet.
    pub read: u64,
    pub unreadable: u64,
    pub pending: u64,
    /// Objects some other object of the cache depends on.
    pub needed: u64,
}

/// Sections of the report: name, column of `grp`, row limit.
const BREAKDOWNS: &[(&str, &str, u32)] = &[
    ("by_task", "task", 1000),
    ("by_pkgarch", "pkgarch", 1000),
    ("by_extrapath", "extrapath", 1000),
    ("top_recipes", "pn", 20),
];

fn rows(index: &Index, sql: &str, params: impl rusqlite::Params, what: &str) -> Result<Vec<Row>> {
    let mut stmt = index
        .conn
        .prepare(sql)
        .with_context(|| format!("report: preparing {what}"))?;
    let out = stmt
        .query_map(params, |r| {
            Ok(Row {
                key: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                objects: r.get::<_, i64>(1)? as u64,
                files: r.get::<_, i64>(2)? as u64,
                disk_bytes: r.get::<_, i64>(3)? as u64,
            })
        })
        .with_context(|| format!("report: running {what}"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .with_context(|| format!("report: reading {what}"))?;
    Ok(out)
}

/// Build the report. `reclaim` are the policies to show what they would
/// reclaim (each planned alone, exactly as a cleanup would); `now_ns` is
/// the reference time for the age histogram.
pub fn build(index: &mut Index, reclaim: &[(String, Request)], now_ns: i64) -> Result<Report> {
    let (groups, objects, files, disk_bytes, size) = index
        .conn
        .query_row(include_str!("totals.sql"), [], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
            ))
        })
        .context("report: totals")?;
    let mut rows_out = Vec::new();
    for (i, (label, req)) in reclaim.iter().enumerate() {
        let req = Request {
            reuse_restats: i > 0,
            record_restats: i + 1 < reclaim.len(),
            ..req.clone()
        };
        let p = plan::plan(index, &req).with_context(|| format!("report: planning {label}"))?;
        let kept_by_deps = p
            .protected
            .iter()
            .find(|x| x.protection == "deps")
            .map(|x| x.count)
            .unwrap_or_default();
        rows_out.push(Reclaim {
            policy: label.clone(),
            objects: p.count.objects,
            files: p.count.files,
            disk_bytes: p.count.disk_bytes,
            kept_by_deps,
        });
    }
    // The plans above may have corrected mtimes (re-stat): sections after.
    let mut sections = Vec::new();
    for (name, key, limit) in BREAKDOWNS {
        let sql = include_str!("breakdown.sql")
            .replace("{key}", key)
            .replace("{limit}", &limit.to_string());
        sections.push((name.to_string(), rows(index, &sql, [], name)?));
    }
    sections.push((
        "age".to_string(),
        rows(index, include_str!("age.sql"), [now_ns], "age")?,
    ));
    let deps = index
        .conn
        .query_row(include_str!("deps.sql"), [], |r| {
            Ok(DepsSummary {
                edges: r.get::<_, i64>(0)? as u64,
                read: r.get::<_, i64>(1)? as u64,
                unreadable: r.get::<_, i64>(2)? as u64,
                pending: r.get::<_, i64>(3)? as u64,
                needed: r.get::<_, i64>(4)? as u64,
            })
        })
        .context("report: dependencies")?;
    let history = index
        .conn
        .prepare(include_str!("history.sql"))
        .and_then(|mut stmt| {
            stmt.query_map([HISTORY_POINTS], |r| {
                Ok(ScanPoint {
                    started_at: r.get(0)?,
                    mode: r.get(1)?,
                    entries: r.get::<_, i64>(2)? as u64,
                    objects: r.get::<_, i64>(3)? as u64,
                    disk_bytes: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .context("report: scan history")?;
    Ok(Report {
        groups,
        objects,
        files,
        disk_bytes,
        size,
        sections,
        reclaim: rows_out,
        deps,
        history,
    })
}
