//! Scenarios as data: a table of objects (name, recipe, task, files, age,
//! archive size, dependencies) and cases (arguments, objects expected to
//! go), run by one harness against real caches.
//!
//! For each case the harness builds the cache, and checks that
//! - the dry run's `-D` list is exactly the files of the expected objects,
//!   and its summary line counts them;
//! - a second dry run, from the warm index, lists the same;
//! - `-y` removes exactly those files and nothing else.

use super::*;
use std::collections::BTreeMap;

pub const DAY: i64 = 86_400;

/// One object of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Obj {
    /// How cases refer to it.
    pub name: &'static str,
    pub pn: &'static str,
    pub task: &'static str,
    pub exts: &'static [&'static str],
    /// Last use, in days before now (every file of the object).
    pub days_ago: i64,
    /// Archive size in KiB (0: a few bytes).
    pub kib: usize,
    /// Names of the objects its siginfo lists as dependencies.
    pub deps: &'static [&'static str],
}

/// A typical object: a populate_sysroot archive with its siginfo.
pub const fn o(name: &'static str, pn: &'static str, days_ago: i64) -> Obj {
    Obj {
        name,
        pn,
        task: "populate_sysroot",
        exts: ARCHIVE_SIGINFO,
        days_ago,
        kib: 0,
        deps: &[],
    }
}

impl Obj {
    pub const fn kib(self, kib: usize) -> Obj {
        Obj { kib, ..self }
    }
    pub const fn deps(self, deps: &'static [&'static str]) -> Obj {
        Obj { deps, ..self }
    }
    pub const fn task(self, task: &'static str) -> Obj {
        Obj { task, ..self }
    }
    pub const fn exts(self, exts: &'static [&'static str]) -> Obj {
        Obj { exts, ..self }
    }
}

/// One run over a scenario's cache.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub args: &'static [&'static str],
    /// Names of the objects that must go; every other object stays.
    pub gone: &'static [&'static str],
}

/// A scenario's cache on disk.
pub struct Built {
    pub cache: Cache,
    /// Object name → its files (relative paths).
    pub files: BTreeMap<&'static str, Vec<String>>,
    /// Object name → its spec.
    pub specs: BTreeMap<&'static str, ObjectSpec<'static>>,
}

impl Built {
    pub fn files_of(&self, names: &[&str]) -> Vec<String> {
        sorted(names.iter().map(|n| {
            self.files
                .get(n)
                .unwrap_or_else(|| panic!("no object named {n} in the scenario"))
                .clone()
        }))
    }

    /// [`Built::files_of`] as absolute paths, as `-n -D` lists them.
    pub fn listed_paths(&self, names: &[&str]) -> Vec<String> {
        self.files_of(names)
            .iter()
            .map(|r| self.cache.path(r).display().to_string())
            .collect()
    }
}

fn seed_of(objs: &[Obj], name: &str) -> u64 {
    let i = objs
        .iter()
        .position(|o| o.name == name)
        .unwrap_or_else(|| panic!("dependency {name} is not an object of the scenario"));
    7_000 + i as u64
}

/// Write the objects (mtimes relative to now), with directory mtimes in
/// the past so that a second scan of the unchanged cache lists nothing.
pub fn build(objs: &[Obj]) -> Built {
    let cache = Cache::new();
    let now = now_secs();
    let mut files = BTreeMap::new();
    let mut specs = BTreeMap::new();
    for o in objs {
        assert!(!files.contains_key(o.name), "duplicate name {}", o.name);
        let spec = ObjectSpec {
            pn: o.pn,
            unihash: unihash(seed_of(objs, o.name)),
            task: o.task,
            exts: o.exts,
            mtime: now - o.days_ago * DAY,
            deps: o.deps.iter().map(|d| unihash(seed_of(objs, d))).collect(),
            archive_len: o.kib * 1024,
            ..Default::default()
        };
        files.insert(o.name, cache.object(spec.clone()));
        specs.insert(o.name, spec);
    }
    cache.settle_dirs();
    Built {
        cache,
        files,
        specs,
    }
}

/// The `-D` listing of a dry run: (absolute paths, summary line).
pub fn listing(cache: &Cache, index: &Path, args: &[&str]) -> (Vec<String>, String) {
    let mut all = vec!["-n", "-D"];
    all.extend_from_slice(args);
    let run = cache.run_with_index(index, &all);
    run.expect_code(0);
    let mut lines: Vec<String> = run.stdout_lines().iter().map(|l| l.to_string()).collect();
    let summary = lines.pop().unwrap_or_default();
    (lines, summary)
}

/// Run one case on a fresh cache of `objs`; panics with the case on any
/// difference.
pub fn check(objs: &[Obj], case: &Case) {
    let b = build(objs);
    let cache = &b.cache;
    let total: usize = b.files.values().map(Vec::len).sum();
    let gone = b.files_of(case.gone);
    let expect_listed: Vec<String> = gone
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    let (cold, summary_line) = listing(cache, &cache.index, case.args);
    if cold != expect_listed {
        // Say what the planner thought.
        let mut v = case.args.to_vec();
        v.extend(["-n", "-v"]);
        let explained = cache.run(&v);
        assert_same_paths(
            &cold,
            &expect_listed,
            &format!("cold -n -D for {case:?}\n-v said:\n{}", explained.stderr),
        );
    }
    assert_eq!(summary_line, summary(gone.len(), total), "{case:?}");
    let (warm, _) = listing(cache, &cache.index, case.args);
    assert_same_paths(&warm, &expect_listed, &format!("warm -n -D for {case:?}"));

    let mut args = case.args.to_vec();
    args.push("-y");
    let run = cache.run(&args);
    run.expect_code(0);
    let all: Vec<String> = sorted(b.files.values().cloned());
    assert_same_paths(
        &cache.files(),
        &without(&all, &gone),
        &format!("-y for {case:?}"),
    );
    if !gone.is_empty() {
        assert_removed_line(
            run.stdout_lines().last().copied().unwrap_or(""),
            gone.len(),
            0,
            0,
            0,
        );
    }
}

/// Run every case of a table.
pub fn check_all(objs: &[Obj], cases: &[Case]) {
    for case in cases {
        check(objs, case);
    }
}
