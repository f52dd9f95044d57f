//! `report --html FILE`: one self-contained page whose figures are those of
//! `report --format json`, embedded as JSON and shown as text and charts.

use crate::common::*;
use crate::report::known_cache;
use serde_json::Value;
use std::fs;

/// The JSON of `<script type="application/json" id="data">`.
fn embedded_data(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"data\">";
    let start = page.find(open).expect("the page embeds its data") + open.len();
    let len = page[start..]
        .find("</script>")
        .expect("the data element ends");
    serde_json::from_str(&page[start..start + len]).expect("the embedded data is JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn html_report_shows_the_json_figures() {
    let k = known_cache();
    // Two scans before the report: the growth chart has history.
    k.cache.sub("scan", &[]).expect_code(0);
    k.cache.sub("scan", &[]).expect_code(0);
    let page_path = k.cache.outside("report.html");
    let page_arg = page_path.to_str().expect("temp path is UTF-8");
    let doc = stdout_json(
        &k.cache
            .sub("report", &["--format", "json", "--html", page_arg]),
    );
    let page = fs::read_to_string(&page_path).expect("the page was written");

    // The embedded data is exactly what the same run printed.
    assert_eq!(embedded_data(&page), doc);
    assert_eq!(doc["objects"], k.objs.len());
    // A separate JSON report agrees on everything but the scan history
    // (each report may add a scan).
    let mut again = stdout_json(&k.cache.sub("report", &["--format", "json"]));
    let mut data = embedded_data(&page);
    let history = data["history"].take();
    again["history"].take();
    assert_eq!(data, again);

    // Visible totals, in the words of the text report.
    assert!(
        page.contains(&format!(
            "{} files in {} objects, {} groups; ",
            doc["files"], doc["objects"], doc["groups"]
        )),
        "{page}"
    );
    // Every row of every section and every policy, with its exact figures.
    for (name, rows) in doc["sections"].as_object().expect("sections") {
        let rows = rows.as_array().expect("rows");
        assert!(!rows.is_empty(), "{name} has rows");
        for r in rows {
            let key = r["key"].as_str().expect("key");
            let key = if key.is_empty() { "(none)" } else { key };
            let key = key
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            let row = format!(
                "<tr><td>{key}</td><td>{}</td><td>{}</td><td>{}</td>",
                r["objects"], r["files"], r["disk_bytes"]
            );
            assert!(page.contains(&row), "{name}: no {row}");
        }
    }
    let reclaim = doc["reclaim"].as_array().expect("reclaim");
    assert!(reclaim.iter().any(|p| u(&p["objects"]) > 0));
    for p in reclaim {
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            p["policy"].as_str().expect("policy"),
            p["objects"],
            p["files"],
            p["disk_bytes"]
        );
        assert!(page.contains(&row), "no {row}");
    }

    // The charts: one per breakdown, the histogram, growth and reclaim;
    // each bar of the task chart is labelled with its task.
    for id in [
        "by_task",
        "by_pkgarch",
        "by_extrapath",
        "top_recipes",
        "age",
        "growth",
        "reclaim",
    ] {
        assert!(
            page.contains(&format!("<svg id=\"chart-{id}\"")),
            "no chart {id}"
        );
    }
    let task_chart = &page[page.find("<svg id=\"chart-by_task\"").expect("task chart")..];
    let task_chart = &task_chart[..task_chart.find("</svg>").expect("chart ends")];
    for r in doc["sections"]["by_task"].as_array().expect("by_task") {
        let label = format!(">{}</text>", r["key"].as_str().expect("key"));
        assert!(task_chart.contains(&label), "no bar {label}");
    }
    // Growth: the scans so far, oldest first, the last as the cache is.
    let history = history.as_array().expect("history").clone();
    assert!(history.len() >= 3, "{history:?}");
    let last = history.last().expect("a scan");
    assert_eq!(last["disk_bytes"], doc["disk_bytes"]);
    assert_eq!(last["objects"], doc["objects"]);
    assert_eq!(history[0]["mode"], "cold");
    assert!(page.contains(&format!("{} scans</text>", history.len())));

    // Self-contained: nothing fetched, nothing run.
    for banned in [
        "http:", "https:", "<link", " src=", "url(", "<iframe", "<img",
    ] {
        assert!(!page.contains(banned), "the page contains {banned}");
    }
    assert_eq!(page.matches("<script").count(), 1);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
}

#[test]
fn html_report_to_an_impossible_path_fails_and_writes_nothing() {
    let k = known_cache();
    let page_path = k.cache.outside("no-such-dir/report.html");
    let run = k.cache.sub(
        "report",
        &["--html", page_path.to_str().expect("temp path is UTF-8")],
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("writing the HTML report"),
        "{}",
        run.stderr
    );
    assert!(!page_path.exists());
    assert!(!page_path.parent().expect("parent").exists());
}
