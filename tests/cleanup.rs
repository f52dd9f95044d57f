//! The cleanup as a drop-in for OE-Core's sstate-cache-management.py: the
//! policies (SSTATE.md section 5), the printed lines and the prompt
//! (section 4), run through the real binary on real caches.

use crate::common::*;

/// Run a dry run with -D and return (paths listed, summary line).
fn plan(cache: &Cache, args: &[&str]) -> (Vec<String>, String) {
    let mut all = args.to_vec();
    all.extend(["-n", "-D"]);
    let run = cache.run(&all);
    run.expect_code(0);
    let mut lines: Vec<String> = run.stdout_lines().iter().map(|s| s.to_string()).collect();
    let summary = lines.pop().expect("a summary line");
    let prefix = format!("{}/", cache.dir.display());
    let rels = lines
        .iter()
        .map(|l| {
            l.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("listed path {l} is not under the cache dir"))
                .to_string()
        })
        .collect();
    (rels, summary)
}

/// Run a cleanup with -y and assert it removed exactly `expect_removed`
/// (nothing skipped, nothing failed) out of `total` entries.
fn clean(cache: &Cache, args: &[&str], expect_removed: &[String], total: usize) {
    let before = cache.files();
    let mut all = args.to_vec();
    all.push("-y");
    let run = cache.run(&all);
    run.expect_code(0);
    let lines = run.stdout_lines();
    assert_eq!(
        lines.len(),
        2,
        "summary and removal lines only:\n{}",
        run.stdout
    );
    assert_eq!(lines[0], summary(expect_removed.len(), total));
    assert_removed_line(lines[1], expect_removed.len(), 0, 0, 0);
    assert_eq!(cache.files(), without(&before, expect_removed));
}

// ---------------------------------------------------------------------------
// -d / --remove-duplicated

