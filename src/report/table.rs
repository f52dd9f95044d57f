//! A result table (columns and SQLite values) and its three renderings:
//! an aligned text table, CSV (RFC 4180) and JSON (an array of objects),
//! as strings or streamed row by row into a writer the command owns.

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

/// Where query rows go, one at a time: the three renderings below write
/// to any `io::Write` as rows arrive, so a query of a million rows never
/// sits in memory, and a closed pipe ends it at once (an `Err`).
pub trait RowSink {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()>;
    fn row(&mut self, row: &[Value]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
    /// Whether anything reached the writer yet (a query that fails before
    /// can be run again without printing twice).
    fn written(&self) -> bool;
}

/// Rows a text table buffers to size its columns; later rows use those
/// widths (a longer value just pushes its line wider).
const TEXT_SAMPLE: usize = 1000;

/// Aligned columns, numbers right-aligned, with a header and a rule.
pub struct TextSink<W: std::io::Write> {
    out: W,
    columns: Vec<String>,
    pending: Vec<Vec<Value>>,
    layout: Option<(Vec<usize>, Vec<bool>)>,
}

impl<W: std::io::Write> TextSink<W> {
    pub fn new(out: W) -> Self {
        TextSink {
            out,
            columns: Vec::new(),
            pending: Vec::new(),
            layout: None,
        }
    }

    fn line(&mut self, vals: &[String], header: bool) -> std::io::Result<()> {
        let Some((widths, numeric)) = &self.layout else {
            return Ok(());
        };
        let parts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let w = widths.get(c).copied().unwrap_or(0);
                if numeric.get(c).copied().unwrap_or(false) && !header {
                    format!("{v:>w$}")
                } else {
                    format!("{v:<w$}")
                }
            })
            .collect();
        writeln!(self.out, "{}", parts.join("  ").trim_end())
    }

    /// Size the columns from the rows seen so far, print the header and
    /// those rows.
    fn lay_out(&mut self) -> std::io::Result<()> {
        let n = self.columns.len();
        let widths: Vec<usize> = (0..n)
            .map(|c| {
                self.pending
                    .iter()
                    .map(|r| text_of(&r[c]).chars().count())
                    .chain([self.columns[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..n)
            .map(|c| {
                self.pending
                    .iter()
                    .any(|r| matches!(r[c], Value::Integer(_) | Value::Real(_)))
                    && self
                        .pending
                        .iter()
                        .all(|r| matches!(r[c], Value::Integer(_) | Value::Real(_) | Value::Null))
            })
            .collect();
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        self.layout = Some((widths, numeric));
        let columns = self.columns.clone();
        self.line(&columns, true)?;
        self.line(&rule, true)?;
        for r in std::mem::take(&mut self.pending) {
            let cells: Vec<String> = r.iter().map(text_of).collect();
            self.line(&cells, false)?;
        }
        Ok(())
    }
}

impl<W: std::io::Write> RowSink for TextSink<W> {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        if self.layout.is_some() {
            let cells: Vec<String> = row.iter().map(text_of).collect();
            return self.line(&cells, false);
        }
        self.pending.push(row.to_vec());
        if self.pending.len() >= TEXT_SAMPLE {
            self.lay_out()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if self.layout.is_none() {
            self.lay_out()?;
        }
        self.out.flush()
    }

    fn written(&self) -> bool {
        self.layout.is_some()
    }
}

/// CSV (RFC 4180) with a header line; fields quoted when they need it.
/// The header is written with the first row (or at the end).
pub struct CsvSink<W: std::io::Write> {
    out: W,
    header: Option<Vec<String>>,
    written: bool,
}

impl<W: std::io::Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        CsvSink {
            out,
            header: None,
            written: false,
        }
    }

    fn header(&mut self) -> std::io::Result<()> {
        if let Some(h) = self.header.take() {
            let line: Vec<String> = h.iter().map(|c| csv_field(c)).collect();
            writeln!(self.out, "{}", line.join(","))?;
            self.written = true;
        }
        Ok(())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl<W: std::io::Write> RowSink for CsvSink<W> {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.header = Some(columns.to_vec());
        Ok(())
    }

    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        self.header()?;
        let line: Vec<String> = row.iter().map(|v| csv_field(&text_of(v))).collect();
        writeln!(self.out, "{}", line.join(","))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.header()?;
        self.out.flush()
    }

    fn written(&self) -> bool {
        self.written
    }
}

/// A JSON array of objects, one per row, keyed by column name.
pub struct JsonSink<W: std::io::Write> {
    out: W,
    columns: Vec<String>,
    rows: u64,
}

impl<W: std::io::Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink {
            out,
            columns: Vec::new(),
            rows: 0,
        }
    }
}

impl<W: std::io::Write> RowSink for JsonSink<W> {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: &[Value]) -> std::io::Result<()> {
        if self.rows == 0 {
            write!(self.out, "[")?;
        }
        let obj: serde_json::Map<String, serde_json::Value> = self
            .columns
            .iter()
            .cloned()
            .zip(row.iter().map(json_of))
            .collect();
        let sep = if self.rows == 0 { "\n  " } else { ",\n  " };
        self.rows += 1;
        write!(self.out, "{sep}{}", serde_json::Value::Object(obj))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        writeln!(self.out, "{}]", if self.rows == 0 { "[" } else { "\n" })?;
        self.out.flush()
    }

    fn written(&self) -> bool {
        self.rows > 0
    }
}

impl Table {
    fn render(&self, sink: &mut dyn RowSink) {
        // Writing to memory cannot fail.
        let _ = sink.columns(&self.columns);
        for r in &self.rows {
            let _ = sink.row(r);
        }
        let _ = sink.finish();
    }

    /// Aligned columns, numbers right-aligned, with a header and a rule.
    pub fn to_text(&self) -> String {
        let mut buf = Vec::new();
        self.render(&mut TextSink::new(&mut buf));
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// CSV with a header line; fields quoted when they need it.
    pub fn to_csv(&self) -> String {
        let mut buf = Vec::new();
        self.render(&mut CsvSink::new(&mut buf));
        String::from_utf8_lossy(&buf).into_owned()
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
