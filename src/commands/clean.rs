//! The cleanup (the drop-in command), as a pipeline of stages:
//! scan → plan → show → confirm → apply → record → report.
//!
//! Each stage is a function of the previous stages' values; printing is
//! done by [`Render`] only, in text (the reference tool's lines) or JSON
//! (one document at the end).

use super::{Want, open_session, say, ui, warn};
use crate::cli::Format;
use crate::config::CleanConfig;
use anyhow::{Context, Result, bail};
use serde_json::json;
use sstate_cache_management::index::{Index, RunRecord, now_rfc3339, record_run};
use sstate_cache_management::plan::{self, Plan};
use sstate_cache_management::remove::{self, Mode, Progress, Totals};
use sstate_cache_management::scan::ScanReport;
use sstate_cache_management::trash;
use sstate_cache_management::units::human_bytes;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

/// What the apply stage did.
struct Applied {
    confirmed: bool,
    totals: Totals,
    /// Where a `--trash` run moved its files (relative to the cache root).
    trash_dir: Option<String>,
}

/// Milliseconds each stage took.
#[derive(Debug, Default, serde::Serialize)]
struct Timings {
    scan: u64,
    plan: u64,
    remove: u64,
    index_update: u64,
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Run a cleanup; returns the process exit code.
pub fn run(cfg: &CleanConfig) -> Result<i32> {
    if cfg.format == Format::Json && !cfg.dry_run && !cfg.yes {
        bail!(
            "--format json cannot answer the prompt: add -n (dry run) or -y (remove without asking)"
        );
    }
    let started_at = now_rfc3339();
    let render = Render { cfg };
    let mut timings = Timings::default();

    // scan, plan: nothing shown or removed yet, so an index found corrupt
    // here is rebuilt and the stages run again.
    let root_identity = root_identity(&cfg.cache.cache_root);
    let Prepared {
        mut index,
        scan,
        request,
        plan,
        locks: _locks,
    } = super::with_rebuild(&cfg.cache, || prepare(cfg, &mut timings))?;
    plan.warnings.iter().for_each(|w| warn(w));
    render.explain_plan(&index, &plan)?;

    // show, confirm. Without a prompt, interrupts are caught from here on
    // (with one, Ctrl-C at the prompt must still end the run at once).
    let signal = Arc::new(AtomicUsize::new(0));
    let mut guard = if cfg.yes && !cfg.dry_run {
        Some(InterruptGuard::install(&signal)?)
    } else {
        None
    };
    render.show_plan(&index, &plan)?;
    let confirmed = confirm(cfg)?;

    // apply
    let t = Instant::now();
    let trash_run = cfg.trash.then(trash::new_run_name);
    if confirmed && plan.count.objects > 0 {
        check_index_space(&index, plan.count.files)?;
    }
    let totals = if confirmed && plan.count.objects > 0 {
        if cfg.cache.verbose {
            eprintln!(
                "Removing {} files of {} objects with {} threads",
                plan.count.files, plan.count.objects, cfg.cache.jobs
            );
        }
        if guard.is_none() {
            guard = Some(InterruptGuard::install(&signal)?);
        }
        let mode = match &trash_run {
            None => Mode::Unlink,
            Some(name) => {
                let manifest = trash::Manifest {
                    started_at: started_at.clone(),
                    command: cfg.cache.command.clone(),
                    policies: request.policy_names(),
                };
                Mode::Trash {
                    rel_dir: match &index.store {
                        Some(store) => trash::store::begin(store, name, &manifest)?,
                        None => trash::begin(&cfg.cache.cache_root, name, &manifest)?,
                    },
                }
            }
        };
        let progress = Arc::new(Progress::default());
        let bar = super::progress::removing(
            cfg.cache.progress,
            &progress,
            plan.count.files,
            plan.count.disk_bytes,
            if cfg.trash {
                "Moving to the trash:"
            } else {
                "Removing:"
            },
        );
        let result = remove::apply(
            &index,
            &remove::Options {
                jobs: cfg.cache.jobs,
                mode,
                interrupt: &signal,
                progress: &progress,
                root_identity,
            },
        );
        drop(bar);
        result?
    } else {
        Totals::default()
    };
    timings.remove = ms(t);

    // record
    let t = Instant::now();
    let plan_json = serde_json::to_string(&plan).context("encoding the plan")?;
    let trash_dir = trash_run
        .as_ref()
        .filter(|_| confirmed && plan.count.objects > 0)
        .map(|n| format!("{}/{n}", trash::rel_dir()));
    let policies = request.policy_names();
    let recorded = record_run(
        &mut index,
        &RunRecord {
            started_at: &started_at,
            command: &cfg.cache.command,
            policies: &policies,
            dry_run: cfg.dry_run,
            confirmed,
            interrupted: totals.interrupted,
            selected: (plan.count.objects, plan.count.files, plan.count.disk_bytes),
            removed: (totals.removed_files, totals.removed_bytes),
            skipped_files: totals.skipped(),
            failed_files: totals.failed,
            plan_json: &plan_json,
            trash_dir: trash_dir.as_deref(),
            gone_word: if cfg.trash { "trashed" } else { "removed" },
        },
        confirmed && plan.count.objects > 0,
    );
    timings.index_update = ms(t);
    drop(guard);
    let run_id = match recorded {
        Ok(id) => id,
        Err(e) => {
            // What was removed is gone whatever the index says: say so
            // first; the next scan brings the index up to date.
            let applied = Applied {
                confirmed,
                totals,
                trash_dir,
            };
            render.result(&index, &scan, &plan, &applied, &timings)?;
            return Err(e.context(format!(
                "recording the cleanup in index {} (what the line above says was done is done; \
                 the next run's scan finds the index up to date again)",
                index.path.display()
            )));
        }
    };
    if cfg.cache.verbose {
        if let Some(s) = &index.store {
            eprintln!("Requests: {}", s.requests.summary());
        }
        eprintln!(
            "Timings: scan {}, plan {}, remove {}, index update {} (run #{run_id})",
            ui::millis(timings.scan),
            ui::millis(timings.plan),
            ui::millis(timings.remove),
            ui::millis(timings.index_update)
        );
    }

    // report
    let failed = render.problems(&index, &totals, confirmed)?;
    render.result(
        &index,
        &scan,
        &plan,
        &Applied {
            confirmed,
            totals,
            trash_dir,
        },
        &timings,
    )?;
    let sig = signal.load(std::sync::atomic::Ordering::Relaxed);
    Ok(if totals.interrupted && sig != 0 {
        128 + sig as i32
    } else if failed {
        1
    } else {
        0
    })
}

/// What the scan and plan stages hand on.
struct Prepared {
    index: Index,
    scan: ScanReport,
    request: plan::Request,
    plan: Plan,
    locks: Vec<sstate_cache_management::lock::Lock>,
}

/// The scan and plan stages.
fn prepare(cfg: &CleanConfig, timings: &mut Timings) -> Result<Prepared> {
    let t = Instant::now();
    let session = open_session(
        &cfg.cache,
        Want {
            stamps_dirs: &cfg.stamps_dirs,
            lock_cache: !cfg.dry_run,
            wait: true,
            check: !cfg.dry_run,
            memory_ok: cfg.dry_run,
        },
    )?;
    let (mut index, mut scan, stamps) = (session.index, session.scan, session.stamps);
    if !scan.leftovers.is_empty() {
        if cfg.dry_run {
            warn(&format!(
                "{} archives were left taken aside (*{}) by an interrupted removal; the next removal run puts them back",
                scan.leftovers.len(),
                remove::ASIDE
            ));
        } else {
            // This run holds the cache: put them back, and see them again.
            let n = remove::put_back(&cfg.cache.cache_root, &scan.leftovers)?;
            warn(&format!(
                "put back {n} archives an interrupted removal had taken aside"
            ));
            scan = super::rescan(&cfg.cache, &mut index)?;
        }
    }
    timings.scan = ms(t);

    let t = Instant::now();
    let request = cfg.request(stamps);
    let bar = super::progress::planning(cfg.cache.progress, &request.progress);
    let plan = plan::plan(&mut index, &request);
    drop(bar);
    let plan = plan?;
    timings.plan = ms(t);
    Ok(Prepared {
        index,
        scan,
        request,
        plan,
        locks: session._locks,
    })
}

/// Bytes of index (history rows, index updates, the WAL that holds them
/// until a checkpoint) one removed file costs, generously.
const INDEX_BYTES_PER_FILE: u64 = 1024;

/// Refuse to remove `files` files when the disk holding the index could
/// not record it: removing and then failing to say so is worse than not
/// starting.
fn check_index_space(index: &Index, files: u64) -> Result<()> {
    let dir = match index.path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d,
        None => std::path::Path::new("."),
    };
    let Ok(st) = rustix::fs::statvfs(dir) else {
        return Ok(()); // cannot tell: go on, SQLite will say if it fails
    };
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    let need = files.saturating_mul(INDEX_BYTES_PER_FILE) + (1 << 20);
    if free < need {
        bail!(
            "the disk holding the index {} is nearly full: recording the removal of {files} files needs about {}, \
             and {} are free. Nothing was removed; free some space there, or pass --index PATH on another disk",
            index.path.display(),
            human_bytes(need),
            human_bytes(free)
        );
    }
    Ok(())
}

