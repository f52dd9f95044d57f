//! `report --html FILE`: the report as one self-contained page. Inline CSS,
//! inline SVG charts drawn here, no script runs and nothing is fetched; the
//! figures are embedded as the JSON `report --format json` prints
//! (`<script type="application/json" id="data">`), so the page and the JSON
//! never disagree.

use super::{Reclaim, Report, Row, ScanPoint};
use crate::units::human_bytes;
use std::fmt::Write;

/// What the page says about where and when it was made.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub cache_dir: String,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub version: String,
    /// The index was busy (a cleanup held it): figures as of its last scan.
    pub stale: bool,
}

/// The age buckets of `age.sql`, youngest first: the histogram shows all
/// of them, empty ones too.
const AGE_BUCKETS: &[&str] = &[
    "< 1 day",
    "1-7 days",
    "7-30 days",
    "30-90 days",
    "90-365 days",
    "> 1 year",
];

/// Chart width in SVG user units (the page scales it to its column).
const W: f64 = 1000.0;

const CSS: &str = "
:root{--fg:#1d2330;--mut:#5b6475;--bg:#fff;--card:#f5f7fa;--line:#dde2ea;--a:#2f6fd6;--b:#d9822b;--c:#2e9e6a;--d:#8a55c9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.meta{color:var(--mut);margin:0 0 16px;word-break:break-all}
.stale{background:#fff4d6;border:1px solid #e8c35a;padding:8px 12px;border-radius:6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px}
.card{background:var(--card);border-radius:8px;padding:12px 14px}
.card b{display:block;font-size:20px}.card span{color:var(--mut)}
svg{width:100%;height:auto;display:block}
svg text{font:13px system-ui,sans-serif;fill:var(--fg)}svg .mut{fill:var(--mut)}
svg .grid{stroke:var(--line)}
.two{display:grid;grid-template-columns:1fr 1fr;gap:24px}
@media(max-width:900px){.two{grid-template-columns:1fr}}
details{margin:6px 0 0}summary{cursor:pointer;color:var(--mut)}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{padding:2px 10px;border-bottom:1px solid var(--line);text-align:right}
th:first-child,td:first-child{text-align:left}thead th{color:var(--mut);font-weight:600}
.empty{color:var(--mut);font-style:italic}
footer{color:var(--mut);margin-top:32px;font-size:12px}
";

/// The whole page.
pub fn render(r: &Report, meta: &Meta) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        h,
        "<title>sstate cache report: {}</title>",
        esc(&meta.cache_dir)
    );
    let _ = writeln!(h, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(h, "<h1>sstate cache report</h1>");
    let _ = writeln!(
        h,
        "<p class=\"meta\">Cache <code>{}</code> · generated {} by sstate-cache-management {}</p>",
        esc(&meta.cache_dir),
        esc(&meta.generated_at),
        esc(&meta.version)
    );
    if meta.stale {
        h.push_str("<p class=\"stale\">A cleanup held the index: these figures are as of its last scan.</p>\n");
    }

    // Totals, in the words of the text report.
    let _ = writeln!(
        h,
        "<p id=\"totals\">{} files in {} objects, {} groups; {} on disk ({} apparent)</p>",
        r.files,
        r.objects,
        r.groups,
        human_bytes(r.disk_bytes),
        human_bytes(r.size)
    );
    h.push_str("<div class=\"cards\">\n");
    for (value, label, title) in [
        (
            human_bytes(r.disk_bytes),
            "on disk",
            r.disk_bytes.to_string(),
        ),
        (r.objects.to_string(), "objects", String::new()),
        (r.files.to_string(), "files", String::new()),
        (r.groups.to_string(), "groups", String::new()),
        (human_bytes(r.size), "apparent size", r.size.to_string()),
    ] {
        let title = if title.is_empty() {
            String::new()
        } else {
            format!(" title=\"{title} bytes\"")
        };
        let _ = writeln!(
            h,
            "<div class=\"card\"{title}><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(label)
        );
    }
    h.push_str("</div>\n");

    // What each policy would reclaim.
    h.push_str("<h2>Reclaimable now (each policy alone)</h2>\n");
    let bars: Vec<Bar> = r
        .reclaim
        .iter()
        .map(|p| Bar {
            label: p.policy.clone(),
            value: p.disk_bytes,
            note: format!("{} · {} objects", human_bytes(p.disk_bytes), p.objects),
        })
        .collect();
    h.push_str(&hbars(&bars, "var(--b)", "reclaim"));
    h.push_str(&reclaim_table(&r.reclaim));

    let section = |name: &str| -> &[Row] {
        r.sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, rows)| rows.as_slice())
    };

    // Growth and last use, side by side.
    h.push_str("<div class=\"two\">\n<section>\n<h2>Growth over the scans</h2>\n");
    h.push_str(&growth(&r.history));
    h.push_str(&history_table(&r.history));
    h.push_str("</section>\n<section>\n<h2>Last used</h2>\n");
    h.push_str(&age_histogram(section("age")));
    h.push_str(&rows_table(section("age"), "age", "last used"));
    h.push_str("</section>\n</div>\n");

    for (name, title, colour, key) in [
        ("by_task", "Size by task", "var(--a)", "task"),
        (
            "by_pkgarch",
            "Size by architecture (PKGARCH)",
            "var(--c)",
            "PKGARCH",
        ),
        (
            "top_recipes",
            "Top recipes by size",
            "var(--d)",
            "recipe (PN)",
        ),
        (
            "by_extrapath",
            "Size by EXTRAPATH (host distro of native objects)",
            "var(--a)",
            "EXTRAPATH",
        ),
    ] {
        let rows = section(name);
        let _ = writeln!(h, "<h2>{}</h2>", esc(title));
        let bars: Vec<Bar> = rows
            .iter()
            .map(|row| Bar {
                label: key_label(&row.key).to_string(),
                value: row.disk_bytes,
                note: format!("{} · {} objects", human_bytes(row.disk_bytes), row.objects),
            })
            .collect();
        h.push_str(&hbars(&bars, colour, name));
        h.push_str(&rows_table(rows, name, key));
    }

    let d = &r.deps;
    let _ = writeln!(
        h,
        "<h2>Dependencies (from siginfo files)</h2>\n<p id=\"deps\">{} edges; {} objects needed by others; siginfo read {}, unreadable {}, not read yet {}</p>",
        d.edges, d.needed, d.read, d.unreadable, d.pending
    );

    h.push_str("<footer>Figures are those of <code>report --format json</code>, embedded below as JSON (element <code>#data</code>). Sizes are bytes on disk (as du), in powers of 1024.</footer>\n");
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"data\">{}</script>",
        json_in_html(&r.to_json())
    );
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// JSON safe inside a `<script>` element: every `<` (only ever inside a
/// string) written as `\u003c`, so no `</script>` or `<!--` can occur.
fn json_in_html(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn key_label(key: &str) -> &str {
    if key.is_empty() { "(none)" } else { key }
}

/// One bar of a horizontal bar chart.
struct Bar {
    label: String,
    value: u64,
    /// Written after the bar.
    note: String,
}

/// Horizontal bars, largest value = full width; labels left, notes right.
fn hbars(bars: &[Bar], colour: &str, id: &str) -> String {
    if bars.is_empty() {
        return "<p class=\"empty\">Nothing to show.</p>\n".to_string();
    }
    const ROW: f64 = 24.0;
    const LABEL: f64 = 260.0;
    const NOTE: f64 = 210.0;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let height = ROW * bars.len() as f64 + 8.0;
    let span = W - LABEL - NOTE;
    let mut s = format!(
        "<svg id=\"chart-{id}\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"{}\">\n",
        esc(id)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let w = if b.value == 0 {
            0.0
        } else {
            (span * b.value as f64 / max).max(1.5)
        };
        let label = truncate(&b.label, 36);
        let _ = writeln!(
            s,
            "<g><title>{}: {}</title><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{colour}\"/>\
             <text class=\"mut\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            esc(&b.label),
            esc(&b.note),
            LABEL - 8.0,
            y + 16.0,
            esc(&label),
            y + 3.0,
            ROW - 6.0,
            LABEL + w + 6.0,
            y + 16.0,
            esc(&b.note),
        );
    }
    s.push_str("</svg>\n");
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Columns: every age bucket, bytes on disk, objects written above.
fn age_histogram(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "<p class=\"empty\">No objects.</p>\n".to_string();
    }
    let buckets: Vec<(&str, u64, u64)> = AGE_BUCKETS
        .iter()
        .map(|b| {
            let row = rows.iter().find(|r| r.key == *b);
            (
                *b,
                row.map_or(0, |r| r.disk_bytes),
                row.map_or(0, |r| r.objects),
            )
        })
        .collect();
    let (w, h, top, bottom) = (500.0, 300.0, 36.0, 40.0);
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let slot = w / buckets.len() as f64;
    let mut s = format!(
        "<svg id=\"chart-age\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"last use histogram\">\n"
    );
    let base = h - bottom;
    let _ = writeln!(
        s,
        "<line class=\"grid\" x1=\"0\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\"/>"
    );
    for (i, (label, bytes, objects)) in buckets.iter().enumerate() {
        let label = esc(label);
        let x = slot * i as f64;
        let bh = if *bytes == 0 {
            0.0
        } else {
            ((base - top) * *bytes as f64 / max).max(1.5)
        };
        let cx = x + slot / 2.0;
        let _ = writeln!(
            s,
            "<g><title>{label}: {objects} objects, {}</title>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" rx=\"2\" fill=\"var(--c)\"/>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"mut\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{objects} obj</text>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text></g>",
            human_bytes(*bytes),
            x + slot * 0.15,
            base - bh,
            slot * 0.7,
            base - bh - 20.0,
            human_bytes(*bytes),
            base - bh - 5.0,
            base + 18.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Bytes on disk after each scan, against time.
fn growth(points: &[ScanPoint]) -> String {
    if points.is_empty() {
        return "<p class=\"empty\">The index records no scan yet.</p>\n".to_string();
    }
    let (w, h, left, right, top, bottom) = (500.0, 300.0, 70.0, 14.0, 14.0, 40.0);
    let times: Option<Vec<i64>> = points
        .iter()
        .map(|p| {
            chrono::DateTime::parse_from_rfc3339(&p.started_at)
                .ok()
                .map(|t| t.timestamp())
        })
        .collect();
    // A time axis only when every scan has its own second; else (times
    // that do not parse, scans in the same second) one step per scan.
    let xs: Vec<f64> = match &times {
        Some(t) if t.windows(2).all(|w| w[0] < w[1]) => t.iter().map(|&t| t as f64).collect(),
        _ => (0..points.len()).map(|i| i as f64).collect(),
    };
    let (x0, x1) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let max = points
        .iter()
        .map(|p| p.disk_bytes)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let px = |x: f64| {
        if x1 > x0 {
            left + (w - left - right) * (x - x0) / (x1 - x0)
        } else {
            left + (w - left - right) / 2.0
        }
    };
    let py = |b: u64| h - bottom - (h - bottom - top) * b as f64 / max;
    let mut s = format!(
        "<svg id=\"chart-growth\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"cache size after each scan\">\n"
    );
    for frac in [0.0, 0.5, 1.0] {
        let b = (max * frac) as u64;
        let y = py(b);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"mut\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            y + 4.0,
            human_bytes(b)
        );
    }
    let path: Vec<String> = points
        .iter()
        .zip(&xs)
        .map(|(p, &x)| format!("{:.1},{:.1}", px(x), py(p.disk_bytes)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline fill=\"none\" stroke=\"var(--a)\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for (p, &x) in points.iter().zip(&xs) {
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"var(--a)\"><title>{} ({}): {} objects, {}</title></circle>",
            px(x),
            py(p.disk_bytes),
            esc(&p.started_at),
            esc(&p.mode),
            p.objects,
            human_bytes(p.disk_bytes)
        );
    }
    let day = |p: &ScanPoint| esc(p.started_at.get(..10).unwrap_or(&p.started_at));
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let _ = writeln!(
        s,
        "<text class=\"mut\" x=\"{left}\" y=\"{:.1}\">{}</text>\
         <text class=\"mut\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        h - bottom + 20.0,
        day(first),
        w - right,
        h - bottom + 20.0,
        day(last)
    );
    let _ = writeln!(
        s,
        "<text class=\"mut\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} scans</text>",
        (left + w - right) / 2.0,
        h - 4.0,
        points.len()
    );
    s.push_str("</svg>\n");
    s
}

/// The exact figures of a breakdown, under its chart.
fn rows_table(rows: &[Row], id: &str, key: &str) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "<details><summary>Figures</summary><table id=\"table-{id}\"><thead><tr><th>{}</th><th>objects</th><th>files</th><th>bytes on disk</th><th></th></tr></thead><tbody>\n",
        esc(key)
    );
    for r in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(key_label(&r.key)),
            r.objects,
            r.files,
            r.disk_bytes,
            human_bytes(r.disk_bytes)
        );
    }
    s.push_str("</tbody></table></details>\n");
    s
}

