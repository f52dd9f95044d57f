//! Mirrors on an object store (`--cache-dir s3://BUCKET/PREFIX`), against a
//! real S3-compatible server the tests start themselves (moto, see
//! `tests/support/s3server.py`): the same plans as a local cache of the
//! same files, removal of whole objects with the re-check of every key,
//! `touch`, and errors from the store reported per key with nothing lost.

use crate::common::s3::{Mirror, S3Server};
use crate::common::scenario::{Built, Obj, build, o};
use crate::common::*;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Generations of a few recipes, ages (days) far from every cutoff used.
const CACHE: &[Obj] = &[
    o("b1", "busybox", 10),
    o("b2", "busybox", 100),
    o("b3", "busybox", 400),
    o("z1", "zlib", 5).exts(ARCHIVE_SIGINFO_SIG),
    o("z2", "zlib", 300).exts(ARCHIVE_SIGINFO_SIG),
    o("c1", "gcc", 250).task("compile").exts(SIGINFO_ONLY),
    o("l1", "glibc", 300).task("populate_lic"),
    o("l2", "glibc", 5).task("populate_lic"),
    o("k1", "linux-yocto", 200).kib(64),
    o("k2", "linux-yocto", 150).kib(32),
];

/// A scenario's cache uploaded to the store: the mirror, and the
/// scenario's objects (files relative to the mirror's root).
struct OnStore {
    m: Mirror,
    files: BTreeMap<&'static str, Vec<String>>,
    specs: BTreeMap<&'static str, ObjectSpec<'static>>,
}

impl OnStore {
    fn files_of(&self, names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().flat_map(|n| self.files[n].clone()).collect();
        v.sort();
        v
    }

    fn all_files(&self) -> Vec<String> {
        let mut v: Vec<String> = self.files.values().flatten().cloned().collect();
        v.sort();
        v
    }
}

fn mirror_of(server: &Rc<S3Server>, built: Built, prefix: &str) -> OnStore {
    let Built {
        cache,
        files,
        specs,
    } = built;
    let m = Mirror::of(Rc::clone(server), cache, prefix);
    let n = m.upload();
    assert_eq!(n, files.values().map(Vec::len).sum::<usize>());
    OnStore { m, files, specs }
}

/// The `-n -D` list of a run on the mirror, relative to it, and its
/// summary line.
fn mirror_plan(m: &Mirror, args: &[&str]) -> (Vec<String>, String) {
    let mut all = vec!["-n", "-D"];
    all.extend_from_slice(args);
    let run = m.run(&all);
    run.expect_code(0);
    let mut lines: Vec<String> = run.stdout_lines().iter().map(|l| l.to_string()).collect();
    let summary = lines.pop().unwrap_or_default();
    let url = format!("{}/", m.url());
    let mut rel: Vec<String> = lines
        .iter()
        .map(|l| {
            l.strip_prefix(url.as_str())
                .unwrap_or_else(|| panic!("not under {url}: {l}"))
                .to_string()
        })
        .collect();
    rel.sort();
    (rel, summary)
}

fn local_plan(cache: &Cache, args: &[&str]) -> (Vec<String>, String) {
    let (lines, summary) = scenario::listing(cache, &cache.index, args);
    let root = format!("{}/", cache.dir.display());
    let mut rel: Vec<String> = lines
        .iter()
        .map(|l| l.strip_prefix(root.as_str()).unwrap_or(l).to_string())
        .collect();
    rel.sort();
    (rel, summary)
}