/// (device, inode) of the cache root, to refuse a root swapped mid-run.
fn root_identity(root: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(root).ok().map(|m| (m.dev(), m.ino()))
}

/// SIGINT, SIGTERM and SIGHUP during the removal set `signal` (to the
/// signal number) instead of killing the process, so that the removal
/// stops at an object boundary and is recorded. Dropped: the default
/// actions are back.
struct InterruptGuard(Vec<signal_hook::SigId>);

impl InterruptGuard {
    fn install(signal: &Arc<AtomicUsize>) -> Result<InterruptGuard> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut ids = Vec::new();
        for s in [SIGINT, SIGTERM, SIGHUP] {
            ids.push(
                signal_hook::flag::register_usize(s, Arc::clone(signal), s as usize)
                    .context("installing the interrupt handler")?,
            );
        }
        Ok(InterruptGuard(ids))
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// The prompt, as the reference tool: only `y` or `Y` goes on.
fn confirm(cfg: &CleanConfig) -> Result<bool> {
    if cfg.dry_run {
        return Ok(false);
    }
    if cfg.yes {
        return Ok(true);
    }
    say("Do you want to continue (y/n)?")?;
    std::io::stdout().flush().context("writing to stdout")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer from stdin")?;
    Ok(matches!(answer.trim_end_matches(['\n', '\r']), "y" | "Y"))
}

/// The one place a cleanup prints.
struct Render<'a> {
    cfg: &'a CleanConfig,
}

