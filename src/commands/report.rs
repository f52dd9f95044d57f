//! `report`: what is in the cache, without writing SQL.

use super::{open_and_scan, warn};
use crate::cli::TableFormat;
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use sstate_cache_management::policy::{Policy, stamps};
use sstate_cache_management::report::{self, Report, Row};
use sstate_cache_management::units::human_bytes;
use std::path::PathBuf;

pub fn run(cfg: &CacheConfig, stamps_dirs: &[PathBuf], format: TableFormat) -> Result<i32> {
    let stamps_policy = if stamps_dirs.is_empty() {
        None
    } else {
        let found = stamps::collect(stamps_dirs)?;
        found.warnings.iter().for_each(|w| warn(w));
        Some(Policy::Stamps(found.hashes))
    };
    let (index, _) = open_and_scan(cfg)?;
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let r = report::build(&index, stamps_policy, now_ns)?;
    let out = match format {
        TableFormat::Table => text(cfg, &r),
        TableFormat::Json => {
            serde_json::to_string_pretty(&json(&r)).context("encoding JSON")? + "\n"
        }
        TableFormat::Csv => csv(&r),
    };
    print!("{out}");
    Ok(0)
}

/// The JSON shape (documented in the README): totals at the top level,
/// `sections` an object of arrays, `reclaim` an array.
fn json(r: &Report) -> serde_json::Value {
    serde_json::json!({
        "groups": r.groups,
        "objects": r.objects,
        "files": r.files,
        "disk_bytes": r.disk_bytes,
        "size": r.size,
        "sections": r.sections.iter().map(|(name, rows)| (name.clone(), serde_json::to_value(rows).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        "reclaim": r.reclaim,
    })
}

/// One CSV table for everything: section,key,objects,files,disk_bytes.
fn csv(r: &Report) -> String {
    let mut out = String::from("section,key,objects,files,disk_bytes\n");
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    out.push_str(&format!(
        "total,,{},{},{}\n",
        r.objects, r.files, r.disk_bytes
    ));
    for (name, rows) in &r.sections {
        for row in rows {
            out.push_str(&format!(
                "{name},{},{},{},{}\n",
                quote(&row.key),
                row.objects,
                row.files,
                row.disk_bytes
            ));
        }
    }
    for p in &r.reclaim {
        out.push_str(&format!(
            "reclaim,{},{},{},{}\n",
            p.policy, p.objects, p.files, p.disk_bytes
        ));
    }
    out
}

fn text(cfg: &CacheConfig, r: &Report) -> String {
    let mut out = format!(
        "Cache {}: {} files in {} objects, {} groups; {} on disk ({} apparent)\n",
        cfg.cache_dir.display(),
        r.files,
        r.objects,
        r.groups,
        human_bytes(r.disk_bytes),
        human_bytes(r.size)
    );
    let titles = [
        ("by_task", "By task"),
        ("by_pkgarch", "By PKGARCH"),
        (
            "by_extrapath",
            "By EXTRAPATH (host distro of native objects)",
        ),
        ("top_recipes", "Top recipes by size"),
        ("age", "Last used"),
    ];
    for (name, rows) in &r.sections {
        let title = titles
            .iter()
            .find(|(n, _)| n == name)
            .map_or(name.as_str(), |(_, t)| t);
        out.push('\n');
        out.push_str(&section(title, rows));
    }
    out.push_str("\nReclaimable now (each policy alone)\n");
    let width = r.reclaim.iter().map(|p| p.policy.len()).max().unwrap_or(0);
    for p in &r.reclaim {
        out.push_str(&format!(
            "  {:<width$}  {:>8} objects  {:>9} files  {:>10}\n",
            p.policy,
            p.objects,
            p.files,
            human_bytes(p.disk_bytes)
        ));
    }
    out
}

fn section(title: &str, rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.key.len().max(6)).max().unwrap_or(6);
    let mut out = format!("{title}\n");
    for row in rows {
        let key = if row.key.is_empty() {
            "(none)"
        } else {
            row.key.as_str()
        };
        out.push_str(&format!(
            "  {key:<width$}  {:>8} objects  {:>9} files  {:>10}\n",
            row.objects,
            row.files,
            human_bytes(row.disk_bytes)
        ));
    }
    out
}
