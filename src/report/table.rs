//! A result table (columns and SQLite values) and its three renderings:
//! an aligned text table, CSV (RFC 4180) and JSON (an array of objects).
//! Rendering returns strings; the commands print them.

use rusqlite::types::Value;
use std::fmt::Write;

/// Column names and rows of SQLite values.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => {
            b.iter().fold(String::from("x'"), |mut s, byte| {
                let _ = write!(s, "{byte:02x}");
                s
            }) + "'"
        }
    }
}

/// A JSON value for an SQLite value (blobs as hex strings).
pub fn json_of(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Real(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Text(s) => s.clone().into(),
        Value::Blob(_) => text_of(v).into(),
    }
}

impl Table {
    /// Aligned columns, numbers right-aligned, with a header and a rule.
    pub fn to_text(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(text_of).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                cells
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.columns[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|c| {
                self.rows
                    .iter()
                    .any(|r| matches!(r[c], Value::Integer(_) | Value::Real(_)))
                    && self
                        .rows
                        .iter()
                        .all(|r| matches!(r[c], Value::Integer(_) | Value::Real(_) | Value::Null))
            })
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, vals: &[String], header: bool| {
            let parts: Vec<String> = vals
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    if numeric[c] && !header {
                        format!("{v:>w$}", w = widths[c])
                    } else {
                        format!("{v:<w$}", w = widths[c])
                    }
                })
                .collect();
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        line(&mut out, &self.columns, true);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &rule, true);
        for r in &cells {
            line(&mut out, r, false);
        }
        out
    }

    /// CSV with a header line; fields quoted when they need it.
    pub fn to_csv(&self) -> String {
        let field = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        out.push_str(
            &self
                .columns
                .iter()
                .map(|c| field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
        for r in &self.rows {
            out.push_str(
                &r.iter()
                    .map(|v| field(&text_of(v)))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        out
    }

    /// An array of objects, one per row, keyed by column name.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        self.columns
                            .iter()
                            .cloned()
                            .zip(r.iter().map(json_of))
                            .collect(),
                    )
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table {
            columns: vec!["pn".into(), "bytes".into()],
            rows: vec![
                vec![Value::Text("busybox".into()), Value::Integer(1024)],
                vec![Value::Text("a,\"b\"".into()), Value::Null],
            ],
        }
    }

    #[test]
    fn renderings() {
        let t = sample();
        assert_eq!(t.to_csv(), "pn,bytes\nbusybox,1024\n\"a,\"\"b\"\"\",\n");
        assert_eq!(
            t.to_text(),
            "pn       bytes\n-------  -----\nbusybox   1024\na,\"b\"\n"
        );
        assert_eq!(t.to_json()[0]["bytes"], 1024);
        assert!(t.to_json()[1]["bytes"].is_null());
    }
}