impl Render<'_> {
    fn text(&self) -> bool {
        self.cfg.format == Format::Text
    }

    /// `-v`: what each policy and protection did, and what making the plan
    /// exact cost.
    fn explain_plan(&self, index: &Index, plan: &Plan) -> Result<()> {
        if !self.cfg.cache.verbose {
            return Ok(());
        }
        for s in &plan.stamps {
            eprintln!(
                "Stamps: {} in {} ({} distinct hashes, {} naming objects of this cache)",
                s.stamps,
                s.dir.display(),
                s.hashes,
                s.matched
            );
        }
        if let Some(e) = &plan.edges {
            eprintln!(
                "Dependencies: read {} siginfo files ({} unreadable) in {} rounds, {} edges added, {}",
                e.read,
                e.unreadable,
                e.rounds,
                e.edges,
                ui::millis(e.duration_ms)
            );
            for (path, why) in &e.samples {
                eprintln!("  unreadable siginfo {path}: {why}");
            }
        }
        eprintln!(
            "Plan: {} pass(es), policies {}; re-stat {} entries of {} objects ({} changed, {} gone) to see reuse, {}; counting {}",
            plan.passes,
            ui::millis(plan.select_ms),
            plan.restat.entries,
            plan.restat.objects,
            plan.restat.changed,
            plan.restat.gone,
            ui::millis(plan.restat.duration_ms),
            ui::millis(plan.summarise_ms)
        );
        for p in &plan.policies {
            eprintln!(
                "Policy {}: {} objects, {} files, {}",
                p.description,
                p.count.objects,
                p.count.files,
                human_bytes(p.count.disk_bytes)
            );
        }
        for p in &plan.protected {
            eprintln!(
                "Protected ({}): {} objects, {} files, {} kept",
                p.protection,
                p.count.objects,
                p.count.files,
                human_bytes(p.count.disk_bytes)
            );
        }
        if let Some(b) = &plan.budget {
            eprintln!(
                "Budget {}: {} now, {} after{}",
                human_bytes(b.budget),
                human_bytes(b.before),
                human_bytes(b.after),
                if b.met { "" } else { " (over budget)" }
            );
        }
        if let (Some(keep), Some(i)) = (
            self.cfg.duplicates,
            plan.policies.iter().position(|p| p.policy == "duplicates"),
        ) {
            explain_duplicates(index, i, keep)?;
        }
        Ok(())
    }

    /// `-D` paths, then the reference tool's summary line.
    fn show_plan(&self, index: &Index, plan: &Plan) -> Result<()> {
        if let Some(b) = plan.budget.as_ref().filter(|b| !b.met) {
            warn(&format!(
                "--max-size {}: what may not be removed (recently used, protected, or needed by what stays) \
                 takes {}; the cache stays over budget",
                human_bytes(b.budget),
                human_bytes(b.after)
            ));
        }
        if !self.text() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        if self.cfg.debug >= 1 {
            let dir = &self.cfg.cache.cache_dir;
            plan::for_each_path(index, |p| {
                if p.starts_with('/') {
                    writeln!(out, "{p}")
                } else {
                    writeln!(out, "{}", dir.join(p).display())
                }
                .context("writing to stdout")
            })?;
        }
        // The reference tool's line, byte for byte (bold on a terminal).
        let summary = format!(
            "{} out of {} files will be removed!",
            plan.count.files, plan.cache.entries
        );
        writeln!(
            out,
            "{}",
            ui::paint(ui::stdout_color(), ui::EMPHASIS, summary)
        )
        .context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
        drop(out);
        // The line after it goes to stderr: stdout stays exactly the
        // reference tool's, for the scripts that read it.
        if !self.cfg.cache.quiet {
            eprintln!("{}", self.frees(plan, ui::stderr_color()));
        }
        Ok(())
    }

    /// The line after the summary: what the plan frees, the cache's size
    /// before and after (bytes on disk of its entries, as `report`), and
    /// what each policy selected (policies may overlap: the total is
    /// their union).
    fn frees(&self, plan: &Plan, color: bool) -> String {
        let before = human_bytes(plan.cache.disk_bytes);
        if plan.count.objects == 0 {
            return format!("Frees nothing; the cache stays at {before}.");
        }
        let policies: Vec<String> = plan
            .policies
            .iter()
            .filter(|p| p.count.objects > 0)
            .map(|p| {
                format!(
                    "{}: {} file{}, {}",
                    p.policy,
                    p.count.files,
                    if p.count.files == 1 { "" } else { "s" },
                    human_bytes(p.count.disk_bytes)
                )
            })
            .collect();
        let freed = ui::paint(color, ui::FREED, human_bytes(plan.count.disk_bytes));
        let after = human_bytes(plan.after_bytes());
        let objects = format!(
            "{} object{}",
            plan.count.objects,
            if plan.count.objects == 1 { "" } else { "s" }
        );
        let policies = policies.join("; ");
        if self.cfg.trash {
            format!(
                "Moves {freed} in {objects} to the trash; the cache goes from {before} to {after} \
                 ({policies}; trash empty frees the space)."
            )
        } else {
            format!(
                "Frees {freed} in {objects}; the cache goes from {before} to {after} ({policies})."
            )
        }
    }

    /// Per-file problems on stderr; true if any file could not be removed.
    fn problems(&self, index: &Index, totals: &Totals, confirmed: bool) -> Result<bool> {
        if !confirmed || (totals.failed == 0 && totals.skipped() == 0) {
            return Ok(totals.failed > 0);
        }
        let show_skipped = self.cfg.cache.verbose || self.cfg.debug >= 1;
        let mut stmt = index
            .conn
            .prepare(
                "SELECT CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END, x.outcome
                 FROM temp.outcome x JOIN entry e ON e.id = x.entry_id
                 JOIN object o ON o.id = e.object_id JOIN dir d ON d.id = o.dir_id
                 ORDER BY 1",
            )
            .context("listing the files not removed")?;
        let mut rows = stmt.query([]).context("listing the files not removed")?;
        let dir = &self.cfg.cache.cache_dir;
        while let Some(r) = rows.next().context("listing the files not removed")? {
            let (path, outcome): (String, String) = (r.get(0)?, r.get(1)?);
            let path = dir.join(path);
            if let Some(why) = outcome.strip_prefix("failed:") {
                ui::error(&format!("could not remove {}: {why}", path.display()));
            } else if show_skipped {
                let why = match outcome.as_str() {
                    "skipped:gone" => "already gone",
                    "skipped:changed:new-entry" => {
                        "its object gained a file since the scan (in use by a build?); the object is kept"
                    }
                    "skipped:changed:link-target-used-since-scan" => {
                        "the file its link points at changed since the scan; the object is kept"
                    }
                    s if s.starts_with("skipped:changed") => {
                        "its object changed since the scan (used by a build?); the object is kept"
                    }
                    _ => continue,
                };
                eprintln!("Skipped {}: {why}", path.display());
            }
        }
        Ok(totals.failed > 0)
    }

    fn result(
        &self,
        index: &Index,
        scan: &ScanReport,
        plan: &Plan,
        applied: &Applied,
        timings: &Timings,
    ) -> Result<()> {
        let (confirmed, totals, trash_dir) = (
            applied.confirmed,
            &applied.totals,
            applied.trash_dir.as_deref(),
        );
        if self.text() {
            if let (true, Some(dir)) = (confirmed, trash_dir) {
                say(format!(
                    "Moved {} files ({}) to the trash {}, skipped {} (changed since indexed: {}, already gone: {}), failed {}.",
                    totals.removed_files,
                    human_bytes(totals.removed_bytes),
                    self.cfg.cache.cache_dir.join(dir).display(),
                    totals.skipped(),
                    totals.skipped_changed,
                    totals.skipped_gone,
                    totals.failed
                ))?;
                if let Some(run) = dir.rsplit('/').next() {
                    say(format!(
                        "Undo with: sstate-cache-management trash restore {run}"
                    ))?;
                }
            } else if confirmed {
                say(format!(
                    "Removed {} files ({} freed), skipped {} (changed since indexed: {}, already gone: {}), failed {}.",
                    totals.removed_files,
                    human_bytes(totals.removed_bytes),
                    totals.skipped(),
                    totals.skipped_changed,
                    totals.skipped_gone,
                    totals.failed
                ))?;
                if totals.interrupted {
                    say(format!(
                        "Interrupted: {} files were not reached; the next run carries on from what is on disk.",
                        totals.not_attempted
                    ))?;
                }
            }
            return Ok(());
        }
        let doc = json!({
            "cache_dir": self.cfg.cache.cache_dir,
            "index": index.path,
            "dry_run": self.cfg.dry_run,
            "scan": scan,
            "plan": {
                "policies": plan.policies,
                "protected": plan.protected,
                "objects": plan.count.objects,
                "files": plan.count.files,
                "disk_bytes": plan.count.disk_bytes,
                "total_files": plan.cache.entries,
                "cache": plan.cache,
                "after_disk_bytes": plan.after_bytes(),
                "budget": plan.budget,
                "stamps": plan.stamps,
                "restat": plan.restat,
                "passes": plan.passes,
                "edges": plan.edges,
                "link_targets": plan.link_targets,
            },
            "timings_ms": timings,
            "requests": index.store.as_ref().map(|s| s.requests.counts()),
            "trash_dir": trash_dir,
            "result": if confirmed { json!({
                "removed_files": totals.removed_files,
                "removed_bytes": totals.removed_bytes,
                "removed_objects": totals.removed_objects,
                "skipped_changed": totals.skipped_changed,
                "skipped_objects": totals.skipped_objects,
                "skipped_gone": totals.skipped_gone,
                "failed": totals.failed,
                "interrupted": totals.interrupted,
                "not_attempted": totals.not_attempted,
                "targets_removed": totals.targets_removed,
                "skipped": if totals.skipped() + totals.failed > 0 { skipped_json(index)? } else { Vec::new() },
            }) } else { serde_json::Value::Null },
        });
        say(serde_json::to_string_pretty(&doc).context("encoding JSON")?)?;
        Ok(())
    }
}