#[test]
fn duplicates_remove_older_object_with_its_companions() {
    let cache = Cache::new();
    let old = cache.object(obj(
        "busybox",
        1,
        "populate_sysroot",
        ARCHIVE_SIGINFO_SIG,
        BASE,
    ));
    let new = cache.object(obj(
        "busybox",
        2,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let done = cache.object(ObjectSpec {
        exts: &[".tar.zst", ".tar.zst.siginfo", ".tar.zst.done"],
        ..obj("busybox", 3, "populate_sysroot", &[], BASE + 50)
    });
    let (listed, line) = plan(&cache, &["-d"]);
    assert_eq!(listed, sorted([old.clone(), done.clone()]));
    assert_eq!(line, summary(6, 8));
    clean(&cache, &["-d"], &sorted([old, done]), 8);
    assert_eq!(cache.files(), sorted([new]));
}

#[test]
fn duplicates_never_touch_populate_lic() {
    let cache = Cache::new();
    // SSTATE_SWSPEC names: PKGTARGET and PKGARCH empty, at the top level.
    let lic = |seed, mtime| ObjectSpec {
        pkgtarget: "",
        pkgarch: "",
        pv: "2.39+git",
        ..obj("glibc", seed, "populate_lic", ARCHIVE_SIGINFO, mtime)
    };
    let a = cache.object(lic(10, BASE));
    let b = cache.object(lic(11, BASE + 100));
    let c = cache.object(ObjectSpec {
        exts: SIGINFO_ONLY,
        ..lic(12, BASE + 200)
    });
    // A normal group beside it is cleaned, so -d did run.
    let old = cache.object(obj("glibc", 13, "package", ARCHIVE_SIGINFO, BASE));
    let new = cache.object(obj("glibc", 14, "package", ARCHIVE_SIGINFO, BASE + 100));
    clean(&cache, &["-d"], &old, 9);
    assert_eq!(cache.files(), sorted([a, b, c, new]));
}

#[test]
fn duplicates_under_different_extrapath_dirs_are_not_duplicates() {
    let cache = Cache::new();
    let native = |extrapath, seed, mtime| ObjectSpec {
        extrapath,
        pkgtarget: "x86_64-linux",
        pkgarch: "x86_64",
        pv: "1.3.1",
        ..obj(
            "zlib-native",
            seed,
            "populate_sysroot",
            ARCHIVE_SIGINFO,
            mtime,
        )
    };
    let universal = cache.object(native("universal", 20, BASE));
    let ubuntu = cache.object(native("ubuntu-22.04", 21, BASE + 100));
    let top = cache.object(native("", 22, BASE + 200));
    // Within one EXTRAPATH dir they are.
    let universal_old = cache.object(native("universal", 23, BASE - 100));
    clean(&cache, &["-d"], &universal_old, 8);
    assert_eq!(cache.files(), sorted([universal, ubuntu, top]));
}

#[test]
fn duplicates_of_different_sstate_versions_are_not_duplicates() {
    let cache = Cache::new();
    let v14 = cache.object(obj("zstd", 30, "package", ARCHIVE_SIGINFO, BASE + 100));
    let v10 = cache.object(ObjectSpec {
        ssver: "10",
        ..obj("zstd", 31, "package", ARCHIVE_SIGINFO, BASE)
    });
    let (listed, line) = plan(&cache, &["-d"]);
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(line, summary(0, 4));
    clean(&cache, &["-d"], &[], 4);
    assert_eq!(cache.files(), sorted([v14, v10]));
}

#[test]
fn duplicates_of_different_package_archs_are_not_duplicates() {
    let cache = Cache::new();
    let core2 = cache.object(obj("zstd", 40, "package_write_ipk", ARCHIVE_SIGINFO, BASE));
    let qemu = cache.object(ObjectSpec {
        pkgarch: "qemux86_64",
        pkgtarget: "qemux86_64-poky-linux",
        ..obj("zstd", 41, "package_write_ipk", ARCHIVE_SIGINFO, BASE + 100)
    });
    let allarch = cache.object(ObjectSpec {
        pkgarch: "allarch",
        ..obj("zstd", 42, "package_write_ipk", ARCHIVE_SIGINFO, BASE + 200)
    });
    clean(&cache, &["-d"], &[], 6);
    assert_eq!(cache.files(), sorted([core2, qemu, allarch]));
}

#[test]
fn duplicates_tied_for_newest_are_all_kept() {
    let cache = Cache::new();
    let a = cache.object(obj("openssl", 50, "package", ARCHIVE_SIGINFO, BASE + 100));
    let b = cache.object(obj("openssl", 51, "package", ARCHIVE_SIGINFO, BASE + 100));
    let old = cache.object(obj("openssl", 52, "package", ARCHIVE_SIGINFO, BASE));
    clean(&cache, &["-d"], &old, 6);
    assert_eq!(cache.files(), sorted([a, b]));
}

#[test]
fn duplicates_in_siginfo_only_groups_keep_the_newest() {
    let cache = Cache::new();
    let s1 = cache.object(obj("busybox", 60, "configure", SIGINFO_ONLY, BASE));
    let s2 = cache.object(obj("busybox", 61, "configure", SIGINFO_ONLY, BASE + 300));
    let s3 = cache.object(obj("busybox", 62, "configure", SIGINFO_ONLY, BASE + 100));
    let (listed, line) = plan(&cache, &["-d"]);
    assert_eq!(listed, sorted([s1.clone(), s3.clone()]));
    assert_eq!(line, summary(2, 3));
    clean(&cache, &["-d"], &sorted([s1, s3]), 3);
    assert_eq!(cache.files(), sorted([s2]));
}

#[test]
fn duplicates_select_objects_without_archive_in_groups_with_archives() {
    let cache = Cache::new();
    let kept = cache.object(obj(
        "curl",
        70,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    // Older siginfo whose archive is gone.
    let older = cache.object(obj("curl", 71, "populate_sysroot", SIGINFO_ONLY, BASE));
    // Newer than the newest archive, but without an archive: the group has
    // archives, so the one with the newest archive is the one kept.
    let newer = cache.object(obj(
        "curl",
        72,
        "populate_sysroot",
        SIGINFO_ONLY,
        BASE + 500,
    ));
    clean(&cache, &["-d"], &sorted([older, newer]), 4);
    assert_eq!(cache.files(), sorted([kept]));
}

// ---------------------------------------------------------------------------
// --remove-orphans

#[test]
fn orphans_are_selected_per_object() {
    let cache = Cache::new();
    let whole = cache.object(obj(
        "bash",
        80,
        "populate_sysroot",
        ARCHIVE_SIGINFO_SIG,
        BASE,
    ));
    // Its group has another version's archive: still an orphan.
    let siginfo = cache.object(obj(
        "bash",
        81,
        "populate_sysroot",
        SIGINFO_ONLY,
        BASE + 100,
    ));
    let sig = cache.object(obj("bash", 82, "populate_sysroot", &[".tar.zst.sig"], BASE));
    let done = cache.object(obj(
        "bash",
        83,
        "populate_sysroot",
        &[".tar.zst.done"],
        BASE,
    ));
    // A group with no archive at all.
    let compile = cache.object(obj("bash", 84, "compile", SIGINFO_ONLY, BASE + 100));
    // Legacy .tgz archives are archives.
    let tgz = cache.object(obj("bash", 85, "package", &[".tgz", ".tgz.siginfo"], BASE));
    let removed = sorted([siginfo, sig, done, compile]);
    let (listed, line) = plan(&cache, &["--remove-orphans"]);
    assert_eq!(listed, removed);
    assert_eq!(line, summary(4, 9));
    clean(&cache, &["--remove-orphans"], &removed, 9);
    assert_eq!(cache.files(), sorted([whole, tgz]));
}

// ---------------------------------------------------------------------------
// --stamps-dir

/// busybox do_compile etc. as one build's STAMPS_DIR names them.
fn stamp(sys: &str, pn: &str, pvpr: &str, task_suffix: &str) -> String {
    format!("{sys}/{pn}/{pvpr}.do_{task_suffix}")
}

#[test]
fn stamps_keep_objects_named_by_sigdata_stamps() {
    let cache = Cache::new();
    let used = cache.object(obj("busybox", 90, "compile", SIGINFO_ONLY, BASE));
    let used2 = cache.object(obj(
        "busybox",
        91,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let unused = cache.object(obj(
        "busybox",
        92,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let stamps = cache.stamps(
        "stamps",
        &[
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("compile.sigdata.{}", unihash(90)),
            ),
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("populate_sysroot.sigdata.{}", unihash(91)),
            ),
            // A plain stamp does not count (only sigdata and setscene do).
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("populate_sysroot.{}", unihash(92)),
            ),
        ],
    );
    let s = stamps.to_str().expect("UTF-8 path");
    let (listed, line) = plan(&cache, &["--stamps-dir", s]);
    assert_eq!(listed, unused);
    assert_eq!(line, summary(2, 5));
    clean(&cache, &["--stamps-dir", s], &unused, 5);
    assert_eq!(cache.files(), sorted([used, used2]));
}

#[test]
fn stamps_keep_objects_named_by_setscene_stamps_with_and_without_extrainfo() {
    let cache = Cache::new();
    let plain = cache.object(obj("zlib", 100, "populate_sysroot", ARCHIVE_SIGINFO, BASE));
    let extra = cache.object(ObjectSpec {
        pkgarch: "qemux86_64",
        ..obj("zlib", 101, "package_write_ipk", ARCHIVE_SIGINFO, BASE)
    });
    let unused = cache.object(obj("zlib", 102, "package_write_ipk", ARCHIVE_SIGINFO, BASE));
    let stamps = cache.stamps(
        "stamps",
        &[
            stamp(
                "core2-64-poky-linux",
                "zlib",
                "1.3.1-r0",
                &format!("populate_sysroot_setscene.{}", unihash(100)),
            ),
            stamp(
                "core2-64-poky-linux",
                "zlib",
                "1.3.1-r0",
                &format!("package_write_ipk_setscene.{}.qemux86_64", unihash(101)),
            ),
        ],
    );
    let s = stamps.to_str().expect("UTF-8 path");
    clean(&cache, &["--stamps-dir", s], &unused, 6);
    assert_eq!(cache.files(), sorted([plain, extra]));
}

#[test]
fn stamps_at_depth_two_in_work_shared_are_found() {
    let cache = Cache::new();
    // gcc-source's SWSPEC siginfo entries, at the top level.
    let swspec = |seed, task| ObjectSpec {
        pkgtarget: "",
        pkgarch: "",
        pv: "13.2.0",
        ..obj("gcc-source-13.2.0", seed, task, SIGINFO_ONLY, BASE)
    };
    let unpack = cache.object(swspec(110, "unpack"));
    let patch = cache.object(swspec(111, "patch"));
    let old_patch = cache.object(swspec(112, "patch"));
    let depth3 = cache.object(obj("busybox", 113, "compile", SIGINFO_ONLY, BASE));
    let stamps = cache.stamps(
        "stamps",
        &[
            format!(
                "work-shared/gcc-13.2.0-r0.do_unpack.sigdata.{}",
                unihash(110)
            ),
            format!(
                "work-shared/gcc-13.2.0-r0.do_patch_setscene.{}",
                unihash(111)
            ),
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("compile.sigdata.{}", unihash(113)),
            ),
        ],
    );
    let s = stamps.to_str().expect("UTF-8 path");
    clean(&cache, &["--stamps-dir", s], &old_patch, 4);
    assert_eq!(cache.files(), sorted([unpack, patch, depth3]));
}

#[test]
fn stamps_of_two_builds_keep_the_union() {
    let cache = Cache::new();
    let a = cache.object(obj(
        "busybox",
        120,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let b = cache.object(obj(
        "busybox",
        121,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let both = cache.object(obj("busybox", 122, "package", ARCHIVE_SIGINFO, BASE));
    let none = cache.object(obj("busybox", 123, "package", ARCHIVE_SIGINFO, BASE));
    let sa = cache.stamps(
        "build-a/tmp/stamps",
        &[
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("populate_sysroot.sigdata.{}", unihash(120)),
            ),
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("package.sigdata.{}", unihash(122)),
            ),
        ],
    );
    let sb = cache.stamps(
        "build-b/tmp/stamps",
        &[
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r1",
                &format!("populate_sysroot_setscene.{}", unihash(121)),
            ),
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r1",
                &format!("package_setscene.{}", unihash(122)),
            ),
        ],
    );
    let (sa, sb) = (sa.to_str().expect("UTF-8"), sb.to_str().expect("UTF-8"));
    clean(&cache, &["--stamps-dir", sa, "--stamps-dir", sb], &none, 8);
    assert_eq!(cache.files(), sorted([a, b, both]));
}

#[test]
fn stamps_dir_that_does_not_exist_is_an_error_and_removes_nothing() {
    let cache = Cache::new();
    cache.object(obj(
        "busybox",
        130,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    cache.object(obj(
        "busybox",
        131,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 1,
    ));
    let before = cache.files();
    let missing = cache.outside("no-such-stamps");
    let missing = missing.to_str().expect("UTF-8");
    for extra in [&["-y"][..], &["-y", "--remove-orphans"], &[]] {
        let mut args = vec!["--stamps-dir", missing];
        args.extend_from_slice(extra);
        let run = cache.run_stdin(&args, "y\n");
        run.expect_code(1);
        assert!(
            run.stderr.contains(missing),
            "stderr names the dir: {}",
            run.stderr
        );
        assert!(!run.stdout.contains("will be removed"), "{}", run.stdout);
        assert_eq!(cache.files(), before);
    }
    // One good dir and one missing: still an error.
    let good = cache.stamps(
        "stamps",
        &[stamp(
            "core2-64-poky-linux",
            "busybox",
            "1.36.1-r0",
            &format!("populate_sysroot.sigdata.{}", unihash(130)),
        )],
    );
    let run = cache.run(&[
        "--stamps-dir",
        good.to_str().expect("UTF-8"),
        "--stamps-dir",
        missing,
        "-y",
    ]);
    run.expect_code(1);
    assert_eq!(cache.files(), before);
}

#[test]
fn stamps_dir_without_stamps_is_an_error_and_removes_nothing() {
    let cache = Cache::new();
    cache.object(obj(
        "busybox",
        140,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    cache.object(obj("busybox", 141, "compile", SIGINFO_ONLY, BASE));
    let before = cache.files();
    let empty = cache.stamps("empty-stamps", &[]);
    // Plain stamps, lock files and others: no sigdata or setscene stamp.
    let no_stamps = cache.stamps(
        "plain-stamps",
        &[
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("compile.{}", unihash(141)),
            ),
            "core2-64-poky-linux/busybox/1.36.1-r0.do_compile.lock".to_string(),
            "README".to_string(),
        ],
    );
    for dir in [empty, no_stamps] {
        let d = dir.to_str().expect("UTF-8");
        let run = cache.run(&["--stamps-dir", d, "-y"]);
        run.expect_code(1);
        assert!(
            run.stderr.contains(d),
            "stderr names the dir: {}",
            run.stderr
        );
        assert!(run.stderr.contains("error"), "{}", run.stderr);
        assert_eq!(cache.files(), before);
    }
}

// ---------------------------------------------------------------------------
// Policies together

#[test]
fn duplicates_and_orphans_remove_the_union() {
    let cache = Cache::new();
    let kept = cache.object(obj(
        "busybox",
        150,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let dup = cache.object(obj(
        "busybox",
        151,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let lone = cache.object(obj("busybox", 152, "configure", SIGINFO_ONLY, BASE));
    let lic_orphan = cache.object(ObjectSpec {
        pkgtarget: "",
        pkgarch: "",
        ..obj("busybox", 153, "populate_lic", SIGINFO_ONLY, BASE)
    });
    let lic = cache.object(ObjectSpec {
        pkgtarget: "",
        pkgarch: "",
        ..obj("busybox", 154, "populate_lic", ARCHIVE_SIGINFO, BASE - 100)
    });
    let (d, _) = plan(&cache, &["-d"]);
    assert_eq!(d, dup);
    let (o, _) = plan(&cache, &["--remove-orphans"]);
    assert_eq!(o, sorted([lone.clone(), lic_orphan.clone()]));
    let union = sorted([dup, lone, lic_orphan]);
    let (both, line) = plan(&cache, &["-d", "--remove-orphans"]);
    assert_eq!(both, union);
    assert_eq!(line, summary(4, 8));
    clean(&cache, &["--remove-orphans", "-d"], &union, 8);
    assert_eq!(cache.files(), sorted([kept, lic]));
}

#[test]
fn stamps_and_orphans_remove_the_union() {
    let cache = Cache::new();
    let used = cache.object(obj(
        "busybox",
        160,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    // Named by a stamp, but an orphan.
    let used_orphan = cache.object(obj("busybox", 161, "compile", SIGINFO_ONLY, BASE));
    let unused = cache.object(obj(
        "busybox",
        162,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let stamps = cache.stamps(
        "stamps",
        &[
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("populate_sysroot.sigdata.{}", unihash(160)),
            ),
            stamp(
                "core2-64-poky-linux",
                "busybox",
                "1.36.1-r0",
                &format!("compile.sigdata.{}", unihash(161)),
            ),
        ],
    );
    let s = stamps.to_str().expect("UTF-8");
    clean(
        &cache,
        &["--stamps-dir", s, "--remove-orphans"],
        &sorted([used_orphan, unused]),
        5,
    );
    assert_eq!(cache.files(), sorted([used]));
}

// ---------------------------------------------------------------------------
// The drop-in interface: lines, prompt, flags

/// busybox: one duplicate (2 files) out of 5 entries.
fn small_cache() -> (Cache, Vec<String>, Vec<String>) {
    let cache = Cache::new();
    let old = cache.object(obj(
        "busybox",
        170,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    let mut kept = cache.object(obj(
        "busybox",
        171,
        "populate_sysroot",
        ARCHIVE_SIGINFO_SIG,
        BASE + 100,
    ));
    kept.sort();
    (cache, old, kept)
}

#[test]
fn summary_line_is_exactly_the_reference_text() {
    let (cache, _, _) = small_cache();
    let run = cache.run(&["-d", "-n"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "2 out of 5 files will be removed!\n");
    let run = cache.run(&["--remove-orphans", "--dry-run"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "0 out of 5 files will be removed!\n");
}

#[test]
fn dry_run_removes_nothing() {
    let (cache, _, _) = small_cache();
    let before = cache.files();
    // -n wins over -y, and never reads stdin.
    for args in [
        &["-d", "-n"][..],
        &["-d", "-n", "-y"],
        &["-d", "--dry-run", "--remove-orphans"],
    ] {
        let run = cache.run_stdin(args, "y\n");
        run.expect_code(0);
        assert_eq!(run.stdout_lines(), vec![summary(2, 5)], "{args:?}");
        assert_eq!(cache.files(), before);
    }
    let runs = cache
        .index_query("SELECT dry_run, confirmed, selected_files, removed_files FROM removal_run");
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r == &["1", "0", "2", "0"]), "{runs:?}");
}

#[test]
fn debug_lists_exactly_the_paths_to_be_removed() {
    let (cache, old, _) = small_cache();
    let run = cache.run(&["-d", "-D", "-n"]);
    run.expect_code(0);
    let mut expect: Vec<String> = old
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    expect.sort();
    expect.push(summary(2, 5));
    assert_eq!(run.stdout_lines(), expect);

    // The cache dir as given (here relative) is what the paths start with.
    let run = run_in(
        &cache,
        cache.root(),
        &["--cache-dir", "sstate-cache", "-d", "-D", "-n"],
    );
    let mut expect: Vec<String> = old.iter().map(|r| format!("sstate-cache/{r}")).collect();
    expect.sort();
    expect.push(summary(2, 5));
    assert_eq!(run.stdout_lines(), expect);
}

fn run_in(cache: &Cache, cwd: &std::path::Path, args: &[&str]) -> Run {
    let index = cache.index.to_str().expect("UTF-8");
    let mut all = args.to_vec();
    all.extend(["--index", index]);
    let out = cache
        .command(&all)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running the binary");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.expect_code(0);
    run
}

#[test]
fn prompt_answered_no_removes_nothing() {
    let (cache, _, _) = small_cache();
    let before = cache.files();
    for answer in ["n\n", "N\n", "yes\n", "\n", ""] {
        let run = cache.run_stdin(&["-d"], answer);
        run.expect_code(0);
        assert_eq!(
            run.stdout_lines(),
            vec![summary(2, 5), PROMPT.to_string()],
            "answer {answer:?}"
        );
        assert_eq!(cache.files(), before, "answer {answer:?}");
    }
}

#[test]
fn prompt_answered_y_removes() {
    let (cache, old, kept) = small_cache();
    let run = cache.run_stdin(&["-d"], "y\n");
    run.expect_code(0);
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(lines[0], summary(2, 5));
    assert_eq!(lines[1], PROMPT);
    assert_removed_line(lines[2], 2, 0, 0, 0);
    assert_eq!(cache.files(), kept);
    let removals = cache.index_query("SELECT path, outcome FROM removal ORDER BY path");
    let mut expect: Vec<Vec<String>> = old
        .iter()
        .map(|p| vec![p.clone(), "removed".to_string()])
        .collect();
    expect.sort();
    assert_eq!(removals, expect);
    // The index follows: the next plan has nothing left to remove.
    let run = cache.run(&["-d", "-n"]);
    assert_eq!(run.stdout_lines(), vec![summary(0, 3)]);
}

#[test]
fn prompt_answered_capital_y_removes() {
    let (cache, _, kept) = small_cache();
    let run = cache.run_stdin(&["-d"], "Y\n");
    run.expect_code(0);
    assert_eq!(cache.files(), kept);
}

#[test]
fn yes_flag_removes_without_the_prompt() {
    let (cache, _, kept) = small_cache();
    for flag in ["-y", "--yes"] {
        let run = cache.run(&["-d", flag]);
        run.expect_code(0);
        assert!(!run.stdout.contains(PROMPT), "{}", run.stdout);
        assert_eq!(cache.files(), kept);
    }
    let run = cache.run(&["--remove-duplicated", "-y"]);
    let lines = run.stdout_lines();
    assert_eq!(lines[0], summary(0, 3));
    assert_removed_line(lines[1], 0, 0, 0, 0);
}

#[test]
fn no_policy_prints_usage_and_exits_1() {
    let (cache, _, _) = small_cache();
    let before = cache.files();
    let run = cache.run(&["-y"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("Usage:"),
        "usage on stdout: {}",
        run.stdout
    );
    assert!(run.stderr.contains("policy"), "{}", run.stderr);
    assert_eq!(cache.files(), before);
}

#[test]
fn no_cache_dir_prints_usage_and_exits_1() {
    let (cache, _, _) = small_cache();
    let index = cache.index.to_str().expect("UTF-8");
    let run = cache.run_raw(&["-d", "-y", "--index", index], None);
    run.expect_code(1);
    assert!(
        run.stdout.contains("Usage:"),
        "usage on stdout: {}",
        run.stdout
    );
    // A cache dir that does not exist.
    let missing = cache.outside("no-such-cache");
    let missing = missing.to_str().expect("UTF-8");
    let run = cache.run_raw(
        &["--cache-dir", missing, "-d", "-y", "--index", index],
        None,
    );
    run.expect_code(1);
    assert!(run.stderr.contains(missing), "{}", run.stderr);
    // $SSTATE_CACHE_DIR is the default.
    let out = cache
        .command(&["-d", "-n", "--index", index])
        .env("SSTATE_CACHE_DIR", &cache.dir)
        .output()
        .expect("running the binary");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", summary(2, 5))
    );
}

#[test]
fn duplicates_with_stamps_dir_is_a_usage_error() {
    let (cache, _, _) = small_cache();
    let before = cache.files();
    let stamps = cache.stamps(
        "stamps",
        &[stamp(
            "core2-64-poky-linux",
            "busybox",
            "1.36.1-r0",
            &format!("compile.sigdata.{}", unihash(170)),
        )],
    );
    let s = stamps.to_str().expect("UTF-8");
    for args in [
        &["-d", "--stamps-dir", s, "-y"][..],
        &["--stamps-dir", s, "--remove-duplicated", "-y"],
    ] {
        let run = cache.run(args);
        run.expect_code(2);
        assert!(
            run.stderr.contains("--remove-duplicated") && run.stderr.contains("--stamps-dir"),
            "names both flags: {}",
            run.stderr
        );
        assert_eq!(cache.files(), before);
    }
}

#[test]
fn json_dry_run_reports_the_plan() {
    let (cache, _, _) = small_cache();
    let before = cache.files();
    let run = cache.run(&["-d", "--remove-orphans", "--format", "json", "-n"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(doc["plan"]["files"], 2);
    assert_eq!(doc["plan"]["objects"], 1);
    assert_eq!(doc["plan"]["total_files"], 5);
    assert_eq!(doc["dry_run"], true);
    assert!(doc["result"].is_null());
    let policies: Vec<&str> = doc["plan"]["policies"]
        .as_array()
        .expect("policies array")
        .iter()
        .filter_map(|p| p["policy"].as_str())
        .collect();
    assert_eq!(policies, ["duplicates", "orphans"]);
    assert_eq!(cache.files(), before);
    // Without -n or -y JSON cannot answer a prompt: refused, nothing removed.
    let run = cache.run_stdin(&["-d", "--format", "json"], "y\n");
    run.expect_code(1);
    assert_eq!(cache.files(), before);
}

// ---------------------------------------------------------------------------
// The index: a second run is incremental

fn scans(cache: &Cache) -> Vec<Vec<String>> {
    cache.index_query("SELECT mode, dirs_listed, dirs_stat FROM scan ORDER BY id")
}

#[test]
fn second_run_on_an_unchanged_cache_lists_no_dirs() {
    let cache = Cache::new();
    for i in 0..6u64 {
        cache.object(obj(
            "busybox",
            180 + i,
            "populate_sysroot",
            ARCHIVE_SIGINFO,
            BASE + i as i64,
        ));
        cache.object(ObjectSpec {
            extrapath: "universal",
            ..obj(
                "zlib-native",
                190 + i,
                "populate_sysroot",
                ARCHIVE_SIGINFO,
                BASE + i as i64,
            )
        });
    }
    cache.settle_dirs();
    let first = plan(&cache, &["-d", "--remove-orphans"]);
    let second = plan(&cache, &["-d", "--remove-orphans"]);
    assert_eq!(first.1, summary(20, 24));
    assert_eq!(first, second);
    let s = scans(&cache);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0][0], "cold");
    assert_eq!(s[1][0], "incremental");
    assert_eq!(s[1][1], "0", "dirs_listed of the second scan");
    assert_eq!(
        s[1][2], s[0][1],
        "every dir listed by the first is only stat-ed by the second"
    );
}

#[test]
fn incremental_run_lists_only_the_changed_dir_and_sees_its_new_files() {
    let cache = Cache::new();
    let old = cache.object(obj(
        "busybox",
        200,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    cache.object(obj(
        "busybox",
        201,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    cache.settle_dirs();
    assert_eq!(plan(&cache, &["-d"]).0, old);
    // A build adds a newer object into an existing dir (the one of `old`).
    let spec = obj(
        "busybox",
        200,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 200,
    );
    let newest = ObjectSpec {
        pv: "1.36.2",
        ..spec
    };
    cache.object(newest);
    let (listed, line) = plan(&cache, &["-d"]);
    assert_eq!(line, summary(4, 6));
    assert_eq!(listed.len(), 4);
    let s = scans(&cache);
    assert_eq!(s[1][0], "incremental");
    assert_eq!(s[1][1], "1", "only the changed dir is listed: {s:?}");
}
