//! `report`: what is in the cache, without writing SQL.

use super::{Want, open_session, say, warn};
use crate::cli::TableFormat;
use crate::config::CacheConfig;
use anyhow::{Context, Result};
use rusqlite::types::Value;
use sstate_cache_management::index::Index;
use sstate_cache_management::lock;
use sstate_cache_management::plan::Request;
use sstate_cache_management::policy::{Policy, stamps};
use sstate_cache_management::report::{self, Report, Row, Table};
use sstate_cache_management::units::human_bytes;
use std::path::{Path, PathBuf};

/// Ages the report shows `--older-than` for, as (label, days).
const AGES: &[(&str, i64)] = &[("older-than 30d", 30), ("older-than 90d", 90)];

pub fn run(
    cfg: &CacheConfig,
    stamps_dirs: &[PathBuf],
    format: TableFormat,
    html: Option<&Path>,
) -> Result<i32> {
    // Everything is printed at the end: a corrupt index found on the way
    // is rebuilt and the report made again.
    super::with_rebuild(cfg, || report_once(cfg, stamps_dirs, format, html))
}

fn report_once(
    cfg: &CacheConfig,
    stamps_dirs: &[PathBuf],
    format: TableFormat,
    html: Option<&Path>,
) -> Result<i32> {
    // Never wait for a cleanup: when one holds the index, report what the
    // index holds as of its last scan, read-only.
    let session = match open_session(
        cfg,
        Want {
            stamps_dirs,
            lock_cache: false,
            wait: false,
            check: false,
            memory_ok: true,
        },
    ) {
        Ok(s) => Some(s),
        Err(e) if e.downcast_ref::<lock::Busy>().is_some() && cfg.index_path.exists() => {
            warn(&format!(
                "{e:#}; reporting the index as of its last scan instead (figures may be stale)"
            ));
            None
        }
        Err(e) => return Err(e),
    };
    let (mut index, stamps, read_only) = match session {
        Some(s) => (s.index, s.stamps, false),
        None => {
            stamps::check_dirs(stamps_dirs)?;
            let stamps = (!stamps_dirs.is_empty())
                .then(|| stamps::collect(stamps_dirs))
                .transpose()?;
            (
                Index::open_read_only(&cfg.index_path, &cfg.cache_root)?,
                stamps,
                true,
            )
        }
    };
    let now_ns = crate::config::now_ns();
    let one = |p: Policy| Request {
        policies: vec![p],
        allow_unmatched_stamps: true,
        read_only,
        jobs: cfg.jobs,
        ..Request::default()
    };
    let mut reclaim = vec![
        (
            "duplicates".to_string(),
            one(Policy::Duplicates { keep: 1 }),
        ),
        ("orphans".to_string(), one(Policy::Orphans)),
    ];
    if let Some(dirs) = stamps {
        reclaim.push(("stamps".to_string(), one(Policy::Stamps(dirs))));
    }
    for (label, days) in AGES {
        reclaim.push((
            label.to_string(),
            one(Policy::OlderThan {
                cutoff_ns: now_ns - days * 86_400 * 1_000_000_000,
                spec: format!("{days}d"),
            }),
        ));
    }
    // The report is where dependencies are looked at: know all of them
    // (a cleanup reads only the siginfo files its plan needs).
    if !read_only {
        use sstate_cache_management::{deps, progress::Counters};
        let counters = std::sync::Arc::new(Counters::default());
        let bar = super::progress::reading_siginfo(cfg.progress, &counters);
        let read = deps::update(&mut index, cfg.jobs, deps::Scope::All, &counters);
        drop(bar);
        read?;
    }
    let r = report::build(&mut index, &reclaim, now_ns)?;
    if let Some(path) = html {
        // The page is made from the same `Report` value as the output
        // below, and embeds what `--format json` prints.
        let page = report::html::render(
            &r,
            &report::html::Meta {
                cache_dir: cfg.cache_dir.display().to_string(),
                generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                version: env!("CARGO_PKG_VERSION").to_string(),
                stale: read_only,
            },
        );
        write_file(path, page.as_bytes())?;
    }
    let out = match format {
        TableFormat::Table => text(cfg, &r),
        TableFormat::Json => {
            serde_json::to_string_pretty(&r.to_json()).context("encoding JSON")? + "\n"
        }
        TableFormat::Csv => csv(&r),
    };
    say(out.trim_end_matches('\n'))?;
    Ok(0)
}

/// One CSV table for everything: section,key,objects,files,disk_bytes.
fn csv(r: &Report) -> String {
    let row = |section: &str, key: &str, objects: u64, files: u64, bytes: u64| {
        vec![
            Value::Text(section.to_string()),
            Value::Text(key.to_string()),
            Value::Integer(objects as i64),
            Value::Integer(files as i64),
            Value::Integer(bytes as i64),
        ]
    };
    let mut rows = vec![row("total", "", r.objects, r.files, r.disk_bytes)];
    for (name, section) in &r.sections {
        rows.extend(
            section
                .iter()
                .map(|x| row(name, &x.key, x.objects, x.files, x.disk_bytes)),
        );
    }
    rows.extend(
        r.reclaim
            .iter()
            .map(|p| row("reclaim", &p.policy, p.objects, p.files, p.disk_bytes)),
    );
    let columns = ["section", "key", "objects", "files", "disk_bytes"]
        .map(String::from)
        .to_vec();
    Table { columns, rows }.to_csv()
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
            "  {:<width$}  {:>8} objects  {:>9} files  {:>10}",
            p.policy,
            p.objects,
            p.files,
            human_bytes(p.disk_bytes)
        ));
        if p.kept_by_deps.objects > 0 {
            out.push_str(&format!(
                "  (dependencies of kept objects keep {} more objects, {})",
                p.kept_by_deps.objects,
                human_bytes(p.kept_by_deps.disk_bytes)
            ));
        }
        out.push('\n');
    }
    let d = &r.deps;
    out.push_str(&format!(
        "\nDependencies (from siginfo files)\n  {} edges; {} objects needed by others; siginfo read {}, unreadable {}, not read yet {}\n",
        d.edges, d.needed, d.read, d.unreadable, d.pending
    ));
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

/// Write `bytes` to `path` whole or not at all: into a temporary file
/// beside it, then renamed over it (a page published from CI is never
/// seen half written).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("--html {}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing the HTML report to {}", path.display()))
}