fn reclaim_table(rows: &[Reclaim]) -> String {
    let mut s = String::from(
        "<table id=\"table-reclaim\"><thead><tr><th>policy</th><th>objects</th><th>files</th><th>bytes on disk</th><th></th><th>kept as dependencies</th></tr></thead><tbody>\n",
    );
    for p in rows {
        let kept = if p.kept_by_deps.objects > 0 {
            format!(
                "{} objects, {}",
                p.kept_by_deps.objects,
                human_bytes(p.kept_by_deps.disk_bytes)
            )
        } else {
            "none".to_string()
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.policy),
            p.objects,
            p.files,
            p.disk_bytes,
            human_bytes(p.disk_bytes),
            kept
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

fn history_table(points: &[ScanPoint]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<details><summary>Figures</summary><table id=\"table-history\"><thead><tr><th>scan started</th><th>mode</th><th>entries</th><th>objects</th><th>bytes on disk</th></tr></thead><tbody>\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.started_at),
            esc(&p.mode),
            p.entries,
            p.objects,
            p.disk_bytes
        );
    }
    s.push_str("</tbody></table></details>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_keys_and_json() {
        let r = Report {
            groups: 1,
            objects: 1,
            files: 2,
            disk_bytes: 4096,
            size: 10,
            sections: vec![(
                "by_task".into(),
                vec![Row {
                    key: "</script><b>".into(),
                    objects: 1,
                    files: 2,
                    disk_bytes: 4096,
                }],
            )],
            reclaim: vec![],
            deps: Default::default(),
            history: vec![],
        };
        let page = render(&r, &Meta::default());
        assert_eq!(page.matches("</script>").count(), 1, "{page}");
        assert!(!page.contains("<b>&lt;"), "{page}");
        assert!(page.contains("&lt;/script&gt;&lt;b&gt;"));
        assert!(page.contains("\\u003c/script>"));
    }
}
