//! `report` and `query` on caches whose contents the test knows exactly:
//! figures, formats (table, JSON, CSV), read-only SQL and the public views,
//! run through the real binary.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;

const DAY: i64 = 86_400;

/// One object of the known cache and what the test knows about it.
pub(crate) struct Obj {
    spec: ObjectSpec<'static>,
    /// The age bucket of the report its mtime falls in.
    age: &'static str,
    /// Named by the stamps dir of [`stamps_dir`].
    stamped: bool,
    files: u64,
    size: u64,
    disk_bytes: u64,
}

impl Obj {
    fn has_archive(&self) -> bool {
        self.spec.exts.contains(&".tar.zst")
    }
    fn group(&self) -> [&str; 6] {
        let s = &self.spec;
        [s.extrapath, s.pn, s.pkgtarget, s.pkgarch, s.ssver, s.task]
    }
}

pub(crate) struct Known {
    pub(crate) cache: Cache,
    pub(crate) objs: Vec<Obj>,
}

/// 3 target recipes (busybox, zlib, base-files) and 2 native ones (one
/// under `universal/`, one under `ubuntu-22.04/`); tasks populate_sysroot,
/// package, configure (siginfo only) and populate_lic; two generations of
/// busybox populate_sysroot and of busybox populate_lic; one orphan
/// siginfo (zlib package, older than the group's archive). Archives have
/// known sizes; mtimes are 2, 40 and 400 days ago.
pub(crate) fn known_cache() -> Known {
    let now = now_secs();
    let (d2, d40, d400) = (now - 2 * DAY, now - 40 * DAY, now - 400 * DAY);
    let age = |t: i64| match (now - t) / DAY {
        2 => "1-7 days",
        40 => "30-90 days",
        400 => "> 1 year",
        _ => unreachable!(),
    };
    let target = |pn: &'static str, pv: &'static str, seed, task, exts, mtime| ObjectSpec {
        pn,
        pv,
        unihash: unihash(seed),
        task,
        exts,
        mtime,
        ..Default::default()
    };
    let lic = |pn: &'static str, pv: &'static str, seed, mtime| ObjectSpec {
        pkgtarget: "",
        pkgarch: "",
        ..target(pn, pv, seed, "populate_lic", ARCHIVE_SIGINFO, mtime)
    };
    let native = |extrapath: &'static str, pn: &'static str, seed, task, exts, mtime| ObjectSpec {
        extrapath,
        pkgtarget: "x86_64-linux",
        pkgarch: "x86_64",
        ..target(pn, "1.0", seed, task, exts, mtime)
    };
    let qemu = |spec: ObjectSpec<'static>| ObjectSpec {
        pkgtarget: "qemux86_64-poky-linux",
        pkgarch: "qemux86_64",
        ..spec
    };
    // (spec, archive size in bytes, named by a stamp)
    let specs: Vec<(ObjectSpec<'static>, usize, bool)> = vec![
        (
            target(
                "busybox",
                "1.36.0",
                1,
                "populate_sysroot",
                ARCHIVE_SIGINFO,
                d400,
            ),
            20_000,
            false,
        ),
        (
            target(
                "busybox",
                "1.36.1",
                2,
                "populate_sysroot",
                ARCHIVE_SIGINFO,
                d2,
            ),
            21_000,
            true,
        ),
        (
            target("busybox", "1.36.1", 3, "package", ARCHIVE_SIGINFO, d2),
            50_000,
            true,
        ),
        (
            target("busybox", "1.36.1", 4, "configure", SIGINFO_ONLY, d2),
            0,
            true,
        ),
        (lic("busybox", "1.36.0", 5, d40), 3_000, true),
        (lic("busybox", "1.36.1", 16, d2), 3_100, true),
        (
            target("zlib", "1.3.1", 6, "populate_sysroot", ARCHIVE_SIGINFO, d40),
            9_000,
            true,
        ),
        (
            target("zlib", "1.3.1", 7, "package", ARCHIVE_SIGINFO, d40),
            15_000,
            true,
        ),
        (
            target("zlib", "1.3.1", 8, "configure", SIGINFO_ONLY, d40),
            0,
            true,
        ),
        (lic("zlib", "1.3.1", 9, d400), 2_000, false),
        // The orphan: its archive is gone.
        (
            target("zlib", "1.3", 10, "package", SIGINFO_ONLY, d400),
            0,
            true,
        ),
        (
            qemu(target(
                "base-files",
                "3.0.14",
                11,
                "package",
                ARCHIVE_SIGINFO,
                d2,
            )),
            1_000,
            true,
        ),
        (lic("base-files", "3.0.14", 12, d2), 1_500, true),
        (
            native(
                "universal",
                "zlib-native",
                13,
                "populate_sysroot",
                ARCHIVE_SIGINFO,
                d40,
            ),
            12_000,
            true,
        ),
        (
            native(
                "ubuntu-22.04",
                "quilt-native",
                14,
                "populate_sysroot",
                ARCHIVE_SIGINFO,
                d400,
            ),
            4_000,
            false,
        ),
        (
            native(
                "ubuntu-22.04",
                "quilt-native",
                15,
                "configure",
                SIGINFO_ONLY,
                d400,
            ),
            0,
            true,
        ),
    ];
    let cache = Cache::new();
    let objs = specs
        .into_iter()
        .map(|(spec, archive_size, stamped)| {
            let paths = cache.object(spec.clone());
            if spec.exts.contains(&".tar.zst") {
                let archive = cache.path(&spec.rel_path(".tar.zst"));
                fs::write(&archive, vec![0x28; archive_size]).expect("sizing an archive");
                set_mtime(&archive, spec.mtime);
            }
            let mds: Vec<fs::Metadata> = paths
                .iter()
                .map(|p| fs::symlink_metadata(cache.path(p)).expect("lstat"))
                .collect();
            Obj {
                age: age(spec.mtime),
                stamped,
                files: paths.len() as u64,
                size: mds.iter().map(|m| m.size()).sum(),
                disk_bytes: mds.iter().map(|m| m.blocks() * 512).sum(),
                spec,
            }
        })
        .collect();
    Known { cache, objs }
}