#[test]
fn a_mirror_plans_and_removes_what_the_same_local_cache_would() {
    let server = Rc::new(S3Server::start());
    let cases: &[(&[&str], &[&str])] = &[
        (&["-d"], &["b2", "b3", "z2", "k1"]),
        (&["-d", "--keep-per-group", "2"], &["b3"]),
        (&["--older-than", "90d", "--no-keep-deps"], &[]),
        (&["--stamps-dir", "STAMPS"], &[]),
        (&["--where", "pn = 'linux-yocto'"], &["k1", "k2"]),
    ];
    for (i, (args, pinned)) in cases.iter().enumerate() {
        let built = build(CACHE);
        // The oracle: the same files as a local cache.
        let stamps = built.cache.stamps(
            "stamps",
            &[format!(
                "core2-64-poky-linux/busybox/1.36.1-r0.do_populate_sysroot_setscene.{}.siginfo",
                built.specs["b1"].unihash
            )],
        );
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if *a == "STAMPS" {
                    stamps.to_str().expect("UTF-8")
                } else {
                    a
                }
            })
            .collect();
        let local = local_plan(&built.cache, &args);
        let st = mirror_of(&server, built, &format!("case{i}/sstate"));
        let (m, everything) = (&st.m, st.all_files());
        let planned = mirror_plan(m, &args);
        assert_eq!(
            planned, local,
            "{args:?}: the mirror's plan differs from the local one"
        );
        if !pinned.is_empty() {
            assert_eq!(planned.0, st.files_of(pinned), "{args:?}");
        }
        // The warm index plans the same, and -y removes exactly that.
        assert_eq!(mirror_plan(m, &args), planned, "{args:?}: warm");
        let mut yes = args.clone();
        yes.push("-y");
        m.run(&yes).expect_code(0);
        let expected: Vec<String> = everything
            .iter()
            .filter(|f| !planned.0.contains(f))
            .cloned()
            .collect();
        assert_eq!(m.keys(), expected, "{args:?}: keys left");
        // The index agrees with the store afterwards.
        assert_eq!(
            mirror_plan(m, &args).0,
            Vec::<String>::new(),
            "{args:?}: after"
        );
    }
}

#[test]
fn scan_report_and_query_work_on_a_mirror_and_a_rescan_applies_the_difference() {
    let built = build(CACHE);
    let server = Rc::new(S3Server::start());
    let st = mirror_of(&server, built, "ci");
    let (m, files) = (&st.m, st.all_files());
    let run = m.run(&["scan"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Scanned s3://sstate-test/ci (cold"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "{} entries in {} objects",
            files.len(),
            CACHE.len()
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("Listed {} keys with", files.len())),
        "{}",
        run.stdout
    );
    let q = m.run(&[
        "query",
        "--format",
        "csv",
        "SELECT count(*) AS n, sum(size) AS bytes FROM entries",
    ]);
    q.expect_code(0);
    assert!(
        q.stdout.starts_with(&format!("n,bytes\n{},", files.len())),
        "{}",
        q.stdout
    );
    let report = m.run(&["report", "--format", "json"]);
    report.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&report.stdout).expect("report JSON");
    assert_eq!(doc["files"], files.len() as u64, "{}", report.stdout);
    assert_eq!(
        doc["deps"]["read"], 10,
        "the siginfo files were read from the store"
    );

    let json = m.run(&["-d", "-n", "--format", "json"]);
    json.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("cleanup JSON");
    assert!(
        doc["requests"]["list"].as_u64().unwrap_or(0) >= 1,
        "{}",
        json.stdout
    );
    assert_eq!(doc["requests"]["delete"], 0, "a dry run deletes nothing");

    // Behind the index's back: one key gone, natives added under an
    // EXTRAPATH prefix (listed in ranges by the first hex digit of their
    // HH dir: these fall in the first, a middle, the last range, and on
    // the boundary of one).
    m.delete(&st.files["b3"][0]);
    let staged = Cache::new();
    let mut added = 0;
    for first in ["0", "7", "f", "1"] {
        let hash = format!("{first}{}", &unihash(4242)[1..]);
        let extra = m.cache.object(ObjectSpec {
            extrapath: "universal",
            pn: "zstd-native",
            pkgtarget: "x86_64-linux",
            pkgarch: "x86_64",
            unihash: hash,
            ..Default::default()
        });
        for rel in &extra {
            let to = staged.path(rel);
            std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
            std::fs::copy(m.cache.path(rel), &to).expect("copy");
            added += 1;
        }
    }
    m.upload_dir(&staged.dir);
    let run = m.run(&["scan"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("Since the last scan: {added} added"))
            && run.stdout.contains("1 removed"),
        "{}",
        run.stdout
    );
    let rows = m.index_query("SELECT count(*) FROM entries");
    assert_eq!(rows[0][0], (files.len() - 1 + added).to_string());
    let rows = m.index_query(
        "SELECT DISTINCT extrapath, substr(unihash, 1, 1) FROM entries WHERE pn = 'zstd-native' ORDER BY 2",
    );
    let firsts: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(firsts, ["0", "1", "7", "f"], "{rows:?}");
    assert!(rows.iter().all(|r| r[0] == "universal"));
}

