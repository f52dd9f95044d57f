//! Unit tests of the generator (names, determinism, counts, siginfo, stamps).

use crate::model::obj_hash;
use crate::name::py_prefix;
use crate::planner::{LONG_PR, build_plans};
use crate::siginfo::task_of_file_name;
use crate::write::odd_name;
use crate::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

struct TmpDir(PathBuf);
impl TmpDir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "corpus-test-{name}-{}-{}",
            std::process::id(),
            SplitMix64::keyed(BASE_EPOCH as u64, &[name.len() as u64]).hex(6)
        ));
        let _ = fs::remove_dir_all(&d);
        Self(d)
    }
}
impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// rel path -> (lstat size, mtime, is_dir)
fn listing(root: &Path) -> BTreeMap<String, (u64, i64, bool)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let m = fs::symlink_metadata(&p).expect("lstat");
            let rel = p.strip_prefix(root).expect("prefix").display().to_string();
            out.insert(rel, (m.len(), m.mtime(), m.is_dir()));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// Minimal independent parser: (extrapath, stem, ext, fields) of an entry.
fn parse(rel: &str) -> Option<(String, String, &'static str, Vec<String>)> {
    let (dir, name) = rel.rsplit_once('/')?;
    if !name.starts_with("sstate:") {
        return None;
    }
    const EXTS: &[&str] = &[
        ".tar.zst.siginfo",
        ".tar.zst.sig",
        ".tar.zst.done",
        ".tar.zst",
        ".tgz.siginfo",
        ".tgz.sig",
        ".tgz.done",
        ".tgz",
    ];
    let ext = EXTS.iter().find(|e| name.ends_with(*e))?;
    let stem = &name[..name.len() - ext.len()];
    let f: Vec<String> = stem.split(':').map(String::from).collect();
    if f.len() != 8 {
        return None;
    }
    let (h, _task) = f[7].split_once('_')?;
    if !(h.len() == 64 || h.len() == 32) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let parts: Vec<&str> = dir.split('/').collect();
    let extrapath = parts[..parts.len().saturating_sub(2)].join("/");
    Some((extrapath, format!("{dir}/{stem}"), ext, f))
}

#[test]
fn prng_is_stable() {
    let mut r = SplitMix64::new(0);
    assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
    let a = SplitMix64::keyed(1, &[2, 3]).hex(70);
    assert_eq!(a.len(), 70);
    assert_eq!(a, SplitMix64::keyed(1, &[2, 3]).hex(70));
    assert_ne!(a, SplitMix64::keyed(1, &[3, 2]).hex(70));
}

#[test]
fn name_format_and_dir() {
    let p = NameParts {
        pn: "busybox".into(),
        pkgtarget: "core2-64-poky-linux".into(),
        pv: "1.36.1".into(),
        pr: "r0".into(),
        pkgarch: "core2-64".into(),
        ssver: "14".into(),
        unihash: "ab".repeat(32),
        task: "populate_sysroot".into(),
    };
    assert_eq!(
        p.file_name(".tar.zst.siginfo"),
        format!(
            "sstate:busybox:core2-64-poky-linux:1.36.1:r0:core2-64:14:{}_populate_sysroot.tar.zst.siginfo",
            "ab".repeat(32)
        )
    );
    assert_eq!(p.rel_dir("universal/"), PathBuf::from("universal/ab/ab"));
    assert_eq!(p.rel_dir(""), PathBuf::from("ab/ab"));
    let sw = NameParts::swspec("gcc", "13.2.0", "r0", "14", &"cd".repeat(32), "unpack");
    assert!(
        sw.file_name(".tar.zst.siginfo")
            .starts_with("sstate:gcc::13.2.0:r0::14:cdcd")
    );
}