/// A stamps dir whose sigdata stamps name the objects marked `stamped`.
fn stamps_dir(k: &Known) -> std::path::PathBuf {
    let rels: Vec<String> = k
        .objs
        .iter()
        .filter(|o| o.stamped)
        .map(|o| {
            let s = &o.spec;
            let sys = if s.pkgtarget.is_empty() {
                "core2-64-poky-linux"
            } else {
                s.pkgtarget
            };
            format!(
                "{sys}/{}/{}-{}.do_{}.sigdata.{}",
                s.pn, s.pv, s.pr, s.task, s.unihash
            )
        })
        .collect();
    k.cache.stamps("stamps", &rels)
}

/// (key, objects, files, disk_bytes)
type Row = (String, u64, u64, u64);

/// Sum `objs` by `key`, largest on disk first, then by key.
fn breakdown(objs: &[Obj], key: impl Fn(&Obj) -> String) -> Vec<Row> {
    let mut by: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for o in objs {
        let e = by.entry(key(o)).or_default();
        e.0 += 1;
        e.1 += o.files;
        e.2 += o.disk_bytes;
    }
    let mut rows: Vec<Row> = by.into_iter().map(|(k, (o, f, d))| (k, o, f, d)).collect();
    rows.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    rows
}

fn sum(objs: &[&Obj]) -> (u64, u64, u64) {
    (
        objs.len() as u64,
        objs.iter().map(|o| o.files).sum(),
        objs.iter().map(|o| o.disk_bytes).sum(),
    )
}

/// The expected report: (section name, rows), in the report's order.
fn expected_sections(objs: &[Obj]) -> Vec<(&'static str, Vec<Row>)> {
    let ages = ["1-7 days", "30-90 days", "> 1 year"];
    let mut age = breakdown(objs, |o| o.age.to_string());
    age.sort_by_key(|r| ages.iter().position(|a| *a == r.0));
    vec![
        ("by_task", breakdown(objs, |o| o.spec.task.to_string())),
        (
            "by_pkgarch",
            breakdown(objs, |o| o.spec.pkgarch.to_string()),
        ),
        (
            "by_extrapath",
            breakdown(objs, |o| o.spec.extrapath.to_string()),
        ),
        ("top_recipes", breakdown(objs, |o| o.spec.pn.to_string())),
        ("age", age),
    ]
}