#[test]
fn a_key_changed_after_the_plan_keeps_its_whole_object() {
    let built = build(CACHE);
    let server = Rc::new(S3Server::start());
    let st = mirror_of(&server, built, "");
    let (m, built) = (&st.m, &st);
    let mut p = m.spawn(&["-d", "-D"]);
    let listed = p.wait_for_prompt();
    assert!(listed.iter().any(|l| l.ends_with(&built.files["b3"][0])));
    // While the prompt waits: a build uploads b3's archive again (new
    // contents, new ETag) with the old time, and refreshes z2's siginfo.
    let old = built.specs["b3"].mtime;
    m.put(&built.files["b3"][0], "rebuilt");
    m.set_mtime(&built.files["b3"][0], old);
    m.set_mtime(&built.files["z2"][1], now_secs());
    let run = p.answer("y\n");
    run.expect_code(0);
    let keys = m.keys();
    for name in ["b3", "z2"] {
        for f in &built.files[name] {
            assert!(keys.contains(f), "{f} of {name} must stay: {keys:?}");
        }
    }
    for name in ["b2", "k1"] {
        for f in &built.files[name] {
            assert!(!keys.contains(f), "{f} must go");
        }
    }
    let changed = built.files["b3"].len() + built.files["z2"].len();
    assert!(
        run.stdout
            .contains(&format!("changed since indexed: {changed}")),
        "{}",
        run.stdout
    );
}

#[test]
fn touch_refreshes_what_a_build_used_and_older_than_then_keeps_it() {
    let built = build(CACHE);
    let server = Rc::new(S3Server::start());
    let stamps = built.cache.stamps(
        "stamps",
        &[
            format!(
                "core2-64-poky-linux/busybox/1.36.1-r0.do_populate_sysroot_setscene.{}.siginfo",
                built.specs["b3"].unihash
            ),
            format!(
                "core2-64-poky-linux/gcc/1.36.1-r0.do_compile.sigdata.{}",
                built.specs["c1"].unihash
            ),
        ],
    );
    let s = stamps.to_str().expect("UTF-8").to_string();
    let st = mirror_of(&server, built, "mirror");
    let (m, built) = (&st.m, &st);
    let before = mirror_plan(m, &["--older-than", "30d", "--no-keep-deps"]).0;
    assert!(before.contains(&built.files["b3"][0]));
    assert!(before.contains(&built.files["c1"][0]));

    let dry = m.run(&["touch", "--stamps-dir", &s, "-n"]);
    dry.expect_code(0);
    assert!(
        dry.stdout.contains("Would touch 3 files of 2 objects"),
        "{}",
        dry.stdout
    );
    let run = m.run(&["touch", "--stamps-dir", &s]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("Touched 3 files of 2 objects the stamps name (0 failed)"),
        "{}",
        run.stdout
    );
    assert!(m.requests().get("PUT").copied().unwrap_or(0) >= 3);

    let after = mirror_plan(m, &["--older-than", "30d", "--no-keep-deps"]).0;
    let mut expected = before.clone();
    expected.retain(|f| !built.files["b3"].contains(f) && !built.files["c1"].contains(f));
    assert_eq!(after, expected);
    m.run(&["--older-than", "30d", "--no-keep-deps", "-y"])
        .expect_code(0);
    let keys = m.keys();
    for f in built.files["b3"].iter().chain(&built.files["c1"]) {
        assert!(keys.contains(f), "{f} was used by the build: it must stay");
    }
    for f in built.files["b2"].iter().chain(&built.files["k1"]) {
        assert!(!keys.contains(f), "{f} is old and unused: it must go");
    }
}

