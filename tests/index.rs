//! The index as a record of the cache: incremental rescans (only changed
//! directories are listed), `--full-rescan`, the `scan` command's output,
//! the cleanup's JSON document and the removal history, run through the
//! real binary on real caches.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;

/// A native recipe's object under an EXTRAPATH dir.
fn native<'a>(
    extrapath: &'a str,
    pn: &'a str,
    unihash: String,
    task: &'a str,
    exts: &'a [&'a str],
    mtime: i64,
) -> ObjectSpec<'a> {
    ObjectSpec {
        extrapath,
        pn,
        pkgtarget: "x86_64-linux",
        pkgarch: "x86_64",
        pv: "1.0",
        unihash,
        task,
        exts,
        mtime,
        ..Default::default()
    }
}

/// `populate_lic` as SSTATE_SWSPEC names it: PKGTARGET and PKGARCH empty.
fn lic(pn: &str, seed: u64, mtime: i64) -> ObjectSpec<'_> {
    ObjectSpec {
        pkgtarget: "",
        pkgarch: "",
        ..obj(pn, seed, "populate_lic", ARCHIVE_SIGINFO, mtime)
    }
}

/// Objects on disk: distinct (dir, name stem).
fn disk_objects(cache: &Cache) -> usize {
    disk_entries(cache)
        .iter()
        .map(|e| {
            let cut = e.path.rfind(".tar.zst").expect("entries end in .tar.zst*");
            e.path[..cut].to_string()
        })
        .collect::<BTreeSet<_>>()
        .len()
}

/// `scan --format json` with `extra` arguments.
fn scan_json(cache: &Cache, extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    stdout_json(&cache.sub("scan", &args))
}

/// The last row of the scan history.
fn last_scan(cache: &Cache) -> Vec<String> {
    cache
        .index_query(
            "SELECT mode, dirs_listed, dirs_stat, added, removed, changed, entries, objects, bytes
             FROM scans ORDER BY id DESC LIMIT 1",
        )
        .pop()
        .expect("a scan row")
}

fn mtime_in_index(cache: &Cache, rel: &str) -> f64 {
    let rows = cache.index_query(&format!("SELECT mtime FROM entries WHERE path = '{rel}'"));
    assert_eq!(rows.len(), 1, "{rel} is in the index once");
    rows[0][0].parse().expect("mtime is a number")
}

// ---------------------------------------------------------------------------
// Incremental rescans