#[test]
fn truncation_matches_generate_sstatefn() {
    let p = NameParts {
        pn: "vendor-bsp-firmware".into(),
        pkgtarget: "cortexa15t2hf-neon-vfpv4-poky-linux-gnueabi".into(),
        pv: format!("20240312+gitAUTOINC+{}_{}", "a".repeat(40), "b".repeat(40)),
        pr: LONG_PR.into(),
        pkgarch: "cortexa15t2hf-neon-vfpv4".into(),
        ssver: "14".into(),
        unihash: "0".repeat(64),
        task: "package".into(),
    };
    let archive = p.file_name(".tar.zst");
    let siginfo = p.file_name(".tar.zst.siginfo");
    assert!(p.is_truncated(".tar.zst"));
    assert_eq!(archive.len(), 246);
    assert_eq!(siginfo.len(), 254);
    assert_eq!(siginfo, format!("{archive}.siginfo"));
    // Python: avail = (246 - len(hash_task + ".tar.zst") - 6 - 19 - 24 - 2 - 7) // 3
    let avail = (246 - (64 + 1 + 7 + 8) - 6 - 19 - 24 - 2 - 7) / 3;
    let f: Vec<&str> = archive.split(':').collect();
    assert_eq!((f[2].len(), f[3].len(), f[4].len()), (avail, avail, avail));
    // A siginfo-only task: same as generate_sstatefn(siginfo=True).
    let only = NameParts {
        task: "compile".into(),
        ..p.clone()
    };
    assert_eq!(only.file_name(".tar.zst.siginfo").len(), 254);
    // A long PV with a short PR is cut but ends up shorter than the limit.
    let natural = NameParts {
        pr: "r0".into(),
        ..p.clone()
    };
    assert!(natural.is_truncated(".tar.zst.siginfo"));
    assert!(natural.file_name(".tar.zst.siginfo").len() < 254);
    // Short names are untouched.
    let short = NameParts {
        pv: "1.0".into(),
        pr: "r0".into(),
        ..p
    };
    assert!(!short.is_truncated(".tar.zst.siginfo"));
    assert_eq!(py_prefix("abcdef", -2), "abcd");
    for kind in 0..3 {
        for has_archive in [true, false] {
            let n = odd_name(&archive, has_archive, kind, "abcd1234");
            assert!(n.len() <= 254, "{kind} {n}");
        }
    }
    assert_eq!(py_prefix("abc", 10), "abc");
}

#[test]
fn same_seed_same_tree() {
    let a = TmpDir::new("det-a");
    let b = TmpDir::new("det-bb");
    let spec = CorpusSpec::new(700, 42);
    let sa = generate(&a.0.join("cache"), Some(&a.0.join("stamps")), &spec).expect("generate");
    let sb = generate(&b.0.join("cache"), Some(&b.0.join("stamps")), &spec).expect("generate");
    assert_eq!(sa, sb);
    assert_eq!(sa.objects, 700);
    let la = listing(&a.0);
    assert_eq!(la, listing(&b.0));
    for (rel, (_, _, is_dir)) in &la {
        if !is_dir
            && !fs::symlink_metadata(a.0.join(rel))
                .expect("lstat")
                .is_symlink()
        {
            assert_eq!(
                fs::read(a.0.join(rel)).expect("read a"),
                fs::read(b.0.join(rel)).expect("read b"),
                "{rel}"
            );
        }
    }
    // A different seed gives a different tree.
    let c = TmpDir::new("det-ccc");
    generate(&c.0.join("cache"), None, &CorpusSpec::new(700, 43)).expect("generate");
    assert_ne!(listing(&a.0.join("cache")), listing(&c.0.join("cache")));
    // Refuses a non-empty cache dir.
    assert!(generate(&a.0.join("cache"), None, &spec).is_err());
}

#[test]
fn counts_match_an_independent_scan() {
    for objects in [1, 13, 1000] {
        let d = TmpDir::new(&format!("scan{objects}"));
        let cache = d.0.join("cache");
        let stamps = d.0.join("stamps");
        let s = generate(&cache, Some(&stamps), &CorpusSpec::new(objects, 1)).expect("gen");
        let list = listing(&cache);
        let mut stems: HashMap<String, bool> = HashMap::new();
        let (mut entries, mut bytes, mut odd, mut dirs, mut names_254) = (0, 0u64, 0, 0, 0);
        for (rel, (len, mtime, is_dir)) in &list {
            assert!(*mtime <= BASE_EPOCH, "{rel} in the future");
            let name_len = rel.rsplit('/').next().map_or(0, str::len);
            assert!(name_len <= 254, "{rel}");
            if *is_dir {
                dirs += 1;
                assert_eq!(*mtime, BASE_EPOCH);
                continue;
            }
            match parse(rel) {
                Some((_, stem, ext, _)) => {
                    entries += 1;
                    bytes += len;
                    *stems.entry(stem).or_default() |= ext == ".tar.zst" || ext == ".tgz";
                    if rel.rsplit('/').next().map(str::len) == Some(254) {
                        names_254 += 1;
                    }
                }
                None => odd += 1,
            }
        }
        assert_eq!(stems.len(), objects);
        assert_eq!(s.objects, objects);
        assert_eq!(s.entries, entries);
        assert_eq!(s.bytes, bytes);
        assert_eq!(s.dirs, dirs);
        assert_eq!(s.odd_files, odd + 1, "lost+found counts as odd");
        assert_eq!(s.archives, stems.values().filter(|v| **v).count());
        assert_eq!(s.orphan_objects, stems.values().filter(|v| !**v).count());
        if objects < 1000 {
            continue;
        }
        assert!(s.missing_archives > 0 && s.symlinks > 0 && s.truncated_names > 0);
        assert!(names_254 > 0, "an entry name of exactly 254 characters");
        let has = |f: &dyn Fn(&str) -> bool| list.keys().any(|k| f(k));
        assert!(has(&|k| k.starts_with("ubuntu-22.04/")));
        assert!(has(&|k| k.starts_with("universal/")));
        assert!(has(&|k| k.ends_with(".tgz")));
        assert!(has(&|k| k.ends_with(".tar.zst.sig")));
        assert!(has(&|k| k.ends_with(".tar.zst.done")));
        assert!(has(&|k| k.contains(":13:")));
        assert!(has(&|k| k.contains("/sstate:gcc::13.2.0:r0::14:")));
        assert!(has(&|k| k.contains("_populate_lic.tar.zst")));
        assert!(has(&|k| k.ends_with(".lock")));
        assert!(has(&|k| k == "lost+found"));
        assert!(has(&|k| k.contains("~rc") || k.contains("+git")));
    }
}

