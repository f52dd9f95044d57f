//! Planning a cleanup: which objects go, and why.
//!
//! 1. Each policy selects objects (SQL over the index, `policy/`).
//! 2. The union is taken; protections take objects back: objects in
//!    directories that could not be read, objects used since the run
//!    started (a build is using them now), objects used within
//!    `--keep-newer-than`, and (dependency retention) everything an object
//!    that stays depends on, transitively.
//! 3. `--max-size` then adds the least recently used objects until what
//!    stays fits.
//!
//! **Exact on a warm index.** Builds mark reuse by touching files in place,
//! which the incremental scan cannot see. The decisions of the last-use
//! policies depend only on the objects they select (and, for `-d`, on kept
//! objects tied with others): every other object's indexed mtime can only
//! be older than the truth (a touch moves mtime forward), which cannot
//! change its fate. So the planner re-stats exactly those objects, writes
//! back what changed, and plans again until a pass finds nothing new: the
//! result is the plan a fresh scan would give, at the cost of one `lstat`
//! per entry of what is selected. (An mtime moved backwards in place, e.g.
//! by `cp -p` onto an existing file, is only seen by `--full-rescan`.)
//!
//! The plan lives in temp tables of the index connection (`temp.selected`
//! and friends), so it is never held in memory; [`Plan`] carries the
//! counts.

use crate::deps::{self, EdgeReport};
use crate::index::{self, Index, Totals};
use crate::policy::{self, Policy, size::SizeSelection};
use crate::progress::Counters;
use crate::scan::{self, RestatReport};
use anyhow::{Context, Result, bail};
use rusqlite::{named_params, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub policies: Vec<Policy>,
    /// `--keep-newer-than`: (cutoff in ns, as the user wrote it).
    pub keep_newer_than: Option<(i64, String)>,
    /// When the run started (ns): an object used since then is in use by a
    /// build right now and is never selected, whatever the policy.
    pub run_started_ns: Option<i64>,
    /// `--keep-deps` (Some(true)), `--no-keep-deps` (Some(false)), or the
    /// default: on for `--older-than` and `--max-size`.
    pub keep_deps: Option<bool>,
    /// Go on when a stamps dir names no object of the cache.
    pub allow_unmatched_stamps: bool,
    /// `-L`: also plan the targets of symlink entries with the same name.
    pub follow_symlinks: bool,
    /// The plan will be applied: re-stat every selected object at planning
    /// time, so that the removal's re-check compares with the disk as it
    /// was when the plan was made (not with a stale index), and a file
    /// touched after that (say, while the prompt waits) keeps its object.
    pub fresh_baseline: bool,
    /// The index may not be written (another run holds it): plan from what
    /// it holds, without re-stats or reading siginfo files.
    pub read_only: bool,
    /// Trust the re-stats of the previous plan on this connection (a
    /// report plans several policies within seconds).
    pub reuse_restats: bool,
    /// A later plan on this connection will trust this one's re-stats
    /// (`reuse_restats`): note every object re-stat-ed. Otherwise they are
    /// noted only for a later pass of this plan.
    pub record_restats: bool,
    pub jobs: usize,
    /// Bumped by the re-stats and the siginfo reading of the plan.
    pub progress: Arc<Counters>,
}

impl Request {
    /// What the plan's re-stats look at: only objects with an archive
    /// (what BitBake touches in place), unless the removal needs the
    /// whole selection as its baseline (`fresh_baseline`).
    pub fn restat_reach(&self) -> scan::Reach {
        if self.fresh_baseline {
            scan::Reach::All
        } else {
            scan::Reach::Archives
        }
    }

    /// Whether dependency retention may take back what `p` selected.
    pub fn deps_apply_to(&self, p: &Policy) -> bool {
        self.keep_deps.unwrap_or_else(|| p.keeps_deps_by_default())
    }

    fn needs_edges(&self) -> bool {
        self.policies.iter().any(|p| self.deps_apply_to(p))
    }

    /// Whether the plan looks objects up by unihash (dependency edges,
    /// stamps, the `deps` view a custom query may read).
    fn needs_lookup_indexes(&self) -> bool {
        self.needs_edges()
            || self.policies.iter().any(|p| {
                matches!(
                    p,
                    Policy::Stamps(_) | Policy::Custom(_) | Policy::MaxSize { .. }
                )
            })
    }