#[test]
fn incremental_rescan_matches_the_disk_and_lists_only_changed_dirs() {
    let cache = Cache::new();
    let a = obj("busybox", 1, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let b = obj("busybox", 2, "package", ARCHIVE_SIGINFO_SIG, BASE);
    let c = obj("zlib", 3, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let d = native(
        "universal",
        "zlib-native",
        unihash(4),
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    );
    let e = native(
        "ubuntu-22.04",
        "quilt-native",
        unihash(5),
        "configure",
        SIGINFO_ONLY,
        BASE,
    );
    let f = ObjectSpec {
        pkgtarget: "qemux86_64-poky-linux",
        pkgarch: "qemux86_64",
        ..obj("base-files", 6, "package", ARCHIVE_SIGINFO, BASE + 10)
    };
    let g = lic("busybox", 7, BASE);
    for spec in [&a, &b, &c, &d, &e, &f, &g] {
        cache.object(spec.clone());
    }
    cache.settle_dirs();
    let all_dirs = cache.dirs();

    let cold = scan_json(&cache, &[]);
    assert_eq!(cold["scan"]["mode"], "cold");
    assert_eq!(cold["scan"]["added"], cache.files().len());
    assert_eq!(cache.files().len(), 14);
    assert_eq!(cold["scan"]["dirs_listed"], all_dirs.len());
    assert_eq!(cold["scan"]["dirs_stat"], 0);
    assert_index_matches_disk(&cache);

    // 1. A build adds an object to a's dir.
    let added = ObjectSpec {
        pv: "1.36.2",
        unihash: unihash_with_prefix(&a.unihash[..4], 100),
        mtime: BASE + 200,
        ..a.clone()
    };
    assert_eq!(added.rel_dir(), a.rel_dir());
    let added_paths = cache.object(added);
    let bytes_added = cache.disk_bytes(&added_paths);
    // 2. b's detached signature and all of e (one siginfo) are removed.
    let removed_paths = vec![b.rel_path(".tar.zst.sig"), e.rel_path(".tar.zst.siginfo")];
    let bytes_removed = cache.disk_bytes(&removed_paths);
    for p in &removed_paths {
        fs::remove_file(cache.path(p)).expect("removing an entry");
    }
    // 3. c's archive is rewritten, bigger, the way a build writes one: to a
    //    temporary name, then renamed into place.
    let rewritten = c.rel_path(".tar.zst");
    let size_before = fs::metadata(cache.path(&rewritten)).unwrap().len();
    let tmp = cache.path(&format!("{}/.rewrite.tmp", c.rel_dir()));
    fs::write(&tmp, vec![0x5a; 20_000]).expect("writing the new archive");
    set_mtime(&tmp, BASE + 300);
    fs::rename(&tmp, cache.path(&rewritten)).expect("renaming the archive into place");
    assert_ne!(
        fs::metadata(cache.path(&rewritten)).unwrap().len(),
        size_before
    );

    let changed_dirs: BTreeSet<String> = [&a, &b, &c, &e].iter().map(|s| s.rel_dir()).collect();
    assert_eq!(changed_dirs.len(), 4, "the changes are in 4 distinct dirs");
    let dirs_now = cache.dirs();
    assert_eq!(dirs_now, all_dirs, "no dir was added or removed");

    let inc = scan_json(&cache, &[]);
    let s = &inc["scan"];
    assert_eq!(s["mode"], "incremental");
    assert_eq!(s["added"], 2, "{inc}");
    assert_eq!(s["removed"], 2, "{inc}");
    assert_eq!(s["changed"], 1, "{inc}");
    assert_eq!(s["bytes_added"], bytes_added);
    assert_eq!(s["bytes_removed"], bytes_removed);
    assert_eq!(s["dirs_listed"], changed_dirs.len(), "{inc}");
    assert_eq!(s["dirs_stat"], dirs_now.len() - changed_dirs.len(), "{inc}");
    let disk = disk_entries(&cache);
    assert_eq!(s["entries"], disk.len());
    assert_eq!(s["objects"], disk_objects(&cache));
    assert_eq!(
        s["disk_bytes"],
        disk.iter().map(|e| e.disk_bytes).sum::<u64>()
    );
    assert_eq!(inc["warnings"], serde_json::json!([]));

    assert_index_matches_disk(&cache);
    assert_eq!(mtime_in_index(&cache, &rewritten), (BASE + 300) as f64);
    assert_eq!(
        last_scan(&cache),
        [
            "incremental".to_string(),
            changed_dirs.len().to_string(),
            (dirs_now.len() - changed_dirs.len()).to_string(),
            "2".into(),
            "2".into(),
            "1".into(),
            disk.len().to_string(),
            disk_objects(&cache).to_string(),
            disk.iter().map(|e| e.disk_bytes).sum::<u64>().to_string(),
        ]
    );
    let history = cache.index_query("SELECT mode FROM scans ORDER BY id");
    assert_eq!(history, [["cold"], ["incremental"]]);
}

#[test]
fn touch_only_change_is_missed_incrementally_and_caught_by_full_rescan() {
    let cache = Cache::new();
    let a = obj("busybox", 10, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let b = obj("zlib", 11, "package", ARCHIVE_SIGINFO, BASE);
    cache.object(a.clone());
    cache.object(b);
    cache.settle_dirs();
    scan_json(&cache, &[]);
    let dir_of_a = cache.path(&a.rel_dir());
    let dir_mtime = fs::metadata(&dir_of_a).unwrap().mtime();

    // A build reuses the object: its mtime changes, its directory does not.
    let touched = a.rel_path(".tar.zst");
    set_mtime(&cache.path(&touched), BASE + 1000);
    assert_eq!(fs::metadata(&dir_of_a).unwrap().mtime(), dir_mtime);

    let inc = scan_json(&cache, &[]);
    assert_eq!(inc["scan"]["mode"], "incremental");
    assert_eq!(inc["scan"]["changed"], 0, "{inc}");
    assert_eq!(inc["scan"]["dirs_listed"], 0, "{inc}");
    assert_eq!(mtime_in_index(&cache, &touched), BASE as f64, "missed");

    let full = scan_json(&cache, &["--full-rescan"]);
    assert_eq!(full["scan"]["mode"], "full");
    assert_eq!(full["scan"]["changed"], 1, "{full}");
    assert_eq!(full["scan"]["added"], 0);
    assert_eq!(full["scan"]["removed"], 0);
    assert_eq!(full["scan"]["dirs_listed"], cache.dirs().len());
    assert_eq!(full["scan"]["dirs_stat"], 0);
    assert_eq!(
        mtime_in_index(&cache, &touched),
        (BASE + 1000) as f64,
        "caught"
    );
    let last_used = cache.index_query(&format!(
        "SELECT last_used FROM objects WHERE path = '{}/{}'",
        a.rel_dir(),
        a.stem()
    ));
    assert_eq!(last_used, [[(BASE + 1000).to_string()]]);
    assert_index_matches_disk(&cache);
    let dirs = cache.dirs().len().to_string();
    assert_eq!(last_scan(&cache)[..3], ["full", dirs.as_str(), "0"]);
}

#[test]
fn warm_cleanup_sees_an_object_a_build_reused_in_place() {
    let cache = Cache::new();
    let old = cache.object(obj("busybox", 20, "package", ARCHIVE_SIGINFO, BASE));
    let new = cache.object(obj("busybox", 21, "package", ARCHIVE_SIGINFO, BASE + 100));
    cache.settle_dirs();
    scan_json(&cache, &[]);
    // A build reuses the old object: it becomes the newest.
    for p in &old {
        set_mtime(&cache.path(p), BASE + 200);
    }
    // The incremental scan lists nothing (no directory changed), but the
    // plan re-stats what it would select, sees the reuse, and picks the
    // other object: the stale one now.
    let warm = stdout_json(&cache.run(&["-d", "-y", "--format", "json"]));
    assert_eq!(warm["scan"]["mode"], "incremental");
    // (The root alone is listed: the cleanup made its lock dir there.)
    assert_eq!(
        warm["scan"]["changed"], 0,
        "the scan did not see the reuse: {warm}"
    );
    assert!(warm["scan"]["dirs_listed"].as_u64() <= Some(1), "{warm}");
    assert_eq!(warm["plan"]["restat"]["changed"], 2, "{warm}");
    assert_eq!(warm["result"]["removed_files"], 2, "{warm}");
    assert_eq!(warm["result"]["skipped_changed"], 0, "{warm}");
    assert_eq!(cache.files(), sorted([old]));
    assert!(!new.iter().any(|p| cache.path(p).exists()));
    assert_index_matches_disk(&cache);
}

#[test]
fn removed_hash_dir_leaves_the_index_and_new_extrapath_dir_enters_it() {
    let cache = Cache::new();
    let x = obj("zlib", 0, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let x = ObjectSpec {
        unihash: unihash_with_prefix("1234", 30),
        ..x
    };
    let y = ObjectSpec {
        unihash: unihash_with_prefix("1256", 31),
        ..obj("zlib", 0, "package", ARCHIVE_SIGINFO, BASE)
    };
    let z = obj("busybox", 32, "package", ARCHIVE_SIGINFO, BASE);
    assert!(!z.rel_dir().starts_with("12/"), "z is elsewhere");
    let x_paths = cache.object(x);
    cache.object(y);
    cache.object(z);
    cache.settle_dirs();
    scan_json(&cache, &[]);
    assert_eq!(
        cache.index_query("SELECT count(*) FROM entries WHERE path LIKE '12/34/%'"),
        [["2"]]
    );

    let bytes_removed = cache.disk_bytes(&x_paths);
    fs::remove_dir_all(cache.path("12/34")).expect("removing a whole HH/hh dir");
    let n = native(
        "ubuntu-22.04",
        "quilt-native",
        unihash_with_prefix("abcd", 33),
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 50,
    );
    assert_eq!(n.rel_dir(), "ubuntu-22.04/ab/cd");
    let n_paths = cache.object(n);

    let j = scan_json(&cache, &[]);
    let s = &j["scan"];
    assert_eq!(s["mode"], "incremental");
    assert_eq!(s["removed"], 2, "{j}");
    assert_eq!(s["bytes_removed"], bytes_removed);
    assert_eq!(s["added"], 2, "{j}");
    assert_eq!(s["changed"], 0, "{j}");
    // The root (a new dir in it), 12 (a dir gone from it) and the three
    // new ones; every other dir is only stat-ed.
    assert_eq!(s["dirs_listed"], 5, "{j}");
    assert_eq!(s["dirs_stat"], cache.dirs().len() - 5, "{j}");
    assert_eq!(
        j["warnings"],
        serde_json::json!([]),
        "a gone dir is no warning"
    );

    assert_eq!(
        cache.index_query("SELECT count(*) FROM entries WHERE path LIKE '12/34/%'"),
        [["0"]]
    );
    let native_rows = cache.index_query(
        "SELECT path, pn, pkgarch FROM entries WHERE extrapath = 'ubuntu-22.04' ORDER BY path",
    );
    let expected: Vec<Vec<String>> = sorted([n_paths])
        .into_iter()
        .map(|p| vec![p, "quilt-native".into(), "x86_64".into()])
        .collect();
    assert_eq!(native_rows, expected);
    assert_index_matches_disk(&cache);
}

// ---------------------------------------------------------------------------
// The scan command's output

#[test]
fn scan_text_output_tells_the_counts_and_exits_0() {
    let cache = Cache::new();
    let a = obj("busybox", 40, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    cache.object(a.clone());
    cache.object(obj("zlib", 41, "package", ARCHIVE_SIGINFO_SIG, BASE));
    cache.object(obj("zlib", 42, "configure", SIGINFO_ONLY, BASE));
    cache.settle_dirs();
    let dirs = cache.dirs().len();

    let run = cache.sub("scan", &[]);
    run.expect_code(0);
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 2, "two lines:\n{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!("Scanned {} (cold, ", cache.dir.display()))
            && lines[0].contains("): 6 entries in 3 objects, "),
        "{}",
        lines[0]
    );
    for part in [
        "Since the last scan: 6 added (",
        ", 0 removed (",
        ", 0 changed; ",
    ] {
        assert!(lines[1].contains(part), "`{part}` in `{}`", lines[1]);
    }
    assert!(
        lines[1].ends_with(&format!("; {dirs} dirs listed, 0 unchanged")),
        "{}",
        lines[1]
    );

    // One more object in a's dir.
    cache.object(ObjectSpec {
        unihash: unihash_with_prefix(&a.unihash[..4], 43),
        pv: "1.37.0",
        ..a
    });
    let run = cache.sub("scan", &[]);
    run.expect_code(0);
    let lines = run.stdout_lines();
    assert!(
        lines[0].contains("(incremental, ") && lines[0].contains("): 8 entries in 4 objects, "),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("Since the last scan: 2 added (")
            && lines[1].contains(", 0 removed (")
            && lines[1].ends_with(&format!(
                ", 0 changed; 1 dirs listed, {} unchanged",
                dirs - 1
            )),
        "{}",
        lines[1]
    );
}

#[test]
fn scan_json_has_the_documented_shape() {
    let cache = Cache::new();
    cache.object(obj(
        "busybox",
        50,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let rel_dir = obj("zlib", 51, "package", ARCHIVE_SIGINFO, BASE).rel_dir();
    cache.object(obj("zlib", 51, "package", ARCHIVE_SIGINFO, BASE));
    // A name that is not UTF-8: skipped, with a warning.
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"sstate:bad\xff.tar.zst");
        fs::write(cache.path(&rel_dir).join(name), b"x").expect("writing a non-UTF-8 name");
    }
    for mode in ["cold", "incremental"] {
        let run = cache.sub("scan", &["--format", "json"]);
        let doc = stdout_json(&run);
        assert_eq!(doc["cache_dir"], cache.dir.to_str().unwrap());
        assert_eq!(doc["index"], cache.index.to_str().unwrap());
        let s = doc["scan"].as_object().expect("scan is an object");
        assert_eq!(s["mode"], mode);
        for key in [
            "entries",
            "objects",
            "disk_bytes",
            "added",
            "removed",
            "changed",
            "dirs_listed",
            "dirs_stat",
        ] {
            assert!(s[key].is_u64(), "scan.{key} is a count: {doc}");
        }
        assert_eq!(s["entries"], 4);
        assert_eq!(s["objects"], 2);
        let entries = cache.index_query("SELECT path FROM entries");
        let rels: Vec<String> = entries.into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(s["disk_bytes"], cache.disk_bytes(&rels));
        let warnings = doc["warnings"].as_array().expect("warnings is an array");
        assert!(
            warnings.iter().all(Value::is_string),
            "warnings are strings: {doc}"
        );
        if mode == "cold" {
            assert_eq!(s["added"], 4);
            assert_eq!(warnings.len(), 1, "{doc}");
            assert!(
                warnings[0].as_str().unwrap().contains("not valid UTF-8"),
                "{doc}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Cleanups as JSON, and the removal history

/// busybox: an old generation (with .sig) and a new one; zlib package: an
/// archive and an older orphan siginfo; zlib-native: alone.
struct Scene {
    cache: Cache,
    old: Vec<String>,
    orphan: Vec<String>,
    total: usize,
}

fn scene() -> Scene {
    let cache = Cache::new();
    let old = cache.object(obj(
        "busybox",
        60,
        "populate_sysroot",
        ARCHIVE_SIGINFO_SIG,
        BASE,
    ));
    cache.object(obj(
        "busybox",
        61,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let orphan = cache.object(obj("zlib", 62, "package", SIGINFO_ONLY, BASE));
    cache.object(obj("zlib", 63, "package", ARCHIVE_SIGINFO, BASE + 100));
    cache.object(native(
        "universal",
        "zlib-native",
        unihash(64),
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let total = cache.files().len();
    assert_eq!(total, 10);
    Scene {
        cache,
        old,
        orphan,
        total,
    }
}

fn policy_rows(doc: &Value) -> Vec<(String, u64, u64, u64)> {
    doc["plan"]["policies"]
        .as_array()
        .expect("plan.policies is an array")
        .iter()
        .map(|p| {
            let keys: BTreeSet<&str> = p
                .as_object()
                .expect("a policy is an object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                BTreeSet::from(["policy", "description", "objects", "files", "disk_bytes"])
            );
            (
                p["policy"].as_str().expect("policy name").to_string(),
                p["objects"].as_u64().expect("objects"),
                p["files"].as_u64().expect("files"),
                p["disk_bytes"].as_u64().expect("disk_bytes"),
            )
        })
        .collect()
}

fn assert_common_shape(doc: &Value, cache: &Cache, dry_run: bool) {
    let keys: BTreeSet<&str> = doc
        .as_object()
        .expect("the document is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "cache_dir",
            "index",
            "dry_run",
            "scan",
            "plan",
            "timings_ms",
            "requests",
            "trash_dir",
            "result"
        ])
    );
    // Requests are an object store's (s3.rs); a local cache makes none.
    assert!(doc["requests"].is_null());
    for phase in ["scan", "plan", "remove", "index_update"] {
        assert!(doc["timings_ms"][phase].is_u64(), "timings_ms.{phase}");
    }
    assert_eq!(doc["cache_dir"], cache.dir.to_str().unwrap());
    assert_eq!(doc["index"], cache.index.to_str().unwrap());
    assert_eq!(doc["dry_run"], dry_run);
    for key in [
        "mode",
        "entries",
        "objects",
        "disk_bytes",
        "added",
        "removed",
    ] {
        assert!(!doc["scan"][key].is_null(), "scan.{key} in {doc}");
    }
    for key in ["objects", "files", "disk_bytes", "total_files"] {
        assert!(doc["plan"][key].is_u64(), "plan.{key} in {doc}");
    }
}

#[test]
fn cleanup_json_documents_the_plan_and_the_result() {
    let Scene {
        cache,
        old,
        orphan,
        total,
    } = scene();
    let old_bytes = cache.disk_bytes(&old);
    let orphan_bytes = cache.disk_bytes(&orphan);
    let before = cache.files();

    let dry = stdout_json(&cache.run(&["-d", "--remove-orphans", "--format", "json", "-n"]));
    assert_common_shape(&dry, &cache, true);
    assert_eq!(dry["scan"]["mode"], "cold");
    assert_eq!(dry["scan"]["entries"], total);
    assert_eq!(
        policy_rows(&dry),
        [
            ("duplicates".to_string(), 2, 4, old_bytes + orphan_bytes),
            ("orphans".to_string(), 1, 1, orphan_bytes),
        ]
    );
    assert_eq!(dry["plan"]["objects"], 2);
    assert_eq!(dry["plan"]["files"], 4);
    assert_eq!(dry["plan"]["disk_bytes"], old_bytes + orphan_bytes);
    assert_eq!(dry["plan"]["total_files"], total);
    assert!(dry["result"].is_null(), "{dry}");
    assert_eq!(cache.files(), before);

    let wet = stdout_json(&cache.run(&["-d", "--remove-orphans", "--format", "json", "-y"]));
    assert_common_shape(&wet, &cache, false);
    assert_eq!(wet["scan"]["mode"], "incremental");
    assert_eq!(wet["plan"]["files"], 4);
    assert_eq!(wet["plan"]["total_files"], total);
    let result = wet["result"].as_object().expect("result is an object");
    let keys: BTreeSet<&str> = result.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "removed_files",
            "removed_bytes",
            "removed_objects",
            "skipped_changed",
            "skipped_objects",
            "skipped_gone",
            "failed",
            "interrupted",
            "not_attempted",
            "targets_removed",
            "skipped"
        ])
    );
    assert_eq!(result["removed_objects"], 2);
    assert_eq!(result["interrupted"], false);
    assert_eq!(result["removed_files"], 4);
    assert_eq!(result["removed_bytes"], old_bytes + orphan_bytes);
    assert_eq!(result["skipped_changed"], 0);
    assert_eq!(result["skipped_gone"], 0);
    assert_eq!(result["failed"], 0);
    assert_eq!(result["skipped"], serde_json::json!([]));
    let removed = sorted([old, orphan]);
    assert_eq!(cache.files(), without(&before, &removed));
    assert_index_matches_disk(&cache);
}

#[test]
fn removal_history_records_dry_runs_and_removals() {
    let Scene {
        cache, old, orphan, ..
    } = scene();
    let query = |sql: &str| {
        let run = cache.sub("query", &["--format", "csv", sql]);
        run.expect_code(0);
        run.stdout
    };

    let run = cache.run(&["-d", "--remove-orphans", "-n"]);
    run.expect_code(0);
    assert_eq!(
        query("SELECT policies, dry_run, confirmed, removed_files FROM removal_run ORDER BY id"),
        // The policies field holds a comma: CSV quotes it.
        "policies,dry_run,confirmed,removed_files\n\"duplicates,orphans\",1,0,0\n"
    );
    assert_eq!(
        query("SELECT count(*) AS n FROM removals"),
        "n\n0\n",
        "a dry run removes nothing"
    );

    let run = cache.run(&["-d", "-y"]);
    run.expect_code(0);
    assert_eq!(
        query("SELECT policies, dry_run, confirmed, removed_files FROM removal_run ORDER BY id"),
        "policies,dry_run,confirmed,removed_files\n\"duplicates,orphans\",1,0,0\nduplicates,0,1,4\n"
    );
    let mut expected = String::from("run_id,path,outcome,policies\n");
    // -d selects the old busybox and the orphan siginfo of zlib (a
    // duplicate too: its group has a newer archive).
    for p in sorted([old, orphan]) {
        expected.push_str(&format!("2,{p},removed,duplicates\n"));
    }
    assert_eq!(
        query("SELECT run_id, path, outcome, policies FROM removals ORDER BY path"),
        expected
    );
}

#[test]
fn cold_scan_rebuilds_the_indexes_it_defers_and_plans_use_them() {
    let cache = Cache::new();
    cache.object(obj(
        "busybox",
        60,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    cache.object(obj(
        "busybox",
        61,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 10,
    ));
    cache.settle_dirs();
    cache.sub("scan", &[]).expect_code(0);
    let indexes: Vec<String> = cache
        .index_query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for name in ["entry_object", "object_dir", "object_group"] {
        assert!(
            indexes.iter().any(|i| i == name),
            "{name} missing after a cold scan: {indexes:?}"
        );
    }
    // The policy query is answered from the covering index.
    let plan = cache.index_query(
        "EXPLAIN QUERY PLAN SELECT group_id, max(archive_mtime_ns), sum(n_entries), sum(disk_bytes) FROM object GROUP BY group_id",
    );
    assert!(
        plan.iter()
            .any(|r| r.join(" ").contains("COVERING INDEX object_group")),
        "{plan:?}"
    );
    // And a second, incremental scan keeps them.
    cache.sub("scan", &[]).expect_code(0);
    let again = cache
        .index_query("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
    assert_eq!(again[0][0], indexes.len().to_string());
}

#[test]
fn groups_left_empty_leave_the_index_after_a_rescan_and_after_a_removal() {
    let cache = Cache::new();
    let gone = obj("zlib", 70, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let gone_paths = cache.object(gone);
    cache.object(obj("busybox", 71, "package", ARCHIVE_SIGINFO, BASE));
    cache.object(obj("busybox", 72, "package", ARCHIVE_SIGINFO, BASE + 10));
    cache.object(obj("zlib", 73, "configure", SIGINFO_ONLY, BASE));
    cache.settle_dirs();
    scan_json(&cache, &[]);
    let groups = |c: &Cache| c.index_query("SELECT pn, task FROM grp ORDER BY pn, task");
    assert_eq!(
        groups(&cache),
        [
            ["busybox", "package"],
            ["zlib", "configure"],
            ["zlib", "populate_sysroot"]
        ]
    );

    // The only object of a group disappears from disk: its group goes too.
    for p in &gone_paths {
        fs::remove_file(cache.path(p)).expect("removing an object");
    }
    scan_json(&cache, &[]);
    assert_eq!(
        groups(&cache),
        [["busybox", "package"], ["zlib", "configure"]]
    );

    // -d empties no group; --remove-orphans empties the configure one.
    cache.run(&["-d", "-y"]).expect_code(0);
    assert_eq!(
        groups(&cache),
        [["busybox", "package"], ["zlib", "configure"]]
    );
    cache.run(&["--remove-orphans", "-y"]).expect_code(0);
    assert_eq!(groups(&cache), [["busybox", "package"]]);
    let report = stdout_json(&cache.sub("report", &["--format", "json"]));
    assert_eq!(report["groups"], 1);
}