#[test]
fn siginfo_is_zstd_json_with_its_unihash() {
    let d = TmpDir::new("sig");
    let cache = d.0.join("cache");
    generate(&cache, None, &CorpusSpec::new(300, 7)).expect("generate");
    let (mut checked, mut with_deps) = (0, 0);
    for (rel, (_, _, is_dir)) in listing(&cache) {
        if is_dir || !rel.ends_with(".tar.zst.siginfo") || parse(&rel).is_none() {
            continue;
        }
        let data = fs::read(cache.join(&rel)).expect("read");
        let json = zstd::decode_all(&data[..]).expect("zstd");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        let name = rel.rsplit('/').next().expect("name");
        let hash = name.rsplit(':').next().and_then(|x| x.split('_').next());
        assert_eq!(v["unihash"].as_str(), hash, "{rel}");
        let task = v["task"].as_str().map(|t| t.trim_start_matches("do_"));
        assert_eq!(task, task_of_file_name(name));
        assert!(v["taskhash"].is_string() && v["basehash"].is_string());
        assert!(v["taskdeps"]["_set_object"].is_array() && v["runtaskhashes"].is_object());
        with_deps += usize::from(!v["runtaskhashes"].as_object().expect("map").is_empty());
        checked += 1;
    }
    assert!(checked > 100 && with_deps > 50, "{checked} {with_deps}");

    let p = d.0.join(format!(
        "sstate:x:y:1:r0:z:14:{}_compile.tar.zst.siginfo",
        "e".repeat(64)
    ));
    let deps = vec![("a.bb:do_install".to_string(), "f".repeat(64))];
    write_siginfo(&p, &"1".repeat(64), &"e".repeat(64), &deps).expect("write");
    let raw = zstd::decode_all(&fs::read(&p).expect("read")[..]).expect("zstd");
    let v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(v["task"], "do_compile");
    assert_eq!(v["unihash"], "e".repeat(64));
    assert_eq!(v["taskhash"], "1".repeat(64));
    assert_eq!(v["runtaskhashes"]["a.bb:do_install"], "f".repeat(64));
}

#[test]
fn stamps_reference_only_the_newest_generation() {
    let d = TmpDir::new("stamps");
    let cache = d.0.join("cache");
    let stamps = d.0.join("stamps");
    let spec = CorpusSpec::new(1500, 3);
    let s = generate(&cache, Some(&stamps), &spec).expect("generate");
    // Hashes named by sigdata / setscene stamps, at any depth.
    let mut stamped: HashSet<String> = HashSet::new();
    let mut depth2 = 0;
    for (rel, (_, _, is_dir)) in listing(&stamps) {
        if is_dir {
            continue;
        }
        let name = rel.rsplit('/').next().expect("name");
        if let Some((_, h)) = name.split_once(".sigdata.") {
            stamped.insert(h.to_string());
        } else if let Some(i) = name.find("_setscene.") {
            let h = name[i + 10..].split('.').next().expect("hash");
            stamped.insert(h.to_string());
        }
        depth2 += usize::from(rel.starts_with("work-shared/"));
    }
    assert!(depth2 > 0);
    // Every object's hash is stamped iff it belongs to the newest
    // generation of a recipe of the latest build.
    let plans = build_plans(&spec);
    let mut hits = 0;
    for p in &plans {
        for o in p.objects().into_iter().take(p.cap) {
            let h = obj_hash(
                spec.seed,
                p.idx,
                o.hash_gen,
                o.task,
                p.gens[o.use_gen].legacy,
            );
            let newest = o.use_gen == p.newest();
            assert_eq!(stamped.contains(&h), newest && p.in_latest, "{} {h}", p.pn);
            hits += usize::from(stamped.contains(&h));
        }
        let times: Vec<i64> = p.gens.iter().map(|g| g.time).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{}: {times:?}", p.pn);
    }
    assert_eq!(hits, s.stamped_objects);
    assert!(s.stamped_objects < s.newest_objects);
}