    /// The positions of the policies `keep` accepts, as an SQL list
    /// (`0,2`; empty when none: skip the statement then, since an empty
    /// `IN ()` scans the table it filters).
    fn policy_ids(&self, keep: impl Fn(usize, &Policy) -> bool) -> String {
        self.policies
            .iter()
            .enumerate()
            .filter(|&(i, p)| keep(i, p))
            .map(|(i, _)| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The policy names, in order, e.g. `duplicates,orphans`.
    pub fn policy_names(&self) -> String {
        self.policies
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub use crate::policy::Count;

/// What one policy selected that is in the final plan.
#[derive(Debug, Clone, Serialize)]
pub struct PolicySummary {
    pub policy: &'static str,
    pub description: String,
    #[serde(flatten)]
    pub count: Count,
}

/// What a protection took back from the policies.
#[derive(Debug, Clone, Serialize)]
pub struct Protection {
    /// `unreadable`, `keep-newer-than` or `deps`.
    pub protection: String,
    #[serde(flatten)]
    pub count: Count,
}

/// One stamps dir: stamps read, distinct hashes, and how many of them name
/// an object of the cache.
#[derive(Debug, Clone, Serialize)]
pub struct StampsSummary {
    pub dir: PathBuf,
    pub stamps: u64,
    pub hashes: u64,
    pub matched: u64,
}

/// `--max-size` in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetSummary {
    pub budget: u64,
    /// What the cache holds before the cleanup and what it will hold.
    pub before: u64,
    pub after: u64,
    /// False when what may not be removed already exceeds the budget.
    pub met: bool,
}

/// The plan, in numbers; the objects themselves are in `temp.selected`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Plan {
    pub policies: Vec<PolicySummary>,
    pub protected: Vec<Protection>,
    /// The union, each object once.
    #[serde(flatten)]
    pub count: Count,
    /// What the index holds (entries = the M of "N out of M files").
    pub cache: Totals,
    pub budget: Option<BudgetSummary>,
    pub stamps: Vec<StampsSummary>,
    /// Re-stats that made the plan exact, and how many planning passes.
    pub restat: RestatReport,
    pub passes: u32,
    pub edges: Option<EdgeReport>,
    /// `-L` targets planned for removal.
    pub link_targets: u64,
    /// Milliseconds in the policies' queries, in re-stats, in counting.
    pub select_ms: u64,
    pub summarise_ms: u64,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Plan {
    /// Bytes on disk the cache holds after the plan is applied.
    pub fn after_bytes(&self) -> u64 {
        self.cache.disk_bytes.saturating_sub(self.count.disk_bytes)
    }
}

const TEMP_TABLES: &str = "
CREATE TEMP TABLE IF NOT EXISTS selection(policy INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (policy, id)) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS selected(id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS protected(id INTEGER PRIMARY KEY, why TEXT NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS deps_scope(id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS dup_ties(id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS restat_todo(id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS restat_done(id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS fresh_dir(id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS link_target(entry_id INTEGER PRIMARY KEY, path TEXT NOT NULL,
    ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
";

/// Plan a cleanup. Fails before selecting anything when a precondition
/// does not hold (stamps that name nothing, a custom query that is not a
/// read-only selection, dependencies that cannot be known).
pub fn plan(index: &mut Index, req: &Request) -> Result<Plan> {
    let mut plan = Plan::default();
    let scan_totals = index.scan_totals.take();
    index
        .conn
        .execute_batch(TEMP_TABLES)
        .context("creating the planning tables")?;
    index
        .conn
        .execute_batch(if req.reuse_restats {
            "DELETE FROM temp.link_target;"
        } else {
            "DELETE FROM temp.restat_done; DELETE FROM temp.link_target;"
        })
        .context("clearing the planning tables")?;
    check_preconditions(index, req, &mut plan)?;
    if req.needs_lookup_indexes() && !req.read_only {
        crate::index::ensure_lookup_indexes(&index.conn)?;
    }
    let edges = req.needs_edges() && !req.read_only;
    // --max-size orders everything by effective last use: it needs every
    // edge. Protection alone needs only the edges out of objects that stay.
    let all_edges = req
        .policies
        .iter()
        .any(|p| matches!(p, Policy::MaxSize { .. }) && req.deps_apply_to(p));
    if edges && all_edges {
        plan.edges = Some(deps::update(
            index,
            req.jobs,
            deps::Scope::All,
            &req.progress,
        )?);
    }
    let duplicates = req
        .policies
        .iter()
        .position(|p| matches!(p, Policy::Duplicates { .. }));
    let mut after_restat = false;
    // What `-d` selected, kept up to date across passes (see `summarise`).
    let mut dup_tally = None;
    loop {
        plan.passes += 1;
        let t = std::time::Instant::now();
        // With `-d`, a pass after a re-stat judges again only the groups
        // it changed.
        let regrouped = duplicates.filter(|_| after_restat);
        let beside = match (duplicates, regrouped) {
            (Some(_), None) => duplicates_beside(index, req),
            _ => Vec::new(),
        };
        let budget = select_once(
            &index.conn,
            req,
            regrouped,
            &mut dup_tally,
            (beside, edges_beside(index, req)),
        )?;
        plan.select_ms += t.elapsed().as_millis() as u64;
        if edges && !all_edges {
            // Objects this pass keeps (or protects) whose edges are not
            // known yet: read them and protect again, until what is kept
            // has all its edges (one level of the dependency graph each).
            loop {
                let more = deps::update(index, req.jobs, deps::Scope::KeptClosure, &req.progress)?;
                let read = more.read;
                add_edges(&mut plan, more);
                if read == 0 {
                    break;
                }
                reprotect_deps(&index.conn, req, edges_beside(index, req))?;
            }
        }
        index
            .conn
            .execute_batch("DELETE FROM temp.restat_todo;")
            .context("clearing the planning tables")?;
        // (After a scan that listed every directory, nothing is stale.)
        let todo = if req.read_only || index.listed_all {
            0
        } else {
            restat_candidates(&index.conn, req, regrouped)?
        };
        if todo > 0 {
            let mut r = scan::restat(index, req.restat_reach(), req.jobs, &req.progress)?;
            plan.restat.add(&r);
            // (Only a later pass or plan asks what was re-stat-ed: 20 ms
            // for the 141k objects of a warm `-d` at 300k when none does.)
            if r.changed + r.gone > 0 || req.record_restats {
                mark_restat_done(&index.conn)?;
            }
            if r.changed + r.gone > 0 && duplicates.is_some() {
                // The next pass judges the groups of what changed again,
                // and may then select objects of theirs it kept so far
                // (never re-stat-ed): re-stat those now, so that pass
                // finds nothing new to check and is the last one.
                let more = restat_group_siblings(index, req)?;
                r.changed += more.changed;
                r.gone += more.gone;
                plan.restat.add(&more);
            }
            if r.changed + r.gone > 0 {
                // The disk differs from the index where the plan looked:
                // plan again on the corrected index.
                after_restat = true;
                if edges {
                    let scope = if all_edges {
                        deps::Scope::All
                    } else {
                        deps::Scope::KeptClosure
                    };
                    let again = deps::update(index, req.jobs, scope, &req.progress)?;
                    add_edges(&mut plan, again);
                }
                continue;
            }
        }
        let t = std::time::Instant::now();
        // (What the scan counted, with what the re-stats changed.)
        let totals = scan_totals.map(|t| plan.restat.totals_delta.apply(t));
        summarise(
            &index.conn,
            req,
            (budget, dup_tally.as_ref()),
            totals,
            &mut plan,
        )?;
        plan.summarise_ms = t.elapsed().as_millis() as u64;
        break;
    }
    if req.follow_symlinks {
        plan.link_targets = plan_link_targets(index, &mut plan.warnings)?;
    }
    Ok(plan)
}

fn add_edges(plan: &mut Plan, more: EdgeReport) {
    match plan.edges.as_mut() {
        Some(e) => {
            e.read += more.read;
            e.unreadable += more.unreadable;
            e.edges += more.edges;
            e.rounds += more.rounds;
            e.duration_ms += more.duration_ms;
            e.samples.extend(more.samples);
        }
        None => plan.edges = Some(more),
    }
}

fn check_preconditions(index: &Index, req: &Request, plan: &mut Plan) -> Result<()> {
    let conn = &index.conn;
    for p in &req.policies {
        match p {
            Policy::Stamps(dirs) => {
                policy::load_stamps(conn, dirs)?;
                let matched = policy::stamps_matched(conn, dirs)?;
                for (d, &m) in dirs.iter().zip(&matched) {
                    plan.stamps.push(StampsSummary {
                        dir: d.dir.clone(),
                        stamps: d.stamps as u64,
                        hashes: d.hashes.len() as u64,
                        matched: m,
                    });
                    if let Some(hint) = d.layout_hint() {
                        plan.warnings.push(hint);
                    }
                    if m == 0 {
                        let msg = format!(
                            "--stamps-dir {}: none of its {} stamps names an object in this cache; \
                             is it the stamps dir of a build that uses {} as SSTATE_DIR?",
                            d.dir.display(),
                            d.stamps,
                            index.cache_root.display()
                        );
                        if !req.allow_unmatched_stamps {
                            bail!(
                                "{msg} Nothing was planned (every object would be selected); \
                                 pass --allow-unmatched-stamps to go on anyway"
                            );
                        }
                        plan.warnings.push(msg);
                    }
                }
            }
            Policy::Custom(c) => c.validate(conn)?,
            _ => {}
        }
    }
    if req.needs_edges() {
        // Any directory this scan could not read may hold objects that
        // need what this run would remove (what an earlier scan saw there
        // may have changed since: a chmod is a change too).
        let unknown: Option<String> = conn
            .query_row(
                "SELECT path FROM dir WHERE unreadable <> 0 ORDER BY path LIMIT 1",
                [],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .context("looking for unreadable directories")?;
        if let Some(dir) = unknown {
            bail!(
                "cannot keep dependencies safely: the directory {} of the cache could not be read, \
                 and objects in it may need objects this run would remove. Make it readable, or pass \
                 --no-keep-deps to plan without dependency retention",
                index.cache_root.join(dir).display()
            );
        }
    }
    Ok(())
}

/// One planning pass over the index as it is now: fills temp.selection,
/// temp.selected and temp.protected. With `regrouped` (the position of
/// `-d`), the pass before ran on this request and the re-stat since changed
/// only the objects in temp.touched (temp.touched_group: the groups of
/// those it emptied and dropped): `-d` judges again only the groups of
/// those objects, and keeps what it decided for every other group (none of
/// their objects changed).
/// Read-only connections for `-d` over the whole index to read parts of
/// its groups beside the main one: one fewer than the CPUs it may use (at
/// most 4), none if the index cannot have them.
fn duplicates_beside(index: &Index, req: &Request) -> Vec<rusqlite::Connection> {
    let n = Index::reader_threads(req.jobs) - 1;
    if n == 0 {
        return Vec::new();
    }
    index.side_readers(n).unwrap_or_default()
}

/// A read-only connection for dependency retention to read the edges on
/// while the main one reads its sets (when retention applies, with more
/// than one CPU for it).
fn edges_beside(index: &Index, req: &Request) -> Option<rusqlite::Connection> {
    if !req.needs_edges() || Index::reader_threads(req.jobs) < 2 {
        return None;
    }
    index.side_readers(1).and_then(|mut c| c.pop())
}

fn select_once(
    conn: &rusqlite::Connection,
    req: &Request,
    regrouped: Option<usize>,
    dup_tally: &mut Option<DupTally>,
    (mut beside, edges_beside): (Vec<rusqlite::Connection>, Option<rusqlite::Connection>),
) -> Result<Option<SizeSelection>> {
    let regroup = regrouped.is_some();
    // A regrouped pass with `-d` alone changes its selection only for the
    // objects judged again: the union of the policies (temp.selected) is
    // then mended for those, not rebuilt from the whole selection (two
    // statements over 141k rows at 300k objects). What was protected goes
    // back in, to be judged by the protections again.
    let mend_union = regroup && req.policies.len() == 1;
    if let Some(d) = regrouped {
        let clear_union = if mend_union {
            "INSERT OR IGNORE INTO temp.selected SELECT id FROM temp.protected;
             DELETE FROM temp.protected;
             DELETE FROM temp.selected WHERE id IN (SELECT id FROM temp.rejudged);"
        } else {
            "DELETE FROM temp.selected; DELETE FROM temp.protected;"
        };
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS touched_group(group_id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS regroup(group_id INTEGER PRIMARY KEY);
             DELETE FROM temp.regroup;
             INSERT OR IGNORE INTO temp.regroup {CHANGED_GROUPS};
             CREATE TEMP TABLE IF NOT EXISTS rejudged(id INTEGER PRIMARY KEY);
             DELETE FROM temp.rejudged;
             INSERT OR IGNORE INTO temp.rejudged SELECT object_id FROM temp.touched;
             INSERT OR IGNORE INTO temp.rejudged
                 SELECT o.id FROM object o WHERE o.group_id IN (SELECT group_id FROM temp.regroup);
             DELETE FROM temp.dup_ties WHERE id IN (SELECT id FROM temp.rejudged);
             {clear_union}"
        ))
        .context("choosing the groups to judge again")?;
        // (By key: a scan of the whole selection cost 10 ms a pass at
        // 300k objects.)
        let others = req.policy_ids(|i, _| i != d);
        let others_sql = if others.is_empty() {
            String::new()
        } else {
            format!("DELETE FROM temp.selection WHERE policy IN ({others});")
        };
        conn.execute_batch(&format!(
            "{others_sql}
             DELETE FROM temp.selection WHERE policy = {d}
                 AND id IN (SELECT id FROM temp.rejudged);"
        ))
        .context("choosing the groups to judge again")?;
    } else {
        conn.execute_batch(
            "DELETE FROM temp.selection; DELETE FROM temp.selected; DELETE FROM temp.protected;
             DELETE FROM temp.dup_ties;",
        )
        .context("clearing the planning tables")?;
    }
    let any_unreadable: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM dir WHERE unreadable <> 0)",
            [],
            |r| r.get(0),
        )
        .context("looking for unreadable directories")?;
    for (i, p) in req.policies.iter().enumerate() {
        let what = || format!("running the {} policy", p.name());
        match p {
            Policy::Duplicates { keep } => {
                let tally = policy::duplicates::select(
                    conn,
                    *keep,
                    i as i64,
                    regroup,
                    std::mem::take(&mut beside),
                )
                .with_context(what)?;
                // What the count of the plan would add up again: over
                // every group, or the earlier tally with the groups
                // judged again replaced (their selection is all that a
                // regrouped pass dropped).
                *dup_tally = match (dup_tally.take(), regroup, any_unreadable) {
                    (_, _, true) => None,
                    (_, false, false) => Some(tally),
                    (None, true, false) => None,
                    (Some(mut before), true, false) => {
                        let groups: Vec<i64> = conn
                            .prepare("SELECT group_id FROM temp.regroup")
                            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
                            .with_context(what)?;
                        before.rejudge(&groups, tally);
                        Some(before)
                    }
                };
                if any_unreadable {
                    // A group with objects that could not be seen may have a
                    // newer one among them: -d takes nothing from it.
                    conn.execute(
                        "DELETE FROM temp.selection WHERE policy = ?1 AND id IN (
                             SELECT o.id FROM object o WHERE o.group_id IN (
                                 SELECT o2.group_id FROM object o2 JOIN dir d ON d.id = o2.dir_id
                                 WHERE d.unreadable <> 0))",
                        [i as i64],
                    )
                    .with_context(what)?;
                }
            }
            Policy::OlderThan { cutoff_ns, .. } => {
                // Read, then stored in id order: inserted as the index
                // returns them (by group), the temp B-trees took twice
                // as long.
                let ids: Vec<i64> = conn
                    .prepare(include_str!("policy/age.sql"))
                    .and_then(|mut stmt| {
                        stmt.query_map(named_params! {":cutoff": cutoff_ns}, |r| r.get(0))?
                            .collect()
                    })
                    .with_context(what)?;
                conn.execute(
                    "INSERT INTO temp.selection(policy, id) SELECT ?1, value FROM rarray(?2)",
                    params![i as i64, index::id_array(ids)],
                )
                .with_context(what)?;
            }
            Policy::Custom(c) => {
                conn.execute(
                    &format!(
                        "INSERT OR IGNORE INTO temp.selection(policy, id) SELECT ?1, id FROM ({})",
                        c.selection_sql()
                    ),
                    [i as i64],
                )
                .with_context(what)?;
            }
            Policy::Orphans | Policy::Stamps(_) => {
                let sql = p.sql().unwrap_or_default();
                conn.execute(
                    &format!("INSERT INTO temp.selection(policy, id) SELECT ?1, id FROM ({sql})"),
                    [i as i64],
                )
                .with_context(what)?;
            }
            Policy::MaxSize { .. } => {}
        }
    }
    let union = match regrouped {
        Some(d) if mend_union => format!(
            "INSERT OR IGNORE INTO temp.selected(id) SELECT r.id FROM temp.rejudged r
             WHERE EXISTS (SELECT 1 FROM temp.selection x WHERE x.policy = {d} AND x.id = r.id);"
        ),
        _ => "INSERT OR IGNORE INTO temp.selected(id) SELECT id FROM temp.selection;".to_string(),
    };
    conn.execute_batch(&union)
        .context("taking the union of the policies")?;
    protect(conn, req, any_unreadable, edges_beside)?;

    let mut budget = None;
    for (i, p) in req.policies.iter().enumerate() {
        if let Policy::MaxSize { bytes, .. } = p {
            let with_deps = req.deps_apply_to(p);
            // Objects used since the earlier of the two cutoffs may not go
            // (the budget runs after the protections, so it applies them).
            let pin_from = [
                req.keep_newer_than.as_ref().map(|(c, _)| *c),
                req.run_started_ns,
            ]
            .into_iter()
            .flatten()
            .min();
            let sel = policy::size::select(conn, *bytes, pin_from, with_deps, any_unreadable)?;
            // The ids bound as one array (a statement per id cost more
            // than the budget's whole ordering). Dependency retention
            // for what the budget reached ran over its graph (ties and
            // cycles of the ordering: never remove what a kept object
            // needs, even if the budget is then missed): those objects
            // are recorded as the budget's and protected.
            let ids = index::id_array(sel.selected.clone());
            let kept = index::id_array(sel.kept_for_deps.clone());
            conn.execute(
                "INSERT OR IGNORE INTO temp.selection(policy, id) SELECT ?1, value FROM rarray(?2)",
                params![i as i64, ids.clone()],
            )
            .context("--max-size: recording the selection")?;
            conn.execute(
                "INSERT OR IGNORE INTO temp.selected(id) SELECT value FROM rarray(?1)",
                [ids],
            )
            .context("--max-size: recording the selection")?;
            if !sel.kept_for_deps.is_empty() {
                conn.execute(
                    "INSERT OR IGNORE INTO temp.selection(policy, id) SELECT ?1, value FROM rarray(?2)",
                    params![i as i64, kept.clone()],
                )
                .context("--max-size: recording what dependency retention keeps")?;
                conn.execute(
                    "INSERT OR IGNORE INTO temp.protected(id, why) SELECT value, 'deps' FROM rarray(?1)",
                    [kept],
                )
                .context("--max-size: recording what dependency retention keeps")?;
            }
            budget = Some(sel);
        }
    }
    Ok(budget)
}

/// Dependency retention again, with more edges known: the objects it took
/// back go back into the selection, and it runs anew (the other
/// protections stand). Only without --max-size, whose budget would have
/// to run again too.
fn reprotect_deps(
    conn: &rusqlite::Connection,
    req: &Request,
    edges_beside: Option<rusqlite::Connection>,
) -> Result<()> {
    conn.execute_batch(
        "DELETE FROM temp.protected WHERE why = 'deps';
         INSERT OR IGNORE INTO temp.selected(id)
         SELECT id FROM temp.selection WHERE id NOT IN (SELECT id FROM temp.protected);",
    )
    .context("keeping the dependencies of kept objects")?;
    protect_deps(conn, req, edges_beside)
}

/// Apply the protections to temp.selected (those of `--max-size`'s own
/// choices are its own, see `policy::size`). `any_unreadable`: some
/// directory of the index could not be read.
fn protect(
    conn: &rusqlite::Connection,
    req: &Request,
    any_unreadable: bool,
    edges_beside: Option<rusqlite::Connection>,
) -> Result<()> {
    if any_unreadable {
        conn.execute_batch(
            "INSERT OR IGNORE INTO temp.protected(id, why)
             SELECT s.id, 'unreadable' FROM temp.selected s
             JOIN object o ON o.id = s.id JOIN dir d ON d.id = o.dir_id WHERE d.unreadable <> 0;",
        )
        .context("protecting objects of unreadable directories")?;
    }
    // Objects used at or after a cutoff (the first protection to match
    // names it).
    let cutoffs = [
        (req.run_started_ns, "in-use", "objects used during this run"),
        (
            req.keep_newer_than.as_ref().map(|(c, _)| *c),
            "keep-newer-than",
            "recently used objects",
        ),
    ];
    for (cutoff, why, what) in cutoffs {
        if let Some(cutoff) = cutoff {
            conn.execute(
                "INSERT OR IGNORE INTO temp.protected(id, why)
                 SELECT s.id, ?2 FROM temp.selected s
                 JOIN object o ON o.id = s.id WHERE o.last_used_ns >= ?1",
                params![cutoff, why],
            )
            .with_context(|| format!("protecting {what}"))?;
        }
    }
    conn.execute_batch("DELETE FROM temp.selected WHERE id IN (SELECT id FROM temp.protected);")
        .context("applying the protections")?;
    protect_deps(conn, req, edges_beside)
}

/// Dependency retention over temp.selected (see `deps/protect.rs`);
/// `edges_beside` reads the edges meanwhile, if there is one.
fn protect_deps(
    conn: &rusqlite::Connection,
    req: &Request,
    edges_beside: Option<rusqlite::Connection>,
) -> Result<()> {
    if !req.needs_edges() {
        return Ok(());
    }
    // What a policy out of its scope selected stays selected.
    let out_of_scope = req.policy_ids(|_, p| !req.deps_apply_to(p));
    let unless = if out_of_scope.is_empty() {
        String::new()
    } else {
        format!(
            "WHERE NOT EXISTS (SELECT 1 FROM temp.selection x
                               WHERE x.id = s.id AND x.policy IN ({out_of_scope}))"
        )
    };
    conn.execute_batch(&format!(
        "DELETE FROM temp.deps_scope;
         INSERT INTO temp.deps_scope(id) SELECT s.id FROM temp.selected s {unless};"
    ))
    .context("choosing what dependency retention may keep")?;
    deps::protect(conn, edges_beside)?;
    conn.execute_batch(
        "DELETE FROM temp.selected WHERE id IN (SELECT id FROM temp.protected WHERE why = 'deps');",
    )
    .context("keeping the dependencies of kept objects")?;
    Ok(())
}

/// The groups a re-stat changed: those of the objects it changed
/// (temp.touched), and those of the objects it dropped, which are gone from
/// `object` (temp.touched_group, filled by `refresh_objects.sql`).
const CHANGED_GROUPS: &str =
    "SELECT group_id FROM object WHERE id IN (SELECT object_id FROM temp.touched)
     UNION SELECT group_id FROM temp.touched_group";

/// The objects of temp.restat_todo were re-stat-ed (and temp.restat_todo
/// may be left empty). The first time in a plan the to-do table simply
/// becomes the done one: copying the 145k ids of a warm `-d` at 300k
/// objects row by row took 18 ms.
fn mark_restat_done(conn: &rusqlite::Connection) -> Result<()> {
    let none_yet: bool = conn
        .query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM temp.restat_done)",
            [],
            |r| r.get(0),
        )
        .context("noting re-stat-ed objects")?;
    conn.execute_batch(if none_yet {
        "DROP TABLE temp.restat_done;
         ALTER TABLE temp.restat_todo RENAME TO restat_done;
         CREATE TEMP TABLE restat_todo(id INTEGER PRIMARY KEY);"
    } else {
        "INSERT OR IGNORE INTO temp.restat_done SELECT id FROM temp.restat_todo;"
    })
    .context("noting re-stat-ed objects")
}

/// After a re-stat that changed objects, with `-d`: re-stat the objects of
/// their groups (and of the groups of objects gone) that no pass re-stat-ed
/// yet, i.e. the ones `-d` kept. Judging such a group again may select
/// them, and without this the pass after would re-stat them and plan a
/// third time. temp.touched and temp.touched_group end up holding what
/// both re-stats changed, as the next pass's regrouping expects.
fn restat_group_siblings(index: &mut Index, req: &Request) -> Result<RestatReport> {
    index
        .conn
        .execute_batch(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS touched_group(group_id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS touched_before(object_id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS touched_group_before(group_id INTEGER PRIMARY KEY);
             DELETE FROM temp.touched_before; DELETE FROM temp.touched_group_before;
             INSERT INTO temp.touched_before SELECT object_id FROM temp.touched;
             INSERT INTO temp.touched_group_before {CHANGED_GROUPS};
             DELETE FROM temp.restat_todo;
             -- (CROSS JOIN: without statistics on the temp table, SQLite
             -- scanned every object for the few groups.)
             INSERT INTO temp.restat_todo(id)
                 SELECT o.id FROM temp.touched_group_before g CROSS JOIN object o ON o.group_id = g.group_id
                 WHERE o.id NOT IN (SELECT id FROM temp.restat_done)
                   AND o.dir_id NOT IN (SELECT id FROM temp.fresh_dir);"
        ))
        .context("choosing the other objects of changed groups to re-stat")?;
    if todo_count(&index.conn)? == 0 {
        return Ok(RestatReport::default());
    }
    let r = scan::restat(index, req.restat_reach(), req.jobs, &req.progress)?;
    mark_restat_done(&index.conn)?;
    // (Only a re-stat that changed something recomputes touched_group.)
    let keep_groups = if r.changed + r.gone > 0 {
        "INSERT OR IGNORE INTO temp.touched_group SELECT group_id FROM temp.touched_group_before;"
    } else {
        ""
    };
    index
        .conn
        .execute_batch(&format!(
            "INSERT OR IGNORE INTO temp.touched SELECT object_id FROM temp.touched_before;
             {keep_groups}"
        ))
        .context("noting re-stat-ed objects")?;
    Ok(r)
}

/// Fill temp.restat_todo with the objects whose fresh mtimes could change
/// this pass's plan and that were not re-stat-ed yet; returns how many.
/// `regrouped`: this pass judged only some groups again for the `-d`
/// policy at that index; what it kept of that policy's earlier selection
/// was re-stat-ed already, so only the objects judged again can be new.
fn restat_candidates(
    conn: &rusqlite::Connection,
    req: &Request,
    regrouped: Option<usize>,
) -> Result<u64> {
    // (Those re-stat-ed by an earlier pass are left out as they are read:
    // inserting the whole selection again and deleting them after cost
    // 50 ms a pass at 300k objects.)
    let others = |keep: &dyn Fn(&Policy) -> bool| -> String {
        req.policy_ids(|i, p| Some(i) != regrouped && keep(p))
    };
    let mut sql = String::new();
    if let Some(d) = regrouped {
        sql.push_str(&format!(
            "INSERT OR IGNORE INTO temp.restat_todo(id) SELECT r.id FROM temp.rejudged r
             WHERE EXISTS (SELECT 1 FROM temp.selection x WHERE x.policy = {d} AND x.id = r.id)
               AND r.id NOT IN (SELECT id FROM temp.restat_done);"
        ));
    }
    if req.fresh_baseline {
        match regrouped {
            None => sql.push_str(
                "INSERT OR IGNORE INTO temp.restat_todo(id) SELECT id FROM temp.selected
                 WHERE id NOT IN (SELECT id FROM temp.restat_done);",
            ),
            Some(_) => {
                // What `-d` newly selected is among the objects judged
                // again; the other policies ran over everything.
                sql.push_str(
                    "INSERT OR IGNORE INTO temp.restat_todo(id) SELECT r.id FROM temp.rejudged r
                     WHERE r.id IN (SELECT id FROM temp.selected)
                       AND r.id NOT IN (SELECT id FROM temp.restat_done);",
                );
                let all = others(&|_| true);
                if !all.is_empty() {
                    sql.push_str(&format!(
                        "INSERT OR IGNORE INTO temp.restat_todo(id) SELECT x.id FROM temp.selection x
                         WHERE x.policy IN ({all}) AND x.id IN (SELECT id FROM temp.selected)
                           AND x.id NOT IN (SELECT id FROM temp.restat_done);"
                    ));
                }
            }
        }
    }
    // (`run_started_ns` needs no widening: a run that removes re-stats
    // its whole selection anyway, see `fresh_baseline`. An empty `IN ()`
    // would scan the selection.)
    let dependent = others(&|p| p.uses_last_use() || req.keep_newer_than.is_some());
    if !dependent.is_empty() {
        sql.push_str(&format!(
            "INSERT OR IGNORE INTO temp.restat_todo(id) SELECT id FROM temp.selection
             WHERE policy IN ({dependent}) AND id NOT IN (SELECT id FROM temp.restat_done);"
        ));
    }
    sql.push_str(
        "INSERT OR IGNORE INTO temp.restat_todo(id) SELECT id FROM temp.dup_ties
         WHERE id NOT IN (SELECT id FROM temp.restat_done);
         -- Objects in directories this run's scan listed were stat-ed then.
         DELETE FROM temp.restat_todo WHERE id IN (
             SELECT o.id FROM object o WHERE o.dir_id IN (SELECT id FROM temp.fresh_dir));",
    );
    conn.execute_batch(&sql)
        .context("choosing what to re-stat")?;
    todo_count(conn)
}

/// How many objects temp.restat_todo holds.
fn todo_count(conn: &rusqlite::Connection) -> Result<u64> {
    conn.query_row("SELECT count(*) FROM temp.restat_todo", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .context("counting what to re-stat")
}

fn count(conn: &rusqlite::Connection, sql: &str, p: impl rusqlite::Params) -> Result<Count> {
    conn.query_row(sql, p, |r| {
        Ok(Count {
            objects: r.get::<_, i64>(0)? as u64,
            files: r.get::<_, i64>(1)? as u64,
            disk_bytes: r.get::<_, i64>(2)? as u64,
        })
    })
    .context("counting the plan")
}

/// What `-d` selected (see `carried_count`).
type DupTally = policy::duplicates::Tally;

/// The plan's count without a lookup of every selected object (60 ms at
/// 300k objects), when `-d` is the only policy and nothing was protected
/// from it: its selection is the plan, and the sums it took from the same
/// index rows as it judged (every group in the first pass, then the
/// groups each re-stat changed, which are all it selects differently)
/// are the count.
fn carried_count(
    conn: &rusqlite::Connection,
    req: &Request,
    dup_tally: Option<&DupTally>,
) -> Result<Option<Count>> {
    let ([Policy::Duplicates { .. }], Some(tally)) = (req.policies.as_slice(), dup_tally) else {
        return Ok(None);
    };
    let selected: i64 = conn
        .query_row("SELECT count(*) FROM temp.selected", [], |r| r.get(0))
        .context("counting the plan")?;
    Ok((selected as u64 == tally.total.objects).then_some(tally.total))
}

fn summarise(
    conn: &rusqlite::Connection,
    req: &Request,
    (budget, dup_tally): (Option<SizeSelection>, Option<&DupTally>),
    totals: Option<Totals>,
    plan: &mut Plan,
) -> Result<()> {
    const SUMS: &str = "count(*), coalesce(sum(o.n_entries), 0), coalesce(sum(o.disk_bytes), 0)";
    if let Some(count) = carried_count(conn, req, dup_tally)? {
        let only = &req.policies[0];
        plan.policies = vec![PolicySummary {
            policy: only.name(),
            description: only.describe(),
            count,
        }];
        plan.protected = Vec::new();
    } else {
        // (One policy: what it selected and what the plan selects are the
        // same objects, read without a lookup of each in its selection.)
        let of_policy = if req.policies.len() == 1 {
            format!(
                "SELECT {SUMS} FROM temp.selected s CROSS JOIN object o ON o.id = s.id WHERE ?1 = 0"
            )
        } else {
            format!(
                "SELECT {SUMS} FROM temp.selection x JOIN temp.selected s ON s.id = x.id
                 JOIN object o ON o.id = x.id WHERE x.policy = ?1"
            )
        };
        plan.policies = req
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(PolicySummary {
                    policy: p.name(),
                    description: p.describe(),
                    count: count(conn, &of_policy, [i as i64])?,
                })
            })
            .collect::<Result<_>>()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {SUMS}, p.why FROM temp.protected p JOIN object o ON o.id = p.id
             WHERE p.id NOT IN (SELECT id FROM temp.selected) GROUP BY p.why ORDER BY p.why"
            ))
            .context("counting the protections")?;
        plan.protected = stmt
            .query_map([], |r| {
                Ok(Protection {
                    count: Count {
                        objects: r.get::<_, i64>(0)? as u64,
                        files: r.get::<_, i64>(1)? as u64,
                        disk_bytes: r.get::<_, i64>(2)? as u64,
                    },
                    protection: r.get(3)?,
                })
            })
            .context("counting the protections")?
            .collect::<rusqlite::Result<_>>()
            .context("counting the protections")?;
    }
    // (One policy: every selected object is in its selection, so the
    // total is its count.)
    plan.count = match plan.policies.as_slice() {
        [only] => only.count,
        _ => count(
            conn,
            &format!("SELECT {SUMS} FROM temp.selected s JOIN object o ON o.id = s.id"),
            [],
        )?,
    };
    plan.cache = match totals {
        Some(t) => t,
        None => index::totals(conn)?,
    };
    plan.budget = budget.map(|b| {
        let after = plan.cache.disk_bytes.saturating_sub(plan.count.disk_bytes);
        BudgetSummary {
            budget: b.budget,
            before: plan.cache.disk_bytes,
            after,
            met: after <= b.budget,
        }
    });
    Ok(())
}

/// `-L`: for each selected symlink entry whose target has the entry's own
/// file name and is a regular file, plan the target too, with the stat it
/// has now (the removal checks it again).
fn plan_link_targets(index: &Index, warnings: &mut Vec<String>) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let links: Vec<(i64, String)> = {
        let mut stmt = index
            .conn
            .prepare(
                "SELECT e.id, CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END
                 FROM temp.selected s JOIN object o ON o.id = s.id JOIN dir d ON d.id = o.dir_id
                 JOIN entry e ON e.object_id = o.id WHERE e.is_symlink",
            )
            .context("-L: listing selected symlinks")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .context("-L: listing selected symlinks")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("-L: listing selected symlinks")?
    };
    let mut ins = index
        .conn
        .prepare("INSERT OR REPLACE INTO temp.link_target(entry_id, path, ino, size, mtime_ns) VALUES (?1, ?2, ?3, ?4, ?5)")
        .context("-L: preparing the target table")?;
    let mut n = 0;
    for (entry_id, rel) in links {
        let link = index.cache_root.join(&rel);
        let Some(target) = link_target(&link) else {
            continue;
        };
        // A target inside the cache is an entry of its own: the policies
        // decide about it, not -L.
        let target = match target.parent().map(std::fs::canonicalize) {
            Some(Ok(dir)) => match target.file_name() {
                Some(name) => dir.join(name),
                None => continue,
            },
            _ => continue, // its directory is gone: only the link goes
        };
        if target.starts_with(&index.cache_root) {
            warnings.push(format!(
                "-L: {} points into the cache ({}); only the link is removed",
                link.display(),
                target.display()
            ));
            continue;
        }
        let md = match std::fs::symlink_metadata(&target) {
            Ok(md) if md.is_file() => md,
            Ok(_) => {
                warnings.push(format!(
                    "-L: {} points at {}, which is not a regular file; only the link is removed",
                    link.display(),
                    target.display()
                ));
                continue;
            }
            Err(_) => continue, // dangling: only the link goes
        };
        let Some(target_str) = target.to_str() else {
            warnings.push(format!(
                "-L: the target of {} is not a UTF-8 path; only the link is removed",
                link.display()
            ));
            continue;
        };
        let mtime_ns = md
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(md.mtime_nsec());
        ins.execute(params![
            entry_id,
            target_str,
            md.ino() as i64,
            md.size() as i64,
            mtime_ns
        ])
        .context("-L: recording a target")?;
        n += 1;
    }
    Ok(n)
}

/// The target of the symlink at `link` when its file name is the link's
/// own (the contract of -L), as an absolute path.
pub fn link_target(link: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(link).ok()?;
    let abs = if target.is_absolute() {
        target
    } else {
        link.parent()?.join(target)
    };
    (abs.file_name() == link.file_name()).then_some(abs)
}

/// Call `f` with every path the plan removes (relative to the cache root
/// for entries, absolute for `-L` targets), sorted.
pub fn for_each_path(index: &Index, mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut stmt = index
        .conn
        .prepare(
            "SELECT p FROM (
                 SELECT CASE WHEN d.path = '' THEN o.stem || e.ext ELSE d.path || '/' || o.stem || e.ext END AS p
                 FROM temp.selected s JOIN object o ON o.id = s.id
                 JOIN dir d ON d.id = o.dir_id JOIN entry e ON e.object_id = o.id
                 UNION ALL
                 SELECT path FROM temp.link_target t
                 WHERE t.entry_id IN (SELECT e.id FROM temp.selected s JOIN entry e ON e.object_id = s.id))
             ORDER BY p",
        )
        .context("listing the planned paths")?;
    let mut rows = stmt.query([]).context("listing the planned paths")?;
    while let Some(r) = rows.next().context("listing the planned paths")? {
        let p: String = r.get(0)?;
        f(&p)?;
    }
    Ok(())
}