/// What each policy would reclaim: (policy, objects, files, disk_bytes).
fn expected_reclaim(objs: &[Obj], with_stamps: bool) -> Vec<Row> {
    // Duplicates: the old busybox populate_sysroot and the orphan siginfo
    // of zlib package (its group has an archive); never populate_lic.
    let dups: Vec<&Obj> = objs
        .iter()
        .filter(|o| {
            (o.spec.pn == "busybox" && o.spec.pv == "1.36.0" && o.spec.task == "populate_sysroot")
                || (o.spec.pn == "zlib" && o.spec.task == "package" && !o.has_archive())
        })
        .collect();
    assert_eq!(dups.len(), 2);
    let orphans: Vec<&Obj> = objs.iter().filter(|o| !o.has_archive()).collect();
    assert_eq!(orphans.len(), 4);
    let unstamped: Vec<&Obj> = objs.iter().filter(|o| !o.stamped).collect();
    let mut rows = vec![("duplicates", sum(&dups)), ("orphans", sum(&orphans))];
    if with_stamps {
        rows.push(("stamps", sum(&unstamped)));
    }
    // No siginfo of the known cache names a dependency: nothing is kept.
    let older_30: Vec<&Obj> = objs
        .iter()
        .filter(|o| o.age == "30-90 days" || o.age == "> 1 year")
        .collect();
    let older_90: Vec<&Obj> = objs.iter().filter(|o| o.age == "> 1 year").collect();
    rows.push(("older-than 30d", sum(&older_30)));
    rows.push(("older-than 90d", sum(&older_90)));
    rows.into_iter()
        .map(|(p, (o, f, d))| (p.to_string(), o, f, d))
        .collect()
}