#[test]
fn sparse_archives_are_big_but_cheap() {
    let d = TmpDir::new("sparse");
    let mut spec = CorpusSpec::new(200, 5);
    spec.sparse = true;
    spec.odd_files = false;
    let s = generate(&d.0.join("cache"), None, &spec).expect("generate");
    assert!(s.bytes > 100 * 1024 * 1024, "{}", s.bytes);
    assert_eq!((s.odd_files, s.symlinks), (0, 0));
}

/// Any JSON value; checks on the way that every object's keys are in sorted
/// (code point) order, as `json.dump(..., sort_keys=True)` writes them.
struct SortedValue;

impl<'de> serde::Deserialize<'de> for SortedValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SortedVisitor(None)).map(|_| SortedValue)
    }
}

/// The top-level keys, in file order, of a document whose objects are sorted.
struct TopKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for TopKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut keys = Vec::new();
        d.deserialize_any(SortedVisitor(Some(&mut keys)))?;
        Ok(TopKeys(keys))
    }
}

struct SortedVisitor<'a>(Option<&'a mut Vec<String>>);

impl<'de> serde::de::Visitor<'de> for SortedVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut m: A) -> Result<(), A::Error> {
        let mut prev: Option<String> = None;
        while let Some(k) = m.next_key::<String>()? {
            if let Some(p) = &prev
                && p.as_str() >= k.as_str()
            {
                return Err(serde::de::Error::custom(format!("key {k:?} after {p:?}")));
            }
            m.next_value::<SortedValue>()?;
            if let Some(keys) = self.0.as_mut() {
                keys.push(k.clone());
            }
            prev = Some(k);
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element::<SortedValue>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

fn set_members(v: &serde_json::Value) -> Vec<&str> {
    let list = v["_set_object"].as_array().expect("a SetEncoder set");
    list.iter().map(|x| x.as_str().expect("a name")).collect()
}

fn percentile(sorted: &[usize], p: usize) -> usize {
    sorted[(sorted.len() - 1) * p / 100]
}

#[test]
fn siginfo_sizes_and_shape_are_realistic() {
    let d = TmpDir::new("sigsize");
    let cache = d.0.join("cache");
    generate(&cache, None, &CorpusSpec::new(2000, 1)).expect("generate");
    let (mut sizes, mut raws) = (Vec::new(), Vec::new());
    let mut per_task: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut tainted = 0;
    for (rel, (len, _, is_dir)) in listing(&cache) {
        if is_dir || !rel.ends_with(".tar.zst.siginfo") || parse(&rel).is_none() {
            continue;
        }
        let data = fs::read(cache.join(&rel)).expect("read");
        // As `zstd -c` from a pipe writes it: no content size in the header.
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&data).ok(),
            Some(None),
            "{rel}"
        );
        let raw = zstd::decode_all(&data[..]).expect("zstd");
        let top: TopKeys = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let mut want = vec![
            "basehash",
            "basehash_ignore_vars",
            "file_checksum_values",
            "gendeps",
            "runtaskdeps",
            "runtaskhashes",
            "task",
            "taskdeps",
            "taskhash",
            "taskhash_ignore_tasks",
            "unihash",
            "varvals",
        ];
        if top.0.iter().any(|k| k == "taint") {
            want.insert(6, "taint");
            tainted += 1;
        }
        assert_eq!(top.0, want, "{rel}");
        let pos = |k: &str| top.0.iter().position(|x| x == k);
        assert!(pos("runtaskhashes") < pos("taskdeps") && pos("taskdeps") < pos("varvals"));

        let v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        let task = v["task"].as_str().expect("task");
        let taskdeps = set_members(&v["taskdeps"]);
        let ignored = set_members(&v["basehash_ignore_vars"]);
        let gendeps = v["gendeps"].as_object().expect("gendeps");
        let varvals = v["varvals"].as_object().expect("varvals");
        assert!(taskdeps.len() > 10, "{rel}");
        assert_eq!(gendeps.keys().map(String::as_str).collect::<Vec<_>>(), {
            let mut t = taskdeps.clone();
            t.sort_unstable();
            t
        });
        for (k, deps) in gendeps {
            for dep in set_members(deps) {
                assert!(taskdeps.contains(&dep), "{rel}: {k} -> {dep}");
            }
            assert!(!ignored.contains(&k.as_str()), "{rel}: {k} is ignored");
        }
        assert!(varvals.contains_key(task), "{rel}");
        assert_eq!(varvals.len(), taskdeps.len() + 1, "{rel}");
        let runtaskdeps: Vec<&str> = v["runtaskdeps"]
            .as_array()
            .expect("runtaskdeps")
            .iter()
            .map(|x| x.as_str().expect("id"))
            .collect();
        let rth = v["runtaskhashes"].as_object().expect("runtaskhashes");
        assert_eq!(
            rth.keys().map(String::as_str).collect::<Vec<_>>(),
            runtaskdeps
        );
        for pair in v["file_checksum_values"].as_array().expect("list") {
            let p = pair.as_array().expect("pair");
            assert!(p.len() == 2 && p[0].is_string() && (p[1].is_string() || p[1].is_null()));
        }

        sizes.push(len as usize);
        raws.push(raw.len());
        per_task
            .entry(task.to_string())
            .or_default()
            .push(len as usize);
    }
    sizes.sort_unstable();
    raws.sort_unstable();
    let (p50, p90, max) = (
        percentile(&sizes, 50),
        percentile(&sizes, 90),
        *sizes.last().expect("siginfo files"),
    );
    eprintln!(
        "siginfo: n={} compressed p50={p50} p90={p90} max={max}; raw p50={} p90={} max={}; \
         tainted={tainted}",
        sizes.len(),
        percentile(&raws, 50),
        percentile(&raws, 90),
        raws.last().expect("raw"),
    );
    for (t, v) in &mut per_task {
        v.sort_unstable();
        eprintln!(
            "  {t:24} n={:5} p10={:6} p50={:6} p90={:6} max={:6}",
            v.len(),
            percentile(v, 10),
            percentile(v, 50),
            percentile(v, 90),
            v[v.len() - 1]
        );
    }
    assert!(sizes.len() > 1500, "{}", sizes.len());
    assert!((7_000..=10_000).contains(&p50), "median {p50}");
    assert!((13_000..=19_000).contains(&p90), "p90 {p90}");
    assert!(max <= 45_000, "max {max}");
}

