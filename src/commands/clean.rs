//! The cleanup (the drop-in command): scan, plan, confirm, remove, record.

use super::scan_with_stamps;
use crate::cli::Format;
use crate::config::CacheConfig;
use anyhow::{Context, Result, bail};
use serde_json::json;
use sstate_cache_management::index::record_removal;
use sstate_cache_management::policy::{self, Policy};
use sstate_cache_management::remove::{self, Outcome, RemovalTotals};
use sstate_cache_management::units::human_bytes;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

/// A resolved cleanup request.
pub struct CleanConfig {
    pub cache: CacheConfig,
    pub duplicates: bool,
    pub orphans: bool,
    pub stamps_dirs: Vec<PathBuf>,
    pub dry_run: bool,
    pub yes: bool,
    pub debug: u8,
    pub format: Format,
}

/// Run a cleanup; returns the process exit code.
pub fn run(cfg: &CleanConfig) -> Result<i32> {
    let verbose = cfg.cache.verbose;
    if cfg.format == Format::Json && !cfg.dry_run && !cfg.yes {
        bail!(
            "--format json cannot answer the prompt: add -n (dry run) or -y (remove without asking)"
        );
    }
    let (mut index, scan, stamps_policy) = scan_with_stamps(&cfg.cache, &cfg.stamps_dirs)?;
    let policies: Vec<Policy> = [
        cfg.duplicates.then_some(Policy::Duplicates),
        stamps_policy,
        cfg.orphans.then_some(Policy::Orphans),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Entries are needed to list paths (-D) or to remove; a plain dry run
    // needs only the counts.
    let with_entries = cfg.debug >= 1 || !cfg.dry_run;
    let t_plan = Instant::now();
    let plan = policy::plan(&index, &policies, with_entries)?;
    let plan_ms = t_plan.elapsed().as_millis() as u64;
    if verbose {
        for p in &plan.policies {
            eprintln!(
                "Policy {}: {} objects, {} files, {}",
                p.policy,
                p.objects,
                p.files,
                human_bytes(p.disk_bytes)
            );
        }
    }

    let text = cfg.format == Format::Text;
    if text {
        let mut out = std::io::stdout().lock();
        if cfg.debug >= 1 {
            let mut paths: Vec<&str> = plan.entries.iter().map(|e| e.rel_path.as_str()).collect();
            paths.sort_unstable();
            for p in paths {
                writeln!(out, "{}", cfg.cache.cache_dir.join(p).display())
                    .context("writing to stdout")?;
            }
        }
        writeln!(
            out,
            "{} out of {} files will be removed!",
            plan.files, plan.total_entries
        )
        .context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }

    let confirmed = if cfg.dry_run {
        false
    } else if cfg.yes {
        true
    } else {
        println!("Do you want to continue (y/n)?");
        std::io::stdout().flush().context("writing to stdout")?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer from stdin")?;
        matches!(answer.trim_end_matches(['\n', '\r']), "y" | "Y")
    };

    let mut remove_ms = 0;
    let (outcomes, totals) = if confirmed && !plan.entries.is_empty() {
        if verbose {
            eprintln!(
                "Removing {} files with {} threads",
                plan.entries.len(),
                cfg.cache.jobs
            );
        }
        let t_remove = Instant::now();
        let outcomes = remove::remove(&cfg.cache.cache_root, &plan.entries, cfg.cache.jobs)?;
        remove_ms = t_remove.elapsed().as_millis() as u64;
        let totals = remove::totals(&plan.entries, &outcomes);
        (outcomes, totals)
    } else {
        (Vec::new(), RemovalTotals::default())
    };
    let t_record = Instant::now();
    record_removal(
        &mut index,
        &plan,
        &outcomes,
        &totals,
        cfg.dry_run,
        confirmed,
    )
    .with_context(|| format!("recording the cleanup in index {}", index.path.display()))?;
    let record_ms = t_record.elapsed().as_millis() as u64;
    if verbose {
        eprintln!(
            "Timings: scan {} ms, plan {plan_ms} ms, remove {remove_ms} ms, index update {record_ms} ms",
            scan.duration_ms
        );
    }

    let failures: Vec<(&str, &str)> = plan
        .entries
        .iter()
        .zip(&outcomes)
        .filter_map(|(e, o)| match o {
            Outcome::Failed(why) => Some((e.rel_path.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    for (path, why) in &failures {
        eprintln!(
            "error: could not remove {}: {why}",
            cfg.cache.cache_dir.join(path).display()
        );
    }

    if text {
        if verbose || cfg.debug >= 1 {
            for (e, o) in plan.entries.iter().zip(&outcomes) {
                let why = match o {
                    Outcome::SkippedChanged => "changed since it was indexed (in use by a build?)",
                    Outcome::SkippedGone => "already gone",
                    _ => continue,
                };
                eprintln!(
                    "Skipped {}: {why}",
                    cfg.cache.cache_dir.join(&e.rel_path).display()
                );
            }
        }
        if confirmed {
            println!(
                "Removed {} files ({} freed), skipped {} (changed since indexed: {}, already gone: {}), failed {}.",
                totals.removed_files,
                human_bytes(totals.removed_bytes),
                totals.skipped(),
                totals.skipped_changed,
                totals.skipped_gone,
                totals.failed
            );
        }
    } else {
        let doc = json!({
            "cache_dir": cfg.cache.cache_dir,
            "index": cfg.cache.index_path,
            "dry_run": cfg.dry_run,
            "scan": scan,
            "plan": {
                "policies": plan.policies,
                "objects": plan.objects,
                "files": plan.files,
                "disk_bytes": plan.disk_bytes,
                "total_files": plan.total_entries,
            },
            "timings_ms": {
                "scan": scan.duration_ms,
                "plan": plan_ms,
                "remove": remove_ms,
                "index_update": record_ms,
            },
            "result": if confirmed { json!({
                "removed_files": totals.removed_files,
                "removed_bytes": totals.removed_bytes,
                "skipped_changed": totals.skipped_changed,
                "skipped_gone": totals.skipped_gone,
                "failed": totals.failed,
                "skipped": plan.entries.iter().zip(&outcomes)
                    .filter(|(_, o)| !matches!(o, Outcome::Removed))
                    .map(|(e, o)| json!({"path": e.rel_path, "outcome": o.as_text()}))
                    .collect::<Vec<_>>(),
            }) } else { serde_json::Value::Null },
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding JSON")?
        );
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}