fn rows_of(v: &Value, what: &str) -> Vec<Row> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is an array: {v}"))
        .iter()
        .map(|r| {
            let keys: BTreeSet<&str> = r
                .as_object()
                .unwrap_or_else(|| panic!("a row of {what} is an object"))
                .keys()
                .map(String::as_str)
                .collect();
            let name = if keys.contains("policy") {
                "policy"
            } else {
                "key"
            };
            let mut expect = BTreeSet::from([name, "objects", "files", "disk_bytes"]);
            if name == "policy" {
                expect.insert("kept_by_deps");
                assert_eq!(r["kept_by_deps"]["objects"], 0, "{r}");
            }
            assert_eq!(keys, expect, "columns of {what}");
            (
                r[name].as_str().expect("key is text").to_string(),
                r["objects"].as_u64().expect("objects"),
                r["files"].as_u64().expect("files"),
                r["disk_bytes"].as_u64().expect("disk_bytes"),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// report

#[test]
fn report_json_figures_match_the_known_cache() {
    let k = known_cache();
    let doc = stdout_json(&k.cache.sub("report", &["--format", "json"]));

    let groups: BTreeSet<[&str; 6]> = k.objs.iter().map(Obj::group).collect();
    assert_eq!(groups.len(), 13);
    assert_eq!(doc["groups"], groups.len());
    assert_eq!(doc["objects"], k.objs.len());
    assert_eq!(doc["files"], k.objs.iter().map(|o| o.files).sum::<u64>());
    assert_eq!(doc["files"], 28);
    let disk: u64 = k.objs.iter().map(|o| o.disk_bytes).sum();
    assert_eq!(doc["disk_bytes"], disk);
    let files_on_disk = k.cache.files();
    assert_eq!(k.cache.disk_bytes(&files_on_disk), disk);
    assert_eq!(doc["size"], k.objs.iter().map(|o| o.size).sum::<u64>());

    let sections = doc["sections"].as_object().expect("sections is an object");
    let expected = expected_sections(&k.objs);
    assert_eq!(
        sections.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected.iter().map(|(n, _)| *n).collect::<BTreeSet<_>>()
    );
    for (name, rows) in &expected {
        assert_eq!(&rows_of(&sections[*name], name), rows, "section {name}");
    }
    // The expected rows are what the test built, spelled out for the keys.
    let keys = |name: &str| -> Vec<String> {
        rows_of(&sections[name], name)
            .into_iter()
            .map(|r| r.0)
            .collect()
    };
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(
        set(keys("by_task")),
        set(vec![
            "populate_sysroot".into(),
            "package".into(),
            "configure".into(),
            "populate_lic".into()
        ])
    );
    assert_eq!(
        set(keys("by_pkgarch")),
        set(vec![
            "core2-64".into(),
            "".into(),
            "qemux86_64".into(),
            "x86_64".into()
        ])
    );
    assert_eq!(
        set(keys("by_extrapath")),
        set(vec!["".into(), "universal".into(), "ubuntu-22.04".into()])
    );
    assert_eq!(keys("top_recipes")[0], "busybox", "the biggest recipe");
    assert_eq!(keys("age"), ["1-7 days", "30-90 days", "> 1 year"]);

    assert_eq!(
        rows_of(&doc["reclaim"], "reclaim"),
        expected_reclaim(&k.objs, false)
    );
}

#[test]
fn report_with_stamps_dir_adds_a_stamps_row() {
    let k = known_cache();
    let stamps = stamps_dir(&k);
    let doc = stdout_json(&k.cache.sub(
        "report",
        &["--format", "json", "--stamps-dir", stamps.to_str().unwrap()],
    ));
    let expected = expected_reclaim(&k.objs, true);
    assert_eq!(expected[2].1, 3, "three objects are named by no stamp");
    assert_eq!(rows_of(&doc["reclaim"], "reclaim"), expected);
}

#[test]
fn report_csv_has_the_same_figures() {
    let k = known_cache();
    let stamps = stamps_dir(&k);
    let run = k.cache.sub(
        "report",
        &["--format", "csv", "--stamps-dir", stamps.to_str().unwrap()],
    );
    run.expect_code(0);
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("section,key,objects,files,disk_bytes"));
    let got: Vec<(String, Row)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 5, "five fields in `{l}`");
            let n = |i: usize| -> u64 {
                f[i].parse()
                    .unwrap_or_else(|_| panic!("field {i} of `{l}` is a number"))
            };
            (f[0].to_string(), (f[1].to_string(), n(2), n(3), n(4)))
        })
        .collect();

    let mut expected: Vec<(String, Row)> = vec![(
        "total".into(),
        (
            String::new(),
            k.objs.len() as u64,
            k.objs.iter().map(|o| o.files).sum(),
            k.objs.iter().map(|o| o.disk_bytes).sum(),
        ),
    )];
    for (name, rows) in expected_sections(&k.objs) {
        expected.extend(rows.into_iter().map(|r| (name.to_string(), r)));
    }
    expected.extend(
        expected_reclaim(&k.objs, true)
            .into_iter()
            .map(|r| ("reclaim".to_string(), r)),
    );
    assert_eq!(got, expected);

    // The same figures as the JSON report.
    let doc = stdout_json(&k.cache.sub(
        "report",
        &["--format", "json", "--stamps-dir", stamps.to_str().unwrap()],
    ));
    for (name, row) in &got {
        match name.as_str() {
            "total" => {
                assert_eq!(
                    (row.1, row.2, row.3),
                    (
                        doc["objects"].as_u64().unwrap(),
                        doc["files"].as_u64().unwrap(),
                        doc["disk_bytes"].as_u64().unwrap()
                    )
                );
            }
            "reclaim" => assert!(rows_of(&doc["reclaim"], "reclaim").contains(row)),
            section => assert!(
                rows_of(&doc["sections"][section], section).contains(row),
                "{name} {row:?} in the JSON report"
            ),
        }
    }
}