#[test]
fn touch_on_a_local_cache_sets_mtimes_and_the_warm_index_sees_them() {
    let built = build(CACHE);
    let stamps = built.cache.stamps(
        "stamps",
        &[format!(
            "core2-64-poky-linux/linux-yocto/1.36.1-r0.do_populate_sysroot_setscene.{}.siginfo",
            built.specs["k1"].unihash
        )],
    );
    let s = stamps.to_str().expect("UTF-8");
    let c = &built.cache;
    let (before, _) = local_plan(c, &["--older-than", "30d", "--no-keep-deps"]);
    assert!(before.contains(&built.files["k1"][0]));
    c.run(&["touch", "--stamps-dir", s]).expect_code(0);
    for f in &built.files["k1"] {
        let age = now_secs()
            - filetime::FileTime::from_last_modification_time(
                &std::fs::metadata(c.path(f)).expect("stat"),
            )
            .unix_seconds();
        assert!(age < 60, "{f} was touched {age} s ago?");
    }
    // The index kept since the last run knows, without a full rescan.
    let (after, _) = local_plan(c, &["--older-than", "30d", "--no-keep-deps"]);
    let mut expected = before.clone();
    expected.retain(|f| !built.files["k1"].contains(f));
    assert_eq!(after, expected);
}

#[test]
fn dependency_retention_reads_the_siginfo_from_the_store() {
    // k2 (used 5 days ago) depends on z2 (300 days): z2 stays with the
    // default --older-than, goes with --no-keep-deps.
    const DEPS: &[Obj] = &[
        o("k2", "linux-yocto", 5).deps(&["z2"]),
        o("z2", "zlib", 300),
        o("b3", "busybox", 400),
    ];
    let server = Rc::new(S3Server::start());
    for (i, (args, gone)) in [
        (&["--older-than", "30d"][..], &["b3"][..]),
        (
            &["--older-than", "30d", "--no-keep-deps"][..],
            &["b3", "z2"][..],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let st = mirror_of(&server, build(DEPS), &format!("deps{i}"));
        let (m, built) = (&st.m, &st);
        let (planned, _) = mirror_plan(m, args);
        assert_eq!(planned, built.files_of(gone), "{args:?}");
        let mut yes = args.to_vec();
        yes.push("-y");
        m.run(&yes).expect_code(0);
        let keys = m.keys();
        let mut kept: Vec<&str> = DEPS
            .iter()
            .map(|o| o.name)
            .filter(|n| !gone.contains(n))
            .collect();
        kept.sort();
        assert_eq!(keys, built.files_of(&kept), "{args:?}");
    }
}

#[test]
fn store_errors_are_reported_per_key_and_lose_nothing() {
    let built = build(CACHE);
    let server = Rc::new(S3Server::start());
    let st = mirror_of(&server, built, "faults");
    let (m, built) = (&st.m, &st);
    // Listing: two 503s, retried by the client.
    m.fault("GET", "prefix=faults", 503, 2);
    m.run(&["scan"]).expect_code(0);
    assert_eq!(m.faults_left()[0].1, 0, "the listing faults were served");
    // Removal: b3's archive refused (403) inside the multi-object delete,
    // k1's re-check answered 503 twice (retried), z2's siginfo 404 on the
    // re-check (gone: the rest of z2 goes).
    m.fault("DELETE", &built.files["b3"][0], 403, 1);
    m.fault("HEAD", &built.files["k1"][0], 503, 2);
    m.fault("HEAD", &built.files["z2"][1], 404, 1);
    let run = m.run(&["-d", "-y"]);
    assert!(
        m.faults_left().iter().all(|(_, left)| *left == 0),
        "every injected error was served: {:?}",
        m.faults_left()
    );
    assert_eq!(
        run.code, 1,
        "a failed key fails the run\n{}\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains(&built.files["b3"][0]), "{}", run.stderr);
    assert!(run.stderr.contains("AccessDenied"), "{}", run.stderr);
    let keys = m.keys();
    // b3: its archive could not be deleted, so none of its keys was.
    for f in &built.files["b3"] {
        assert!(keys.contains(f), "{f} must stay");
    }
    for name in ["b2", "k1"] {
        for f in &built.files[name] {
            assert!(!keys.contains(f), "{f} must go");
        }
    }
    // z2's siginfo looked gone (404) so it was left alone; the rest went.
    assert!(keys.contains(&built.files["z2"][1]));
    assert!(!keys.contains(&built.files["z2"][0]));
    // Nothing lost: the index still holds b3 and the next run retries it.
    let again = mirror_plan(m, &["-d"]).0;
    for f in &built.files["b3"] {
        assert!(again.contains(f), "{f} must be planned again: {again:?}");
    }
    m.run(&["-d", "-y"]).expect_code(0);
    assert!(!m.keys().contains(&built.files["b3"][0]));
}

#[test]
fn bad_store_locations_and_options_say_what_is_wrong() {
    let cache = Cache::new();
    let r = cache.run_raw(&["--cache-dir", "s3://No_Such/x", "-d", "-n"], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not a bucket name"), "{}", r.stderr);
    let r = cache.run_raw(&["--cache-dir", "gs://bucket/x", "scan"], None);
    assert!(r.stderr.contains("unsupported URL scheme"), "{}", r.stderr);
    let r = cache.run(&["--s3-endpoint", "http://127.0.0.1:9", "-d", "-n"]);
    assert!(
        r.stderr
            .contains("--s3-endpoint is for a cache on an object store"),
        "{}",
        r.stderr
    );
    let r = cache.run_raw(&["--cache-dir", "s3://bucket/x", "-d", "-y", "-L"], None);
    assert!(
        r.stderr.contains("-L: an object store has no symlinks"),
        "{}",
        r.stderr
    );
    // No credentials anywhere: say so, not just what the metadata service
    // answered.
    let out = cache
        .command(&[
            "--cache-dir",
            "s3://bucket/x",
            "--s3-endpoint",
            "http://127.0.0.1:9",
            "--index",
            cache.outside("nocreds.sqlite").to_str().expect("UTF-8"),
            "scan",
        ])
        .env("HOME", cache.root())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no AWS credentials"), "{err}");
    // A store that does not answer: a clear error, and no index is left.
    let index = cache.outside("unreachable.sqlite");
    let out = cache
        .command(&[
            "--cache-dir",
            "s3://bucket/x",
            "--s3-endpoint",
            "http://127.0.0.1:9",
            "--index",
            index.to_str().expect("UTF-8"),
            "-j",
            "2",
            "scan",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("running the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("s3://bucket/x: listing"), "{err}");
    assert!(!index.exists());
}

#[test]
fn many_keys_under_one_directory_are_re_checked_by_listing_it() {
    // Eight generations of one recipe whose hashes all start with "ab":
    // their keys share the parent directory ab/, which the removal lists
    // again instead of HEAD-ing each key.
    let server = Rc::new(S3Server::start());
    let m = Mirror::of(Rc::clone(&server), Cache::new(), "one-dir");
    let now = now_secs();
    let mut objects = Vec::new();
    for i in 0..8u64 {
        let hash = format!("ab{}", &unihash(900 + i)[2..]);
        objects.push(m.cache.object(ObjectSpec {
            pn: "busybox",
            unihash: hash,
            mtime: now - (10 + 30 * i as i64) * 86_400,
            ..Default::default()
        }));
    }
    m.upload();
    let mut p = m.spawn(&["-d", "-D"]);
    let listed = p.wait_for_prompt();
    assert_eq!(listed.len(), 7 * 2 + 1, "{listed:?}");
    // While it waits: a build refreshes the third-newest object's siginfo.
    m.set_mtime(&objects[2][1], now);
    let heads_before = m.requests().get("HEAD").copied().unwrap_or(0);
    let run = p.answer("y\n");
    run.expect_code(0);
    assert_eq!(
        m.requests().get("HEAD").copied().unwrap_or(0),
        heads_before,
        "re-checked by listing, not by HEAD"
    );
    let mut expected: Vec<String> = objects[0].iter().chain(&objects[2]).cloned().collect();
    expected.sort();
    assert_eq!(m.keys(), expected);
    assert!(
        run.stdout.contains("changed since indexed: 2"),
        "{}",
        run.stdout
    );
}

#[test]
fn trash_on_a_mirror_moves_keys_under_its_prefix_and_restores_or_empties_them() {
    let built = build(CACHE);
    let server = Rc::new(S3Server::start());
    let st = mirror_of(&server, built, "trashed");
    let m = &st.m;
    let everything = st.all_files();
    let (planned, _) = mirror_plan(m, &["-d"]);
    assert_eq!(planned, st.files_of(&["b2", "b3", "z2", "k1"]));
    m.run(&["-d", "-y", "--trash"]).expect_code(0);
    let keys = m.keys();
    let (trashed, cache): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|k| k.starts_with(".sstate-cache-management/trash/"));
    let kept: Vec<String> = everything
        .iter()
        .filter(|f| !planned.contains(f))
        .cloned()
        .collect();
    assert_eq!(cache, kept, "what stays in place");
    let run_name = trashed[0]
        .strip_prefix(".sstate-cache-management/trash/")
        .and_then(|r| r.split_once('/'))
        .map(|(name, _)| name.to_string())
        .expect("a run prefix");
    let prefix = format!(".sstate-cache-management/trash/{run_name}/");
    let mut in_trash: Vec<String> = trashed
        .iter()
        .filter_map(|k| k.strip_prefix(prefix.as_str()))
        .filter(|k| *k != "run.json")
        .map(str::to_string)
        .collect();
    in_trash.sort();
    assert_eq!(
        in_trash, planned,
        "every selected key, under the run's prefix"
    );
    assert!(
        trashed.contains(&format!("{prefix}run.json")),
        "the manifest"
    );
    // The trash is not part of the cache: nothing more to select.
    assert_eq!(mirror_plan(m, &["-d"]).0, Vec::<String>::new());
    let list = m.run(&["trash", "list"]);
    list.expect_code(0);
    assert!(
        list.stdout.contains(&run_name)
            && list.stdout.contains(&format!("{} files", planned.len()))
            && list.stdout.contains("duplicates"),
        "{}",
        list.stdout
    );

    // Restore (by a prefix of the run's name): every key back, run gone.
    let back = m.run(&["trash", "restore", &run_name[..8]]);
    back.expect_code(0);
    assert!(
        back.stdout
            .contains(&format!("Restored {} files", planned.len())),
        "{}",
        back.stdout
    );
    assert_eq!(m.keys(), everything);

    // Again (a restored key is a copy: its last-modified is now, so the
    // plan is made again), then empty the trash for good.
    let (planned, _) = mirror_plan(m, &["-d"]);
    let kept: Vec<String> = everything
        .iter()
        .filter(|f| !planned.contains(f))
        .cloned()
        .collect();
    m.run(&["-d", "-y", "--trash"]).expect_code(0);
    let gone = m.run(&["trash", "empty"]);
    gone.expect_code(0);
    assert!(
        gone.stdout.contains("Deleted 1 runs from the trash"),
        "{}",
        gone.stdout
    );
    assert_eq!(m.keys(), kept);
}

#[test]
fn max_size_on_a_mirror_deletes_the_least_recently_used_until_it_fits() {
    let built = build(CACHE);
    let server = Rc::new(S3Server::start());
    let st = mirror_of(&server, built, "budget");
    let m = &st.m;
    // About 106 KiB in all, 96 of them in k1 (64 KiB, used 200 days ago)
    // and k2 (32 KiB, 150 days): a budget of 60 KiB is met once k1 and
    // what was used before it have gone.
    let (planned, _) = mirror_plan(m, &["--max-size", "60K", "--no-keep-deps"]);
    for gone in ["b3", "z2", "c1", "k1"] {
        for f in &st.files[gone] {
            assert!(
                planned.contains(f),
                "{f} ({gone}) is older than k1: {planned:?}"
            );
        }
    }
    for stays in ["b1", "b2", "z1", "l2", "k2"] {
        for f in &st.files[stays] {
            assert!(!planned.contains(f), "{f} ({stays}) was used after k1");
        }
    }
    m.run(&["--max-size", "60K", "--no-keep-deps", "-y"])
        .expect_code(0);
    let left: Vec<String> = m.keys();
    let bytes: u64 = m.index_query("SELECT coalesce(sum(disk_bytes), 0) FROM entries")[0][0]
        .parse()
        .expect("a number");
    assert!(
        bytes <= 60 * 1024,
        "{bytes} bytes left, more than the budget"
    );
    let expected: Vec<String> = st
        .all_files()
        .into_iter()
        .filter(|f| !planned.contains(f))
        .collect();
    assert_eq!(left, expected);
}