/// `-v` with `-d`: for each group of more than one object, the objects
/// it keeps and why (on stderr).
fn explain_duplicates(index: &Index, policy: usize, keep: u32) -> Result<()> {
    let what = "explaining the duplicates (-v)";
    let mut stmt = index
        .conn
        .prepare(
            "WITH g AS (
                 SELECT group_id, count(*) AS n, max(archive_mtime_ns) AS amax
                 FROM object GROUP BY group_id HAVING count(*) > 1
             )
             SELECT CASE WHEN d.path = '' THEN o.stem ELSE d.path || '/' || o.stem END,
                    gr.task = 'populate_lic', g.n, g.amax IS NOT NULL,
                    o.archive_mtime_ns, o.last_used_ns,
                    CASE WHEN g.amax IS NOT NULL AND o.archive_mtime_ns = g.amax THEN 1
                         WHEN g.amax IS NULL AND o.last_used_ns =
                              (SELECT max(o2.last_used_ns) FROM object o2 WHERE o2.group_id = o.group_id) THEN 1
                         ELSE 0 END,
                    (SELECT count(*) FROM object o2 WHERE o2.group_id = o.group_id AND
                        CASE WHEN g.amax IS NULL THEN o2.last_used_ns = o.last_used_ns
                             ELSE o2.archive_mtime_ns = o.archive_mtime_ns END) - 1,
                    (SELECT p.why FROM temp.protected p WHERE p.id = o.id),
                    EXISTS (SELECT 1 FROM temp.selection x WHERE x.id = o.id AND x.policy = ?1),
                    EXISTS (SELECT 1 FROM object o2 JOIN dir d2 ON d2.id = o2.dir_id
                            WHERE o2.group_id = o.group_id AND d2.unreadable <> 0),
                    (SELECT count(*) FROM object o2 WHERE o2.group_id = o.group_id
                        AND o2.id IN (SELECT id FROM temp.selected))
             FROM g JOIN object o ON o.group_id = g.group_id
             JOIN grp gr ON gr.id = g.group_id JOIN dir d ON d.id = o.dir_id
             WHERE o.id NOT IN (SELECT id FROM temp.selected)
             ORDER BY gr.pn, gr.task, gr.pkgarch, gr.extrapath, 1",
        )
        .context(what)?;
    let mut rows = stmt.query([policy as i64]).context(what)?;
    let when = |ns: i64| {
        chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    let mut lic_objects = 0u64;
    eprintln!("Duplicates: what each group of more than one object keeps, and why");
    while let Some(r) = rows.next().context(what)? {
        let path: String = r.get(0)?;
        let (lic, n, has_archive): (bool, i64, bool) = (r.get(1)?, r.get(2)?, r.get(3)?);
        let (archive_ns, last_ns): (Option<i64>, i64) = (r.get(4)?, r.get(5)?);
        let (newest, ties): (bool, i64) = (r.get(6)?, r.get(7)?);
        let protected: Option<String> = r.get(8)?;
        let (dup_selected, unreadable, going): (bool, bool, i64) =
            (r.get(9)?, r.get(10)?, r.get(11)?);
        if lic {
            lic_objects += 1;
            continue;
        }
        let tie = match ties {
            0 => String::new(),
            1 => ", tied with 1 other".to_string(),
            t => format!(", tied with {t} others"),
        };
        let why = match (dup_selected, protected.as_deref()) {
            (true, Some(p)) => format!(
                "-d would remove it, but {}",
                match p {
                    "in-use" => "it was used since this run started (a build is using it)",
                    "keep-newer-than" => "it was used within --keep-newer-than",
                    "deps" => "an object that stays depends on it",
                    "unreadable" => "its directory cannot be read",
                    _ => "a protection keeps it",
                }
            ),
            _ if unreadable => {
                "its group has objects in a directory that cannot be read: -d takes none of it"
                    .to_string()
            }
            _ if n <= i64::from(keep) => format!("the group has no more than {keep} objects"),
            _ => match (has_archive, archive_ns) {
                (true, Some(t)) if newest => format!("newest archive, {}{tie}", when(t)),
                (true, Some(t)) => format!("one of the {keep} newest archives, {}{tie}", when(t)),
                (true, None) => "kept, though it has no archive".to_string(),
                (false, _) if newest => format!(
                    "newest file, {}{tie}; no object of the group has an archive",
                    when(last_ns)
                ),
                (false, _) => format!(
                    "one of the {keep} newest, {}{tie}; no object of the group has an archive",
                    when(last_ns)
                ),
            },
        };
        eprintln!("  keeps {path}: {why}; {going} of {n} objects of its group go");
    }
    if lic_objects > 0 {
        eprintln!(
            "  ({lic_objects} objects of populate_lic groups are never touched: they duplicate in normal builds)"
        );
    }
    Ok(())
}

/// The files a confirmed run did not remove, with why.
fn skipped_json(index: &Index) -> Result<Vec<serde_json::Value>> {
    let mut stmt = index
        .conn
        .prepare(
            "SELECT CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END, x.outcome
             FROM temp.outcome x JOIN entry e ON e.id = x.entry_id
             JOIN object o ON o.id = e.object_id JOIN dir d ON d.id = o.dir_id
             ORDER BY 1",
        )
        .context("listing the files not removed")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(json!({"path": r.get::<_, String>(0)?, "outcome": r.get::<_, String>(1)?}))
        })
        .context("listing the files not removed")?;
    rows.collect::<rusqlite::Result<_>>()
        .context("listing the files not removed")
}