#[test]
fn report_table_has_the_section_titles() {
    let k = known_cache();
    let run = k.cache.sub("report", &[]);
    run.expect_code(0);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "Cache {}: 28 files in 16 objects, 13 groups; ",
            k.cache.dir.display()
        )),
        "{first}"
    );
    for title in [
        "By task",
        "By PKGARCH",
        "By EXTRAPATH",
        "Top recipes by size",
        "Last used",
        "Reclaimable now",
    ] {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(title)),
            "section `{title}` in\n{}",
            run.stdout
        );
    }
    for key in [
        "populate_sysroot",
        "qemux86_64",
        "ubuntu-22.04",
        "zlib-native",
        "> 1 year",
        "duplicates",
        "orphans",
    ] {
        assert!(
            run.stdout.lines().any(|l| l.trim_start().starts_with(key)),
            "a row for `{key}` in\n{}",
            run.stdout
        );
    }
}

// ---------------------------------------------------------------------------
// query

const PER_PN: &str = "SELECT pn, count(*) AS n FROM objects GROUP BY pn ORDER BY pn";

fn per_pn(objs: &[Obj]) -> Vec<(String, u64)> {
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for o in objs {
        *by.entry(o.spec.pn.to_string()).or_default() += 1;
    }
    by.into_iter().collect()
}