#[test]
fn metadata_universe_is_consistent() {
    let u = crate::metadata::Universe::get();
    assert!(u.unresolved.is_empty(), "{:?}", u.unresolved);
    assert!(u.entries.len() > 1200, "{}", u.entries.len());
    for w in u.entries.windows(2) {
        assert!(w[0].name < w[1].name, "{} {}", w[0].name, w[1].name);
    }
}

#[test]
#[ignore = "prints the metadata universe's statistics"]
fn metadata_stats() {
    let u = crate::metadata::Universe::get();
    let mut names: Vec<_> = u.profiles.keys().collect();
    names.sort();
    eprintln!("entries={}", u.entries.len());
    let mut cl: Vec<usize> = u.entries.iter().map(|e| e.closure.len()).collect();
    cl.sort_unstable();
    eprintln!(
        "closure p50={} p90={} max={}",
        percentile(&cl, 50),
        percentile(&cl, 90),
        cl[cl.len() - 1]
    );
    for n in names {
        let p = &u.profiles[n];
        let fw: Vec<u32> = p.fns.iter().map(|(_, f)| f.weight).collect();
        let cw: u32 = p
            .candidates
            .iter()
            .map(|&c| u.entries[c as usize].weight)
            .sum();
        eprintln!(
            "{n:24} extra={:6} fns={fw:?} cands={} cand_weight={cw}",
            p.extra,
            p.candidates.len()
        );
    }
}

#[test]
fn the_sorted_key_check_rejects_unsorted_objects() {
    let ok: TopKeys = serde_json::from_str(r#"{"a":{"x":[{"m":1,"n":2}]},"b":null}"#).expect("ok");
    assert_eq!(ok.0, ["a", "b"]);
    assert!(serde_json::from_str::<TopKeys>(r#"{"b":1,"a":2}"#).is_err());
    assert!(serde_json::from_str::<TopKeys>(r#"{"a":[{"n":1,"m":2}]}"#).is_err());
}
