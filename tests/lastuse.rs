//! Last use: the policies that decide by it (--older-than, --max-size,
//! -d --keep-per-group), the protections (--keep-newer-than, dependency
//! retention), custom selections, and the promise behind all of them: a
//! warm index plans exactly what a fresh one would, after builds touched
//! files in place.

use crate::common::scenario::{Case, DAY, Obj, build, check_all, listing, o};
use crate::common::*;
use std::fs;

// ---------------------------------------------------------------------------
// Age, duplicates with N kept, custom selections, combinations

/// Ages far from every cutoff the cases use.
const AGES: &[Obj] = &[
    o("a1", "busybox", 1),
    o("a2", "busybox", 100),
    o("a3", "busybox", 400),
    o("b1", "zlib", 50),
    o("c1", "gcc", 250).task("compile").exts(SIGINFO_ONLY),
    o("l1", "glibc", 300).task("populate_lic"),
];

#[test]
fn older_than_selects_what_was_not_used_since() {
    check_all(
        AGES,
        &[
            Case {
                args: &["--older-than", "30d"],
                gone: &["a2", "a3", "b1", "c1", "l1"],
            },
            Case {
                args: &["--older-than", "90d"],
                gone: &["a2", "a3", "c1", "l1"],
            },
            Case {
                args: &["--older-than", "2w"],
                gone: &["a2", "a3", "b1", "c1", "l1"],
            },
            Case {
                args: &["--older-than", "36h"],
                gone: &["a2", "a3", "b1", "c1", "l1"],
            },
            Case {
                args: &["--older-than", "500d"],
                gone: &[],
            },
        ],
    );
}

#[test]
fn keep_per_group_keeps_the_n_newest() {
    check_all(
        AGES,
        &[
            Case {
                args: &["-d"],
                gone: &["a2", "a3"],
            },
            Case {
                args: &["-d", "--keep-per-group", "2"],
                gone: &["a3"],
            },
            Case {
                args: &["-d", "--keep-per-group", "3"],
                gone: &[],
            },
        ],
    );
}

#[test]
fn policies_combine_as_a_union_and_protections_take_back() {
    check_all(
        AGES,
        &[
            Case {
                args: &["-d", "--older-than", "200d"],
                gone: &["a2", "a3", "c1", "l1"],
            },
            Case {
                args: &["--remove-orphans", "--older-than", "260d"],
                gone: &["c1", "a3", "l1"],
            },
            Case {
                args: &["--older-than", "30d", "--keep-newer-than", "150d"],
                gone: &["a3", "c1", "l1"],
            },
            // -d still keeps the newest of each group: the protection only
            // takes objects back.
            Case {
                args: &["-d", "--keep-newer-than", "200d"],
                gone: &["a3"],
            },
            Case {
                args: &["-d", "--keep-newer-than", "1000d"],
                gone: &[],
            },
        ],
    );
}

#[test]
fn where_and_select_sql_select_by_query() {
    check_all(
        AGES,
        &[
            Case {
                args: &["--where", "pn = 'busybox'"],
                gone: &["a1", "a2", "a3"],
            },
            Case {
                args: &[
                    "--where",
                    "pn = 'busybox' AND last_used < unixepoch('now', '-14 days')",
                ],
                gone: &["a2", "a3"],
            },
            Case {
                args: &["--where", "task = 'compile'", "-d"],
                gone: &["a2", "a3", "c1"],
            },
        ],
    );
    let b = build(AGES);
    let file = b.cache.outside("old-gcc.sql");
    fs::write(
        &file,
        "-- every gcc object\nSELECT object_id FROM objects o WHERE o.pn = 'gcc' -- done\n;\n",
    )
    .expect("writing the query");
    let (listed, line) = listing(
        &b.cache,
        &b.cache.index,
        &["--select-sql", file.to_str().expect("UTF-8")],
    );
    assert_eq!(line, summary(1, 11));
    let expect: Vec<String> = b
        .files_of(&["c1"])
        .iter()
        .map(|r| b.cache.path(r).display().to_string())
        .collect();
    assert_eq!(listed, expect);
}

