//! `--select-sql FILE` and `--where EXPR`: a policy written by the user, as
//! a read-only query over the public views that yields `object_id`.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// A validated custom selection.
#[derive(Debug, Clone)]
pub struct Custom {
    /// A query whose rows carry an `object_id` column.
    pub sql: String,
    /// Where it came from, for messages and the history.
    pub label: String,
}

impl Custom {
    /// `--select-sql FILE`: the whole file is one SELECT.
    pub fn from_file(path: &Path) -> Result<Custom> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--select-sql {}: reading the query", path.display()))?;
        let sql = text.trim().trim_end_matches(';').trim_end().to_string();
        if sql.is_empty() {
            bail!("--select-sql {}: the file holds no query", path.display());
        }
        Ok(Custom {
            sql,
            label: format!("--select-sql {}", path.display()),
        })
    }

    /// `--where EXPR`: a condition over the `objects` view.
    pub fn from_where(expr: &str) -> Result<Custom> {
        if expr.trim().is_empty() {
            bail!("--where: the condition is empty");
        }
        Ok(Custom {
            sql: format!("SELECT object_id FROM objects WHERE ({expr}\n)"),
            label: format!("--where {expr}"),
        })
    }

    /// The query that inserts this policy's selection; the user's SQL is a
    /// subquery, so it can only read.
    pub fn selection_sql(&self) -> String {
        format!(
            "SELECT object_id AS id FROM (\n{}\n) WHERE object_id IN (SELECT id FROM object)",
            self.sql
        )
    }

    /// Check, before anything is planned, that the query is one read-only
    /// statement with an `object_id` column.
    pub fn validate(&self, conn: &rusqlite::Connection) -> Result<()> {
        let what = &self.label;
        let user = match conn.prepare(&self.sql) {
            Ok(s) => s,
            Err(rusqlite::Error::MultipleStatement) => {
                bail!("{what}: give exactly one SELECT statement")
            }
            Err(e) => bail!("{what}: {e}"),
        };
        if !user.readonly() {
            bail!("{what}: only a read-only query (SELECT or WITH … SELECT) may select objects");
        }
        let columns: Vec<&str> = user.column_names().collect();
        if !columns.contains(&"object_id") {
            bail!(
                "{what}: the query must return a column named object_id (columns: {})",
                columns.join(", ")
            );
        }
        drop(user);
        conn.prepare(&self.selection_sql())
            .map(drop)
            .with_context(|| format!("{what}: the query cannot be used as a selection"))
    }
}