/// Cut an aligned table into cells using the column spans of its rule
/// (the second line: runs of `-` separated by spaces).
fn table_cells(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "a header and a rule:\n{text}");
    let rule = lines[1];
    assert!(
        rule.chars().all(|c| c == '-' || c == ' ') && rule.contains('-'),
        "the rule line: `{rule}`"
    );
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in rule.char_indices().chain([(rule.len(), ' ')]) {
        match (c, start) {
            ('-', None) => start = Some(i),
            (' ', Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| {
            spans
                .iter()
                .enumerate()
                .map(|(c, &(s, e))| {
                    let last = c + 1 == spans.len();
                    let end = if last { l.len() } else { e.min(l.len()) };
                    if !last && l.len() > e {
                        assert_eq!(&l[e..e + 1], " ", "columns are separated in `{l}`");
                    }
                    l.get(s..end).unwrap_or("").trim().to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn query_prints_an_aligned_table_csv_and_json() {
    let k = known_cache();
    let expected = per_pn(&k.objs);
    assert_eq!(expected.len(), 5);

    let run = k.cache.sub("query", &[PER_PN]);
    run.expect_code(0);
    let cells = table_cells(&run.stdout);
    assert_eq!(cells[0], ["pn", "n"]);
    let rows: Vec<(String, u64)> = cells[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().expect("n is a number")))
        .collect();
    assert_eq!(rows, expected);
    // Numbers are right-aligned: every row ends in the same column.
    let data: Vec<&str> = run.stdout.lines().skip(2).collect();
    let width = data[0].len();
    assert!(
        data.iter().all(|l| l.len() == width),
        "aligned:\n{}",
        run.stdout
    );

    let run = k.cache.sub("query", &["--format", "csv", PER_PN]);
    run.expect_code(0);
    let mut csv = String::from("pn,n\n");
    for (pn, n) in &expected {
        csv.push_str(&format!("{pn},{n}\n"));
    }
    assert_eq!(run.stdout, csv);

    let run = k.cache.sub("query", &["--format", "json", PER_PN]);
    let doc = stdout_json(&run);
    let expected_json: Vec<Value> = expected
        .iter()
        .map(|(pn, n)| json!({"pn": pn, "n": n}))
        .collect();
    assert_eq!(doc, Value::Array(expected_json));
}

#[test]
fn query_without_an_index_scans_first() {
    let cache = Cache::new();
    cache.object(ObjectSpec {
        unihash: unihash(70),
        ..Default::default()
    });
    cache.object(ObjectSpec {
        pn: "zlib",
        unihash: unihash(71),
        exts: SIGINFO_ONLY,
        ..Default::default()
    });
    cache.object(ObjectSpec {
        pn: "zlib",
        unihash: unihash(72),
        task: "package",
        ..Default::default()
    });
    assert!(!cache.index.exists());
    let run = cache.sub("query", &["--format", "csv", PER_PN]);
    run.expect_code(0);
    assert_eq!(run.stdout, "pn,n\nbusybox,1\nzlib,2\n");
    assert!(cache.index.exists(), "the index was built");
    assert_eq!(
        cache.index_query("SELECT mode, entries FROM scans"),
        [["cold", "5"]]
    );
}

/// What must stay the same when a query is refused.
#[derive(Debug, PartialEq)]
struct IndexState {
    bytes: Vec<u8>,
    mtime: (i64, i64),
    entries: Vec<Vec<String>>,
    siblings: Vec<String>,
}

fn index_state(cache: &Cache) -> IndexState {
    let md = fs::metadata(&cache.index).expect("the index exists");
    let mut siblings: Vec<String> = fs::read_dir(cache.root())
        .expect("listing the temp dir")
        .map(|e| {
            e.expect("a temp dir entry")
                .file_name()
                .into_string()
                .unwrap()
        })
        // SQLite's own WAL files come and go with connections.
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    siblings.sort();
    IndexState {
        bytes: fs::read(&cache.index).expect("reading the index"),
        mtime: (md.mtime(), md.mtime_nsec()),
        entries: cache.index_query("SELECT count(*) FROM entry"),
        siblings,
    }
}

#[test]
fn query_refuses_writes_and_leaves_the_index_unchanged() {
    let k = known_cache();
    let cache = &k.cache;
    cache.sub("scan", &[]).expect_code(0);
    let before = index_state(cache);
    assert_eq!(before.entries, [["28"]]);
    let attached = cache.outside("x.db");
    let attach = format!("ATTACH DATABASE '{}' AS x", attached.display());
    let cases: Vec<(&str, &str)> = vec![
        ("DELETE FROM entry", "read-only"),
        ("DROP TABLE entry", "read-only"),
        // (pn is a column of grp, not of object.)
        ("UPDATE object SET pv='x'", "read-only"),
        ("UPDATE grp SET pn='x'", "read-only"),
        ("INSERT INTO meta VALUES('a','b')", "read-only"),
        (attach.as_str(), "ATTACH"),
        ("CREATE TABLE t(x)", "read-only"),
        ("PRAGMA user_version = 9", "read-only"),
        ("SELECT 1; DELETE FROM entry", "one SQL statement"),
    ];
    for (sql, why) in cases {
        let run = cache.sub("query", &[sql]);
        assert_ne!(
            run.code, 0,
            "`{sql}` is refused\n--- stdout\n{}",
            run.stdout
        );
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(why),
            "`{sql}`: a clear message mentioning `{why}`, got: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "`{sql}` prints no result");
        let after = index_state(cache);
        assert!(
            after == before,
            "the index after `{sql}`: bytes same {}, mtime {:?} vs {:?}, entries {:?} vs {:?}, siblings {:?} vs {:?}",
            after.bytes == before.bytes,
            after.mtime,
            before.mtime,
            after.entries,
            before.entries,
            after.siblings,
            before.siblings
        );
        assert!(!attached.exists(), "`{sql}` created {}", attached.display());
    }
    // A read-only PRAGMA is fine.
    let run = cache.sub("query", &["--format", "csv", "PRAGMA user_version"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("user_version\n"), "{}", run.stdout);
}

/// The public views and their columns, as migrations/0001_initial.sql
/// documents them. A change here is a change of the public interface.
const VIEWS: &[(&str, &[&str])] = &[
    (
        "entries",
        &[
            "entry_id",
            "object_id",
            "group_id",
            "path",
            "name",
            "extrapath",
            "pn",
            "pkgtarget",
            "pv",
            "pr",
            "pkgarch",
            "ssver",
            "unihash",
            "task",
            "ext",
            "kind",
            "size",
            "disk_bytes",
            "mtime",
            "mtime_iso",
            "inode",
            "is_symlink",
        ],
    ),
    (
        "objects",
        &[
            "object_id",
            "group_id",
            "path",
            "extrapath",
            "pn",
            "pkgtarget",
            "pv",
            "pr",
            "pkgarch",
            "ssver",
            "unihash",
            "task",
            "has_archive",
            "archive_mtime",
            "last_used",
            "last_used_iso",
            "n_entries",
            "size",
            "disk_bytes",
        ],
    ),
    (
        "groups",
        &[
            "group_id",
            "extrapath",
            "pn",
            "pkgtarget",
            "pkgarch",
            "ssver",
            "task",
            "n_objects",
            "n_archives",
            "n_entries",
            "size",
            "disk_bytes",
            "last_used",
            "first_used",
        ],
    ),
    (
        "scans",
        &[
            "id",
            "started_at",
            "duration_ms",
            "mode",
            "dirs_listed",
            "dirs_stat",
            "entries",
            "objects",
            "bytes",
            "added",
            "removed",
            "changed",
            "bytes_added",
            "bytes_removed",
            "warnings",
        ],
    ),
    (
        "removals",
        &[
            "run_id",
            "path",
            "size",
            "outcome",
            "started_at",
            "policies",
        ],
    ),
];

#[test]
fn public_views_have_the_documented_columns() {
    let cache = Cache::new();
    cache.object(ObjectSpec::default());
    for (view, columns) in VIEWS {
        let run = cache.sub(
            "query",
            &["--format", "csv", &format!("SELECT * FROM {view} LIMIT 0")],
        );
        run.expect_code(0);
        assert_eq!(
            run.stdout,
            format!("{}\n", columns.join(",")),
            "columns of the view `{view}`"
        );
    }
}

#[test]
fn public_views_agree_with_the_known_cache() {
    let k = known_cache();
    let doc = stdout_json(&k.cache.sub(
        "query",
        &[
            "--format",
            "json",
            "SELECT extrapath, pn, task, n_objects, n_archives, n_entries, disk_bytes FROM groups
             WHERE pn = 'busybox' AND task IN ('populate_sysroot', 'populate_lic') ORDER BY task",
        ],
    ));
    let pick = |task: &str| -> Vec<&Obj> {
        k.objs
            .iter()
            .filter(|o| o.spec.pn == "busybox" && o.spec.task == task)
            .collect()
    };
    let row = |task: &str| {
        let objs = pick(task);
        json!({
            "extrapath": "",
            "pn": "busybox",
            "task": task,
            "n_objects": objs.len(),
            "n_archives": objs.iter().filter(|o| o.has_archive()).count(),
            "n_entries": objs.iter().map(|o| o.files).sum::<u64>(),
            "disk_bytes": objs.iter().map(|o| o.disk_bytes).sum::<u64>(),
        })
    };
    assert_eq!(
        doc,
        json!([row("populate_lic"), row("populate_sysroot")]),
        "two generations of each"
    );
}

/// Run `args` with stdout into a pipe we close after reading one line.
fn first_line_then_close(cache: &Cache, args: &[&str]) -> (String, i32, String) {
    use std::io::{BufRead, Read};
    let mut child = cache
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting the binary");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("reading the first line");
    drop(out); // like `| head -1`
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("reading stderr");
    let code = child.wait().expect("waiting").code().unwrap_or(-1);
    (first, code, err)
}

#[test]
fn query_streams_rows_and_a_closed_pipe_ends_it_quietly() {
    let k = known_cache();
    let cache = &k.cache;
    cache.sub("scan", &[]).expect_code(0);
    const MANY: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 300000) SELECT x FROM n";
    for format in ["table", "csv", "json"] {
        let mut args = vec!["query"];
        args.extend(cache.args(&["--format", format, MANY]));
        let (first, code, err) = first_line_then_close(cache, &args);
        assert_eq!(code, 0, "{format}: {err}");
        assert_eq!(err, "", "{format}: nothing on stderr");
        assert!(!first.is_empty(), "{format}");
    }
    // The JSON stream is one valid array.
    let run = cache.sub(
        "query",
        &[
            "--format",
            "json",
            "SELECT pn, count(*) AS n FROM objects GROUP BY pn ORDER BY pn",
        ],
    );
    let v: Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(per_pn(&k.objs).len()));
    let empty = cache.sub("query", &["--format", "json", "SELECT 1 AS x WHERE 0"]);
    assert_eq!(empty.stdout.trim(), "[]");
    // scan's JSON into a closed pipe, too.
    let mut args = vec!["scan"];
    args.extend(cache.args(&["--format", "json"]));
    let (_, code, err) = first_line_then_close(cache, &args);
    assert_eq!(code, 0, "{err}");
}