#[test]
fn custom_selections_that_are_not_read_only_selections_are_refused() {
    let b = build(AGES);
    let before = b.cache.files();
    let file = b.cache.outside("bad.sql");
    for (args, says) in [
        (vec!["--where", "1); DELETE FROM object; --"], "--where"),
        (vec!["--where", "no_such_column = 1"], "no such column"),
        (vec!["--where", ""], "empty"),
    ] {
        let mut all = args.clone();
        all.push("-y");
        let run = b.cache.run(&all);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    for (sql, says) in [
        ("DELETE FROM object", "read-only"),
        ("SELECT pn FROM objects", "object_id"),
        ("SELECT object_id FROM objects; SELECT 1", "exactly one"),
    ] {
        fs::write(&file, sql).expect("writing the query");
        let run = b
            .cache
            .run(&["--select-sql", file.to_str().expect("UTF-8"), "-y"]);
        assert_eq!(run.code, 1, "{sql}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{sql}: {}", run.stderr);
    }
    assert_eq!(b.cache.files(), before);
    let objects = b.cache.index_query("SELECT count(*) FROM object");
    assert_eq!(objects, vec![vec!["6".to_string()]]);
}

#[test]
fn bad_durations_and_sizes_are_usage_errors_naming_the_units() {
    let cache = Cache::new();
    cache.object(obj("busybox", 1, "populate_sysroot", ARCHIVE_SIGINFO, BASE));
    for (args, says) in [
        (["--older-than", "3x"], "s, m, h, d or w"),
        (["--older-than", "30"], "needs a unit"),
        (["--keep-newer-than", "soon"], "not a duration"),
        (["--max-size", "12Q"], "K, M, G, T or P"),
        (["--max-size", "lots"], "not a size"),
    ] {
        let run = cache.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(args[0]),
            "names the option: {}",
            run.stderr
        );
    }
    let run = cache.run(&["--keep-per-group", "2", "--older-than", "1d"]);
    assert_eq!(run.code, 2, "--keep-per-group needs -d: {}", run.stderr);
    assert!(run.stderr.contains("--remove-duplicated"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------
// Size budget

/// Four objects of 104 KiB on disk each (100 KiB archive, 4 KiB siginfo),
/// used 1, 10, 20 and 30 days ago.
const SIZED: &[Obj] = &[
    o("x1", "busybox", 1).kib(100),
    o("x2", "zlib", 10).kib(100),
    o("x3", "bash", 20).kib(100),
    o("x4", "perl", 30).kib(100),
];

#[test]
fn max_size_removes_the_least_recently_used_until_it_fits() {
    let b = build(SIZED);
    let each = b.cache.disk_bytes(&b.files["x1"]);
    assert_eq!(each, 104 * 1024, "the file system allocates 4 KiB blocks");
    check_all(
        SIZED,
        &[
            Case {
                args: &["--max-size", "1G"],
                gone: &[],
            },
            Case {
                args: &["--max-size", "416K"],
                gone: &[],
            },
            Case {
                args: &["--max-size", "415K"],
                gone: &["x4"],
            },
            Case {
                args: &["--max-size", "312K"],
                gone: &["x4"],
            },
            Case {
                args: &["--max-size", "300K"],
                gone: &["x4", "x3"],
            },
            Case {
                args: &["--max-size", "0"],
                gone: &["x4", "x3", "x2", "x1"],
            },
        ],
    );
}

/// A small old object and a big recent one: least recently used goes
/// first, whatever its size.
const MIXED: &[Obj] = &[
    o("small_old", "zlib", 40).kib(8),
    o("big_new", "linux-yocto", 5).kib(400),
    o("mid", "bash", 20).kib(100),
    o("dup_old", "bash", 60).kib(100),
];

#[test]
fn max_size_goes_by_last_use_and_applies_after_the_other_policies() {
    // 12 + 404 + 104 + 104 = 624 KiB.
    check_all(
        MIXED,
        &[
            Case {
                args: &["--max-size", "600K"],
                gone: &["dup_old"],
            },
            Case {
                args: &["--max-size", "510K"],
                gone: &["dup_old", "small_old"],
            },
            // -d already frees dup_old: the budget only adds what it still
            // needs (mid is newer than small_old).
            Case {
                args: &["-d", "--max-size", "510K"],
                gone: &["dup_old", "small_old"],
            },
            Case {
                args: &["-d", "--max-size", "410K"],
                gone: &["dup_old", "small_old", "mid"],
            },
        ],
    );
}

#[test]
fn max_size_that_cannot_be_met_says_so_and_removes_only_what_may_go() {
    let b = build(MIXED);
    let run = b
        .cache
        .run(&["--max-size", "100K", "--keep-newer-than", "10d", "-y"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("stays over budget"),
        "warns: {}",
        run.stderr
    );
    let all: Vec<String> = sorted(b.files.values().cloned());
    let gone = b.files_of(&["dup_old", "small_old", "mid"]);
    assert_eq!(b.cache.files(), without(&all, &gone));
    let doc = stdout_json(&b.cache.run(&[
        "--max-size",
        "100K",
        "--keep-newer-than",
        "10d",
        "-n",
        "--format",
        "json",
    ]));
    assert_eq!(doc["plan"]["budget"]["met"], false, "{doc}");
    assert_eq!(doc["plan"]["budget"]["budget"], 100 * 1024);
}

// ---------------------------------------------------------------------------
// Dependency retention

/// A recent image whose siginfo names an old sysroot, which names an older
/// siginfo-only install task; an old object nothing needs; a newer sysroot
/// generation of zlib that makes the old one a duplicate.
const DEPS: &[Obj] = &[
    o("image", "core-image-minimal", 1)
        .task("image_complete")
        .kib(40)
        .deps(&["zlib_sysroot"]),
    o("zlib_sysroot", "zlib", 200)
        .kib(40)
        .deps(&["zlib_install"]),
    o("zlib_install", "zlib", 205)
        .task("install")
        .exts(SIGINFO_ONLY),
    o("zlib_sysroot_new", "zlib", 2).kib(40),
    o("unused", "perl", 210).kib(40),
];

#[test]
fn dependencies_of_recently_used_objects_survive_age_and_size() {
    check_all(
        DEPS,
        &[
            Case {
                args: &["--older-than", "30d"],
                gone: &["unused"],
            },
            Case {
                args: &["--older-than", "30d", "--no-keep-deps"],
                gone: &["zlib_sysroot", "zlib_install", "unused"],
            },
            // By mtime zlib_sysroot and zlib_install are the least recently
            // used; the image that needs them was used yesterday, so they
            // count as used then, and go only after it.
            Case {
                args: &["--max-size", "100K"],
                gone: &["unused", "zlib_sysroot_new"],
            },
            Case {
                args: &["--max-size", "60K"],
                gone: &["unused", "zlib_sysroot_new", "image"],
            },
            Case {
                args: &["--max-size", "100K", "--no-keep-deps"],
                gone: &["zlib_install", "zlib_sysroot", "unused"],
            },
            // -d alone does not keep dependencies (the reference tool's
            // meaning); --keep-deps makes it.
            Case {
                args: &["-d"],
                gone: &["zlib_sysroot"],
            },
            Case {
                args: &["-d", "--keep-deps"],
                gone: &[],
            },
        ],
    );
}

/// Two old objects that need each other (a cycle: two hashes that share
/// a 64-bit prefix can make one) and a recent one.
const CYCLE: &[Obj] = &[
    o("cycle_a", "foo", 300).kib(40).deps(&["cycle_b"]),
    o("cycle_b", "bar", 310).kib(40).deps(&["cycle_a"]),
    o("recent", "baz", 1).kib(40),
];

#[test]
fn max_size_never_splits_a_dependency_cycle() {
    check_all(
        CYCLE,
        &[
            // One of the two would fit the budget, but the other needs
            // it: both stay, and the budget is missed.
            Case {
                args: &["--max-size", "90K"],
                gone: &[],
            },
            // The budget needs both: they go together.
            Case {
                args: &["--max-size", "50K"],
                gone: &["cycle_a", "cycle_b"],
            },
            Case {
                args: &["--max-size", "90K", "--no-keep-deps"],
                gone: &["cycle_b"],
            },
        ],
    );
}

#[test]
fn unreadable_siginfo_is_reported_and_changes_nothing_else() {
    let b = build(DEPS);
    // The image's siginfo is garbage: it names nothing, so its old
    // dependency is no longer protected; everything else holds.
    let siginfo = b.files["image"]
        .iter()
        .find(|p| p.ends_with(".siginfo"))
        .expect("image has a siginfo")
        .clone();
    let path = b.cache.path(&siginfo);
    let md = fs::metadata(&path).expect("stat siginfo");
    fs::write(&path, b"\x80\x04\x95 not zstd, an old pickle").expect("corrupting the siginfo");
    set_mtime(
        &path,
        md.modified().map_or(BASE, |t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(BASE, |d| d.as_secs() as i64)
        }),
    );
    b.cache.settle_dirs();
    let run = b.cache.run(&["--older-than", "30d", "-n", "-v"]);
    run.expect_code(0);
    assert!(run.stderr.contains("1 unreadable"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&siginfo),
        "names the file: {}",
        run.stderr
    );
    let total: usize = b.files.values().map(Vec::len).sum();
    assert_eq!(
        run.stdout_lines(),
        vec![summary(
            b.files_of(&["zlib_sysroot", "zlib_install", "unused"])
                .len(),
            total
        )]
    );
    let report = stdout_json(&b.cache.sub("report", &["--format", "json"]));
    assert_eq!(report["deps"]["unreadable"], 1, "{report}");
    // The report reads every siginfo: zlib_sysroot → zlib_install only.
    assert_eq!(report["deps"]["edges"], 1, "{report}");
}

#[test]
fn edges_are_read_only_when_needed_and_once() {
    let b = build(DEPS);
    let state = |c: &Cache| c.index_query("SELECT count(*) FROM object WHERE deps_state IS NULL");
    // -d does not need edges: no siginfo content is read.
    b.cache.run(&["-d", "-n"]).expect_code(0);
    assert_eq!(state(&b.cache), vec![vec!["5".to_string()]]);
    let doc = stdout_json(
        &b.cache
            .run(&["--older-than", "30d", "-n", "--format", "json"]),
    );
    // Only the siginfo of what stays (and of what that protects) is read,
    // never of what goes: `unused` (210 days old) is not.
    assert_eq!(doc["plan"]["edges"]["read"], 4, "{doc}");
    assert_eq!(state(&b.cache), vec![vec!["1".to_string()]]);
    // A second run reads nothing again.
    let doc = stdout_json(
        &b.cache
            .run(&["--older-than", "30d", "-n", "--format", "json"]),
    );
    assert_eq!(doc["plan"]["edges"]["read"], 0, "{doc}");
    // A touch (reuse) does not make it read again; a rewrite does.
    let sig = b.files["zlib_sysroot"]
        .iter()
        .find(|p| p.ends_with(".siginfo"))
        .expect("siginfo")
        .clone();
    set_mtime(&b.cache.path(&sig), now_secs() - 3 * DAY);
    let doc = stdout_json(
        &b.cache
            .run(&["--older-than", "30d", "-n", "--format", "json"]),
    );
    assert_eq!(doc["plan"]["edges"]["read"], 0, "{doc}");
}

/// A first scan leaves out the indexes that only edges and stamps use
/// (`object_hash_key`, `object_deps_pending`); warm scans work without
/// them, and the first run that needs them builds them and plans as if
/// they had always been there.
#[test]
fn lookup_indexes_wait_for_the_first_run_that_needs_them() {
    let b = build(DEPS);
    let lookup_indexes = |c: &Cache| {
        c.index_query(
            "SELECT name FROM sqlite_master WHERE name IN ('object_hash_key', 'object_deps_pending') ORDER BY name",
        )
        .concat()
    };
    b.cache.run(&["-d", "-n"]).expect_code(0);
    assert!(lookup_indexes(&b.cache).is_empty());
    // A new index has 16 KiB pages.
    assert_eq!(
        b.cache.index_query("PRAGMA page_size"),
        vec![vec!["16384".to_string()]]
    );
    // An object added behind the index's back: the warm scan records it
    // without those indexes, and the run that needs them builds them.
    let late = b.cache.object(ObjectSpec {
        pn: "late",
        unihash: unihash(9_001),
        exts: ARCHIVE_SIGINFO,
        mtime: now_secs() - 300 * DAY,
        ..Default::default()
    });
    b.cache.settle_dirs();
    b.cache.run(&["-d", "-n"]).expect_code(0);
    assert!(lookup_indexes(&b.cache).is_empty());
    let run = b.cache.run(&["--older-than", "30d", "-n", "-D"]);
    run.expect_code(0);
    assert_eq!(
        lookup_indexes(&b.cache),
        vec![
            "object_deps_pending".to_string(),
            "object_hash_key".to_string()
        ]
    );
    let mut listed: Vec<String> = run.stdout_lines().iter().map(|l| l.to_string()).collect();
    let total: usize = b.files.values().map(Vec::len).sum::<usize>() + late.len();
    let gone: Vec<String> = b.files["unused"]
        .iter()
        .chain(&late)
        .map(|r| b.cache.path(r).display().to_string())
        .collect();
    assert_eq!(listed.pop(), Some(summary(gone.len(), total)));
    assert_same_paths(&listed, &gone, "--older-than 30d after the late object");
    for f in late.iter().chain(&b.files["unused"]) {
        assert!(b.cache.path(f).exists(), "a dry run removed {f}");
    }
    // The same plan from a fresh index, and a warm scan that keeps the
    // indexes up to date once they exist.
    let fresh = b.cache.outside("fresh.sqlite");
    let (fresh_listed, fresh_summary) = listing(&b.cache, &fresh, &["--older-than", "30d"]);
    assert_eq!(Some(fresh_summary), Some(summary(gone.len(), total)));
    assert_same_paths(&fresh_listed, &gone, "--older-than 30d from a fresh index");
    for f in &late {
        fs::remove_file(b.cache.path(f)).expect("removing the late object");
    }
    b.cache.settle_dirs();
    let run = b.cache.run(&["--older-than", "30d", "-n", "-D"]);
    run.expect_code(0);
    let mut listed: Vec<String> = run.stdout_lines().iter().map(|l| l.to_string()).collect();
    assert_eq!(
        listed.pop(),
        Some(summary(b.files["unused"].len(), total - late.len()))
    );
    assert_same_paths(
        &listed,
        &gone[..b.files["unused"].len()],
        "after the late object went",
    );
    assert_eq!(
        b.cache.index_query(
            "SELECT count(*) FROM object o INDEXED BY object_hash_key WHERE o.hash_key IS NOT NULL"
        ),
        vec![vec!["5".to_string()]]
    );
}

// ---------------------------------------------------------------------------
// A warm index plans exactly what a fresh one does

/// A deterministic pseudo-random generator for the property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PNS: &[&str] = &["busybox", "zlib", "bash", "perl", "openssl", "gcc", "glibc"];
const TASKS: &[(&str, &[&str])] = &[
    ("populate_sysroot", ARCHIVE_SIGINFO),
    ("package", ARCHIVE_SIGINFO_SIG),
    (
        "package_write_ipk",
        &[".tar.zst", ".tar.zst.siginfo", ".tar.zst.done"],
    ),
    ("configure", SIGINFO_ONLY),
];

/// A cache of `n` objects in a few groups, with dependencies on earlier
/// objects; returns it with the specs.
fn random_cache(seed: u64, n: usize) -> (Cache, Vec<ObjectSpec<'static>>) {
    let mut rng = Rng(seed);
    let cache = Cache::new();
    let now = now_secs();
    let mut specs: Vec<ObjectSpec<'static>> = Vec::new();
    for i in 0..n {
        let (task, exts) = TASKS[rng.below(TASKS.len() as u64) as usize];
        let deps = (0..rng.below(3))
            .filter(|_| i > 0)
            .map(|_| specs[rng.below(i as u64) as usize].unihash.clone())
            .collect();
        let spec = ObjectSpec {
            pn: PNS[rng.below(PNS.len() as u64) as usize],
            pv: ["1.0", "1.1", "2.0"][rng.below(3) as usize],
            unihash: unihash(seed * 1000 + i as u64),
            task,
            exts,
            mtime: now - (1 + rng.below(200) as i64) * DAY - rng.below(DAY as u64) as i64,
            deps,
            archive_len: 1024 * (1 + rng.below(40) as usize),
            ..Default::default()
        };
        cache.object(spec.clone());
        specs.push(spec);
    }
    cache.settle_dirs();
    (cache, specs)
}

/// What builds do, as BitBake does it: reuse objects in place (archive,
/// .sig and .siginfo touched, not .done, directories unchanged), run
/// tasks without an archive again (their siginfo written to a temporary
/// file and renamed over the old one, as `dump_sigtask` does: the
/// directory changes), add new objects and remove others. Returns how
/// many objects were reused or rewritten.
fn reuse_and_churn(cache: &Cache, specs: &[ObjectSpec<'static>], seed: u64) -> usize {
    let mut rng = Rng(seed ^ 0xabcdef);
    let now = now_secs();
    let mut touched = 0;
    for s in specs {
        if rng.below(4) == 0 {
            let when = now - rng.below(5 * DAY as u64) as i64;
            if s.exts == SIGINFO_ONLY {
                let path = cache.path(&s.rel_path(s.exts[0]));
                let tmp = path.with_file_name(format!("sigtask.{}", rng.below(1 << 30)));
                fs::write(&tmp, siginfo_bytes(s)).expect("writing a siginfo again");
                set_mtime(&tmp, when);
                fs::rename(&tmp, &path).expect("renaming the siginfo into place");
            } else {
                for ext in s.exts.iter().filter(|e| !e.ends_with(".done")) {
                    set_mtime(&cache.path(&s.rel_path(ext)), when);
                }
            }
            touched += 1;
        }
    }
    // Churn: one object removed, two added (one in a known directory).
    if let Some(gone) = specs.get(3) {
        for p in gone.rel_paths() {
            let _ = fs::remove_file(cache.path(&p));
        }
    }
    for k in 0..2u64 {
        let mut spec = specs[(k as usize * 5) % specs.len()].clone();
        spec.unihash = if k == 0 {
            unihash_with_prefix(&spec.unihash[..4], 99_000 + seed)
        } else {
            unihash(99_500 + seed)
        };
        spec.pv = "9.9";
        spec.mtime = now - 2 * DAY;
        cache.object(spec);
    }
    touched
}

#[test]
fn warm_plans_equal_fresh_plans_after_in_place_reuse_and_churn() {
    let cases: &[&[&str]] = &[
        &["-d"],
        &["-d", "--keep-per-group", "2"],
        &["-d", "--keep-newer-than", "3d"],
        &["-d", "--keep-deps"],
        &["--older-than", "60d"],
        &["--older-than", "60d", "--no-keep-deps"],
        &["--max-size", "200K"],
        &["--max-size", "300K", "--keep-newer-than", "3d"],
        &["-d", "--older-than", "100d", "--remove-orphans"],
        &[
            "--where",
            "last_used < unixepoch('now', '-30 days') AND pn <> 'gcc'",
        ],
    ];
    for (k, args) in cases.iter().enumerate() {
        let seed = 11 + k as u64;
        let (cache, specs) = random_cache(seed, 60);
        // The index as the last cleanup left it.
        cache.sub("scan", &[]).expect_code(0);
        let touched = reuse_and_churn(&cache, &specs, seed);
        assert!(touched > 5, "the test reuses objects");
        let fresh_index = cache.outside("fresh.sqlite");
        let (fresh, fresh_line) = listing(&cache, &fresh_index, args);
        let (warm, warm_line) = listing(&cache, &cache.index, args);
        assert_same_paths(&warm, &fresh, &format!("{args:?}: warm vs fresh -n -D"));
        assert_eq!(warm_line, fresh_line, "{args:?}");
        assert!(!fresh.is_empty(), "{args:?} selects something");
        // And -y from the warm index removes exactly that list.
        let before = cache.files();
        let mut all = args.to_vec();
        all.extend(["-y", "--format", "json", "-v"]);
        let wet = cache.run(&all);
        wet.expect_code(0);
        let removed: Vec<String> = before
            .iter()
            .filter(|p| !cache.path(p).exists())
            .map(|p| cache.path(p).display().to_string())
            .collect();
        assert_same_paths(
            &removed,
            &warm,
            &format!(
                "{args:?}: -y removed vs -n listed; -y said:\n{}\n{}",
                wet.stdout, wet.stderr
            ),
        );
        let _ = fs::remove_file(&fresh_index);
    }
}

#[test]
fn warm_reuse_of_a_stale_duplicate_switches_which_object_goes() {
    let b = build(&[o("old", "busybox", 100), o("new", "busybox", 10)]);
    b.cache.sub("scan", &[]).expect_code(0);
    let (before, _) = listing(&b.cache, &b.cache.index, &["-d"]);
    assert_eq!(before, b.listed_paths(&["old"]));
    // A build restores "old" this morning: archive and siginfo touched.
    for p in &b.files["old"] {
        set_mtime(&b.cache.path(p), now_secs() - 3600);
    }
    let (after, line) = listing(&b.cache, &b.cache.index, &["-d"]);
    assert_eq!(after, b.listed_paths(&["new"]));
    assert_eq!(line, summary(2, 4));
    let (aged, _) = listing(&b.cache, &b.cache.index, &["--older-than", "30d"]);
    assert_eq!(
        aged,
        Vec::<String>::new(),
        "nothing is 30 days old any more"
    );
}

/// BitBake never changes an object without an archive in place (it
/// renames a new siginfo over the old one, which the scan sees), so a
/// plan re-stats only objects with an archive. Something else that
/// touches such a siginfo in place (here `touch`) is not seen by a warm
/// dry run, but is seen by `--full-rescan`, and `-y` (which re-stats its
/// whole selection before it removes anything) keeps the object.
#[test]
fn siginfo_only_object_touched_in_place_is_kept_by_a_removal() {
    let b = build(&[
        o("compile", "gcc", 250).task("compile").exts(SIGINFO_ONLY),
        o("sysroot", "gcc", 100),
        o("fresh", "zlib", 1),
    ]);
    b.cache.sub("scan", &[]).expect_code(0);
    let args = ["--older-than", "30d", "--no-keep-deps"];
    assert_eq!(
        listing(&b.cache, &b.cache.index, &args).0,
        b.listed_paths(&["compile", "sysroot"])
    );
    let siginfo = b.files["compile"][0].clone();
    set_mtime(&b.cache.path(&siginfo), now_secs() - 3600);
    // The warm dry run plans from what the scan recorded for it.
    let copy = b.cache.outside("warm-copy.sqlite");
    fs::copy(&b.cache.index, &copy).expect("copying the warm index");
    assert_eq!(
        listing(&b.cache, &copy, &args).0,
        b.listed_paths(&["compile", "sysroot"])
    );
    let mut full = args.to_vec();
    full.push("--full-rescan");
    assert_eq!(
        listing(&b.cache, &copy, &full).0,
        b.listed_paths(&["sysroot"])
    );
    // The removal from the warm index takes only what a fresh plan takes.
    let mut wet = args.to_vec();
    wet.push("-y");
    let run = b.cache.run(&wet);
    run.expect_code(0);
    let all: Vec<String> = sorted(b.files.values().cloned());
    // (Planned without it, not planned and then skipped.)
    assert!(
        run.stdout_lines()
            .contains(&summary(b.files_of(&["sysroot"]).len(), all.len()).as_str()),
        "{}",
        run.stdout
    );
    assert_same_paths(
        &b.cache.files(),
        &without(&all, &b.files_of(&["sysroot"])),
        "-y after the siginfo was touched in place",
    );
}

/// Builds reused two objects of one group in place: the oldest, which `-d`
/// selected, and the newest, which it kept (and no pass re-stat-ed). The
/// warm plan is the fresh one, and it takes two passes: the re-stat that
/// sees the first reuse also re-stats the rest of its group, so the pass
/// that judges the group again has nothing new to check.
#[test]
fn warm_reuse_of_a_kept_object_too_is_planned_in_two_passes() {
    let b = build(&[
        o("a", "busybox", 300),
        o("b", "busybox", 200),
        o("c", "busybox", 100),
        o("y", "zlib", 60),
        o("z", "zlib", 50),
    ]);
    b.cache.sub("scan", &[]).expect_code(0);
    assert_eq!(
        listing(&b.cache, &b.cache.index, &["-d"]).0,
        b.listed_paths(&["a", "b", "y"])
    );
    // a restored two hours ago, c an hour ago: c stays the newest, and a
    // stale index of c's would have selected it.
    let now = now_secs();
    for (name, ago) in [("a", 2 * 3600), ("c", 3600)] {
        for p in &b.files[name] {
            set_mtime(&b.cache.path(p), now - ago);
        }
    }
    let copy = b.cache.outside("warm-copy.sqlite");
    fs::copy(&b.cache.index, &copy).expect("copying the warm index");
    let json = b
        .cache
        .run_with_index(&copy, &["-d", "-n", "--format", "json"]);
    json.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("stdout is JSON");
    assert_eq!(doc["plan"]["passes"].as_u64(), Some(2), "{}", doc["plan"]);
    // a, b and y (selected), then c (the rest of its group), not z.
    assert_eq!(
        doc["plan"]["restat"]["objects"].as_u64(),
        Some(4),
        "{}",
        doc["plan"]
    );
    let fresh_index = b.cache.outside("fresh.sqlite");
    let (fresh, fresh_line) = listing(&b.cache, &fresh_index, &["-d"]);
    assert_eq!(fresh, b.listed_paths(&["a", "b", "y"]));
    let (warm, warm_line) = listing(&b.cache, &b.cache.index, &["-d"]);
    assert_eq!(warm, fresh);
    assert_eq!(warm_line, fresh_line);
    // Now a is reused last: it is the one kept, and -y removes b and c.
    for p in &b.files["a"] {
        set_mtime(&b.cache.path(p), now - 60);
    }
    b.cache.run(&["-d", "-y"]).expect_code(0);
    let all: Vec<String> = sorted(b.files.values().cloned());
    assert_same_paths(
        &b.cache.files(),
        &without(&all, &b.files_of(&["b", "c", "y"])),
        "-d -y after the last reuse",
    );
}

/// The re-stat works in batches of 8,192 objects: a cache large enough for
/// several batches, reused in place all over, still gets the fresh plan
/// from its warm index (both re-stat passes cross batch boundaries).
#[test]
fn warm_plans_equal_fresh_plans_across_restat_batches() {
    let seed = 77;
    let (cache, specs) = random_cache(seed, 20_000);
    cache.sub("scan", &[]).expect_code(0);
    let touched = reuse_and_churn(&cache, &specs, seed);
    assert!(
        touched > 4_000,
        "the test reuses objects all over the cache"
    );
    let fresh_index = cache.outside("fresh.sqlite");
    // A copy of the warm index, planned with JSON: the reuse makes the
    // plan change, so it is planned again after the re-stat (a later pass
    // judges only the groups the re-stat changed) and still counts what
    // a fresh index selects.
    let copy = cache.outside("warm-copy.sqlite");
    fs::copy(&cache.index, &copy).expect("copying the warm index");
    // (And one for `-j 1`: the main connection reads every batch.)
    let serial = cache.outside("warm-serial.sqlite");
    fs::copy(&cache.index, &serial).expect("copying the warm index");
    let json = cache.run_with_index(&copy, &["-d", "-n", "--format", "json"]);
    json.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("stdout is JSON");
    let (fresh, fresh_line) = listing(&cache, &fresh_index, &["-d"]);
    let (warm, warm_line) = listing(&cache, &cache.index, &["-d"]);
    assert!(fresh.len() > 8_192, "more than one batch is selected");
    assert_same_paths(&warm, &fresh, "warm vs fresh -d -n -D");
    assert_eq!(warm_line, fresh_line);
    assert!(
        doc["plan"]["passes"].as_u64().unwrap_or(0) >= 2,
        "the reuse changed the plan: {}",
        doc["plan"]
    );
    assert_eq!(
        doc["plan"]["files"].as_u64(),
        Some(fresh.len() as u64),
        "the re-planned warm copy selects what a fresh index selects"
    );
    // With more than one CPU, connections beside the main one read the
    // first pass's rows; what they found is in the warm index: every
    // selected file as the disk has it.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let readers = doc["plan"]["restat"]["readers"].as_u64();
    assert_eq!(
        readers,
        Some(if cpus > 1 { cpus.min(4) as u64 } else { 0 }),
        "{}",
        doc["plan"]["restat"]
    );
    let one = cache.run_with_index(&serial, &["-d", "-n", "-j", "1", "--format", "json"]);
    one.expect_code(0);
    let one: serde_json::Value = serde_json::from_str(&one.stdout).expect("stdout is JSON");
    assert_eq!(one["plan"]["restat"]["readers"].as_u64(), Some(0));
    assert_eq!(one["plan"]["files"].as_u64(), Some(fresh.len() as u64));
    let (serial_list, serial_line) = listing(&cache, &serial, &["-d", "-j", "1"]);
    assert_same_paths(&serial_list, &fresh, "warm -j 1 vs fresh -d -n -D");
    assert_eq!(serial_line, fresh_line);
    let listed: std::collections::HashSet<&String> = warm.iter().collect();
    let of_listed = |entries: Vec<Entry>| -> Vec<(String, u64, i64)> {
        entries
            .into_iter()
            .map(|e| {
                let path = cache.path(&e.path).display().to_string();
                (path, e.size, (e.mtime * 1e6).round() as i64)
            })
            .filter(|(path, _, _)| listed.contains(path))
            .collect()
    };
    let (on_disk, indexed) = (
        of_listed(disk_entries(&cache)),
        of_listed(index_entries(&cache)),
    );
    assert_eq!(on_disk.len(), warm.len());
    assert!(
        indexed == on_disk,
        "the warm index holds the selected files as they are"
    );
}

/// A removal records its files and updates the index 2,048 selected
/// objects at a time: across several chunks, the index it leaves holds
/// exactly what a fresh scan of the cache finds, with one history row per
/// removed file.
#[test]
fn removal_across_recording_chunks_leaves_the_index_a_fresh_scan_builds() {
    let (cache, _) = random_cache(78, 12_000);
    cache.sub("scan", &[]).expect_code(0);
    let (planned, _) = listing(&cache, &cache.index, &["-d"]);
    assert!(planned.len() > 3 * 2_048, "several chunks are removed");
    cache.run(&["-d", "-y"]).expect_code(0);
    let fresh_index = cache.outside("fresh.sqlite");
    let (again, _) = listing(&cache, &fresh_index, &["-d"]);
    let state = "SELECT d.path, o.stem, o.n_entries, o.size, o.disk_bytes,
                        o.archive_mtime_ns, o.last_used_ns, g.pn, g.task
                 FROM object o JOIN dir d ON d.id = o.dir_id JOIN grp g ON g.id = o.group_id
                 ORDER BY 1, 2";
    let kept = cache.index_query(state);
    assert_eq!(
        kept,
        index_query(&fresh_index, state),
        "objects after the removal"
    );
    let counts = "SELECT (SELECT count(*) FROM entry), (SELECT count(*) FROM grp),
                         (SELECT count(*) FROM object WHERE group_id NOT IN (SELECT id FROM grp))";
    assert_eq!(cache.index_query(counts), index_query(&fresh_index, counts));
    let history = cache.index_query("SELECT count(*) FROM removal WHERE outcome = 'removed'");
    assert_eq!(history, [[planned.len().to_string()]]);
    let (warm, _) = listing(&cache, &cache.index, &["-d"]);
    assert_same_paths(&warm, &again, "after the removal: warm vs fresh -d -n -D");
}

/// `-d` alone counts its plan from the sums it took while judging the
/// groups (after a reuse that makes it plan twice, with the changed
/// groups' sums replaced); with a second policy that selects nothing
/// (`--where 0`), the plan is counted by SQL.
/// Both must give the same `N out of M` line and JSON counts, before and
/// after reuse, with --keep-per-group too.
#[test]
fn dash_d_alone_counts_its_plan_as_a_combined_plan_does() {
    let seed = 91;
    let (cache, specs) = random_cache(seed, 1_500);
    cache.sub("scan", &[]).expect_code(0);
    let counts = |args: &[&str]| -> (String, serde_json::Value, u64) {
        // (Each on its own copy of the index: the plan re-stats.)
        let copy = cache.outside("count-copy.sqlite");
        fs::copy(&cache.index, &copy).expect("copying the index");
        let mut with_json = args.to_vec();
        with_json.extend(["-n", "--format", "json"]);
        let run = cache.run_with_index(&copy, &with_json);
        run.expect_code(0);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        let plan = &doc["plan"];
        let text = cache.run_with_index(&copy, &[args, &["-n"]].concat());
        text.expect_code(0);
        let line = text
            .stdout
            .lines()
            .find(|l| l.contains("files will be removed"))
            .unwrap_or_default()
            .to_string();
        let dup = plan["policies"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["policy"] == "duplicates"))
            .map(|p| p["objects"].clone());
        (
            line,
            serde_json::json!([plan["objects"], plan["files"], plan["disk_bytes"], dup]),
            plan["passes"].as_u64().unwrap_or_default(),
        )
    };
    for round in 0..2 {
        for keep in ["1", "2"] {
            let alone = counts(&["-d", "--keep-per-group", keep]);
            let combined = counts(&["-d", "--keep-per-group", keep, "--where", "0"]);
            assert!(
                alone.0.contains(" out of "),
                "round {round}, keep {keep}: {}",
                alone.0
            );
            assert_ne!(alone.1[0], 0, "round {round}: -d selects something");
            assert_eq!(
                (&alone.0, &alone.1),
                (&combined.0, &combined.1),
                "round {round}, keep {keep}"
            );
            // After the reuse, the plan judges the changed groups again.
            assert_eq!(alone.2, 1 + round as u64, "round {round}: passes");
        }
        // Builds reuse objects in place: the next round plans twice.
        reuse_and_churn(&cache, &specs, seed);
    }
}

/// A regrouped pass (after a reuse in one group) mends the union of the
/// policies for the groups it judged again; an object another group had
/// protected from `-d` (`--keep-newer-than`: its siginfo was rewritten
/// yesterday) must still be reported as protected, and still kept, as a
/// fresh index reports it.
#[test]
fn a_protection_outside_the_regrouped_groups_still_holds() {
    let b = build(&[
        o("a", "busybox", 300),
        o("b", "busybox", 100),
        o("y", "zlib", 60),
        o("z", "zlib", 50),
    ]);
    let now = now_secs();
    let siginfo = |name: &str| -> String {
        b.files[name]
            .iter()
            .find(|p| p.ends_with(".siginfo"))
            .unwrap_or_else(|| panic!("{name} has a siginfo"))
            .clone()
    };
    set_mtime(&b.cache.path(&siginfo("a")), now - DAY);
    b.cache.settle_dirs();
    b.cache.sub("scan", &[]).expect_code(0);
    // y restored two hours ago, in place: zlib is judged again, busybox
    // is not.
    for p in &b.files["y"] {
        if !p.ends_with(".done") {
            set_mtime(&b.cache.path(p), now - 2 * 3600);
        }
    }
    let args = ["-d", "--keep-newer-than", "3d", "-n", "--format", "json"];
    let plan_of = |index: &std::path::Path| -> serde_json::Value {
        let run = b.cache.run_with_index(index, &args);
        run.expect_code(0);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        doc["plan"].clone()
    };
    let copy = b.cache.outside("warm-copy.sqlite");
    fs::copy(&b.cache.index, &copy).expect("copying the warm index");
    let warm = plan_of(&copy);
    assert_eq!(warm["passes"].as_u64(), Some(2), "{warm}");
    let fresh = plan_of(&b.cache.outside("fresh.sqlite"));
    assert_eq!(
        warm["protected"], fresh["protected"],
        "warm {warm}\nfresh {fresh}"
    );
    assert_eq!(
        warm["protected"][0]["objects"].as_u64(),
        Some(1),
        "a is protected: {warm}"
    );
    assert_eq!(warm["objects"], fresh["objects"]);
    assert_eq!(warm["files"], fresh["files"]);
    // And -y keeps a and y (the newest now), removes z only.
    b.cache
        .run(&["-d", "--keep-newer-than", "3d", "-y"])
        .expect_code(0);
    let all: Vec<String> = sorted(b.files.values().cloned());
    assert_same_paths(
        &b.cache.files(),
        &without(&all, &b.files_of(&["z"])),
        "-d --keep-newer-than 3d -y after the reuse",
    );
}

/// The plan's totals are the scan's plus what its re-stats changed: an
/// archive rewritten in place (bigger, newer, its directory unchanged)
/// gives the totals a fresh index counts.
#[test]
fn totals_after_an_in_place_rewrite_equal_a_fresh_count() {
    let b = build(&[
        o("a", "busybox", 300),
        o("b", "busybox", 100),
        o("y", "zlib", 60),
        o("z", "zlib", 50),
    ]);
    b.cache.sub("scan", &[]).expect_code(0);
    let archive = b.files["a"]
        .iter()
        .find(|p| p.ends_with(".tar.zst"))
        .expect("a has an archive")
        .clone();
    {
        use std::io::Write as _;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(b.cache.path(&archive))
            .expect("opening the archive");
        f.write_all(&vec![7u8; 64 * 1024])
            .expect("growing the archive");
    }
    set_mtime(&b.cache.path(&archive), now_secs() - 3600);
    let plan_of = |index: &std::path::Path| -> serde_json::Value {
        let run = b
            .cache
            .run_with_index(index, &["-d", "-n", "--format", "json"]);
        run.expect_code(0);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        doc["plan"].clone()
    };
    let warm = plan_of(&b.cache.index);
    assert_eq!(warm["restat"]["changed"].as_u64(), Some(1), "{warm}");
    let fresh = plan_of(&b.cache.outside("fresh.sqlite"));
    assert_eq!(warm["cache"], fresh["cache"], "warm {warm}\nfresh {fresh}");
    assert!(
        warm["cache"]["size"].as_u64().unwrap_or_default() > 64 * 1024,
        "{warm}"
    );
    assert_eq!(warm["disk_bytes"], fresh["disk_bytes"]);
}
