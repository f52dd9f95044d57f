//! Safety rules that hold for every policy (SSTATE.md sections 2 and 5):
//! entries re-checked before unlinking, non-entries never touched, nothing
//! outside the cache removed, unreadable dirs and bad indexes handled.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

// ---------------------------------------------------------------------------
// Re-check before unlink: a build uses a file while the prompt waits

/// Two old duplicates (4 files selected) and the newest object.
struct Race {
    cache: Cache,
    old_a: Vec<String>,
    kept: Vec<String>,
}

fn race_cache() -> Race {
    let cache = Cache::new();
    let old_a = cache.object(obj("busybox", 1, "populate_sysroot", ARCHIVE_SIGINFO, BASE));
    cache.object(obj(
        "busybox",
        2,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 10,
    ));
    let kept = cache.object(obj(
        "busybox",
        3,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    Race { cache, old_a, kept }
}

/// Start `-d`, wait for the prompt, run `meddle` on the archive of
/// `old_a`, answer y; check that everything selected except `survivors` is
/// gone, that `removed_others` files other than that archive were
/// removed, and return the last line and the archive's recorded outcome.
fn race(
    r: &Race,
    meddle: impl FnOnce(&Path),
    survivors: &[String],
    removed_others: usize,
) -> String {
    let mut child = r.cache.spawn(&["-d"]);
    let before = child.wait_for_prompt();
    assert_eq!(before, vec![summary(4, 6)]);
    let target = &r.old_a[0]; // the archive of old_a
    meddle(&r.cache.path(target));
    let run = child.answer("y\n");
    run.expect_code(0);
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 1, "one line after the prompt: {}", run.stdout);
    let mut expect: Vec<String> = r.kept.clone();
    expect.extend(survivors.iter().cloned());
    expect.sort();
    assert_eq!(r.cache.files(), expect);
    let outcome = r.cache.index_query(&format!(
        "SELECT outcome FROM removal WHERE path = '{target}'"
    ));
    let others = r.cache.index_query(&format!(
        "SELECT count(*) FROM removal WHERE path <> '{target}' AND outcome = 'removed'"
    ));
    assert_eq!(others, vec![vec![removed_others.to_string()]]);
    format!("{}|{}", lines[0], outcome[0][0])
}

#[test]
fn file_touched_while_the_prompt_waits_is_kept() {
    let r = race_cache();
    assert!(r.old_a[0].ends_with(".tar.zst"));
    // The whole object stays: its siginfo too.
    let out = race(&r, |p| set_mtime(p, BASE + 5000), &r.old_a, 2);
    let (line, outcome) = out.split_once('|').expect("two parts");
    assert_removed_line(line, 2, 2, 0, 0);
    assert!(
        line.contains("skipped 2 (changed since indexed: 2"),
        "{line}"
    );
    assert_eq!(outcome, "skipped:changed:used-since-scan");
}

#[test]
fn file_rewritten_while_the_prompt_waits_is_kept() {
    let r = race_cache();
    // Different size, same mtime and inode: the size alone must tell.
    let out = race(
        &r,
        |p| {
            fs::write(p, b"a much longer archive written by a build meanwhile")
                .expect("rewriting an archive");
            set_mtime(p, BASE);
        },
        &r.old_a,
        2,
    );
    let (line, outcome) = out.split_once('|').expect("two parts");
    assert_removed_line(line, 2, 2, 0, 0);
    assert_eq!(outcome, "skipped:changed:used-since-scan");
}

#[test]
fn file_replaced_by_another_inode_while_the_prompt_waits_is_kept() {
    let r = race_cache();
    // Same content, size and mtime, new inode (written and renamed in
    // place, as sstate.bbclass does): the inode alone must tell.
    let out = race(
        &r,
        |p| {
            let content = fs::read(p).expect("reading the archive");
            let tmp = p.with_file_name("replacement.tmp");
            fs::write(&tmp, content).expect("writing a replacement");
            set_mtime(&tmp, BASE);
            fs::rename(&tmp, p).expect("renaming the replacement in place");
        },
        &r.old_a,
        2,
    );
    let (line, outcome) = out.split_once('|').expect("two parts");
    assert_removed_line(line, 2, 2, 0, 0);
    assert_eq!(outcome, "skipped:changed:used-since-scan");
}

#[test]
fn file_deleted_while_the_prompt_waits_is_reported_as_gone() {
    let r = race_cache();
    let out = race(
        &r,
        |p| fs::remove_file(p).expect("deleting an archive"),
        &[],
        3,
    );
    let (line, outcome) = out.split_once('|').expect("two parts");
    assert_removed_line(line, 3, 0, 1, 0);
    assert!(
        line.contains("skipped 1 (changed since indexed: 0, already gone: 1)"),
        "{line}"
    );
    assert_eq!(outcome, "skipped:gone");
}

#[test]
fn object_whose_archive_is_touched_after_planning_keeps_every_entry_done_included() {
    let cache = Cache::new();
    let all = &[
        ".tar.zst",
        ".tar.zst.siginfo",
        ".tar.zst.sig",
        ".tar.zst.done",
    ];
    let old = cache.object(obj("busybox", 40, "populate_sysroot", all, BASE));
    let kept = cache.object(obj(
        "busybox",
        41,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let mut child = cache.spawn(&["-d"]);
    assert_eq!(child.wait_for_prompt(), vec![summary(4, 6)]);
    // A build restores it meanwhile: the archive is touched in place.
    set_mtime(&cache.path(&old[0]), now_secs());
    let run = child.answer("y\n");
    run.expect_code(0);
    assert_removed_line(run.stdout_lines()[0], 0, 4, 0, 0);
    assert_eq!(cache.files(), sorted([old.clone(), kept]));
    let outcomes = cache.index_query(
        "SELECT DISTINCT outcome FROM removal WHERE run_id = (SELECT max(id) FROM removal_run)",
    );
    assert_eq!(
        outcomes,
        vec![vec!["skipped:changed:used-since-scan".to_string()]]
    );
}

#[test]
fn object_that_gains_an_entry_after_planning_is_kept() {
    let cache = Cache::new();
    let spec = obj("busybox", 42, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let old = cache.object(spec.clone());
    let kept = cache.object(obj(
        "busybox",
        43,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let mut child = cache.spawn(&["-d"]);
    assert_eq!(child.wait_for_prompt(), vec![summary(2, 4)]);
    // A build signs it meanwhile: a new .sig beside the planned files.
    let sig = spec.rel_path(".tar.zst.sig");
    cache.file(&sig, b"signature");
    let run = child.answer("y\n");
    run.expect_code(0);
    assert_removed_line(run.stdout_lines()[0], 0, 2, 0, 0);
    let mut expect = old.clone();
    expect.push(sig);
    assert_eq!(cache.files(), sorted([expect, kept]));
}

// ---------------------------------------------------------------------------
// Non-entries are never touched

/// A cache where every parsed object but `kept` is selected by both
/// `-d --remove-orphans` and `--stamps-dir S --remove-orphans` (S naming
/// only `kept`), with non-entries beside the selected objects. Returns the
/// cache, the stamps dir, the kept entries and the non-entries.
fn cache_with_non_entries() -> (Cache, std::path::PathBuf, Vec<String>, Vec<String>) {
    let cache = Cache::new();
    let kept = cache.object(obj(
        "busybox",
        10,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let old_spec = obj("busybox", 11, "populate_sysroot", ARCHIVE_SIGINFO_SIG, BASE);
    let old = cache.object(old_spec.clone());
    let orphan_spec = obj("busybox", 12, "configure", SIGINFO_ONLY, BASE);
    let orphan = cache.object(orphan_spec.clone());
    assert_eq!(old.len() + orphan.len(), 4);

    let mut non_entries = Vec::new();
    for spec in [&old_spec, &orphan_spec] {
        let dir = spec.rel_dir();
        let stem = spec.stem();
        for name in [
            // NamedTemporaryFile(prefix=name) of a build in progress.
            format!("{stem}.tar.zstAbC12x9q"),
            format!("{stem}.tar.zst.siginfo_k2p9qa7z"),
            // Lock files.
            format!("{stem}.tar.zst.lock"),
            format!("{stem}.tar.zst.siginfo.lock"),
            // Unknown extension, wrong case, bad hash.
            format!("{stem}.tar.gz"),
            format!("S{}", &stem[1..]),
            stem.replace(&spec.unihash, &spec.unihash.to_uppercase()) + ".tar.zst",
            "README".to_string(),
            "notes.txt".to_string(),
            "sstate:foo".to_string(),
            "sstate:foo.tar.zst".to_string(),
        ] {
            let rel = format!("{dir}/{name}");
            cache.file(&rel, b"not an entry");
            non_entries.push(rel);
        }
        let link = format!("{dir}/latest-{}", &spec.unihash[..8]);
        cache.symlink(&link, Path::new("/nonexistent/sstate-mirror/file"), BASE);
        non_entries.push(link);
    }
    for rel in [
        "README",
        "sstate-cache.lock",
        "sstate:foo",
        "universal/README",
    ] {
        cache.file(rel, b"top level");
        non_entries.push(rel.to_string());
    }
    let stamps = cache.stamps(
        "stamps",
        &[format!(
            "core2-64-poky-linux/busybox/1.36.1-r0.do_populate_sysroot_setscene.{}",
            unihash(10)
        )],
    );
    (cache, stamps, kept, non_entries)
}

#[test]
fn non_entries_survive_duplicates_and_orphans() {
    let (cache, _, kept, non_entries) = cache_with_non_entries();
    let run = cache.run(&["-d", "--remove-orphans", "-y"]);
    run.expect_code(0);
    assert_eq!(run.stdout_lines()[0], summary(4, 6));
    assert_eq!(cache.files(), sorted([kept, non_entries]));
}

#[test]
fn non_entries_survive_stamps_and_orphans() {
    let (cache, stamps, kept, non_entries) = cache_with_non_entries();
    let s = stamps.to_str().expect("UTF-8");
    let run = cache.run(&["--stamps-dir", s, "--remove-orphans", "-y"]);
    run.expect_code(0);
    assert_eq!(run.stdout_lines()[0], summary(4, 6));
    assert_eq!(cache.files(), sorted([kept, non_entries]));
}

// ---------------------------------------------------------------------------
// Symlinks: the entry goes, never its target outside the cache

#[test]
fn selected_symlink_entry_is_removed_but_not_its_target() {
    let cache = Cache::new();
    let spec = obj("busybox", 20, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let archive_rel = spec.rel_path(".tar.zst");
    // The file in a local file:// mirror, outside the cache, recently used.
    let mirror = cache.outside(&format!("mirror/{archive_rel}"));
    fs::create_dir_all(mirror.parent().expect("has a parent")).expect("creating the mirror dir");
    fs::write(&mirror, b"the mirror's archive").expect("writing the mirror file");
    set_mtime(&mirror, BASE + 1000);
    let link = cache.symlink(&archive_rel, &mirror, BASE);
    let siginfo = cache.object(ObjectSpec {
        exts: &[".tar.zst.siginfo"],
        ..spec.clone()
    });
    let kept = cache.object(obj(
        "busybox",
        21,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));

    let run = cache.run(&["-d", "-D", "-n"]);
    let mut listed: Vec<String> = sorted([siginfo, vec![archive_rel.clone()]])
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    listed.push(summary(2, 4));
    assert_eq!(run.stdout_lines(), listed);
    let rows = cache.index_query(&format!(
        "SELECT is_symlink, kind, mtime FROM entries WHERE path = '{archive_rel}'"
    ));
    assert_eq!(
        rows,
        vec![vec![
            "1".to_string(),
            "archive".to_string(),
            BASE.to_string()
        ]]
    );

    let run = cache.run(&["-d", "-y"]);
    run.expect_code(0);
    assert_removed_line(run.stdout_lines()[1], 2, 0, 0, 0);
    assert!(
        fs::symlink_metadata(&link).is_err(),
        "the symlink is removed"
    );
    assert_eq!(
        fs::read(&mirror).expect("the mirror file is still there"),
        b"the mirror's archive"
    );
    let md = fs::metadata(&mirror).expect("stat of the mirror file");
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&md).unix_seconds(),
        BASE + 1000
    );
    assert_eq!(cache.files(), sorted([kept]));
}

#[test]
fn symlinked_directory_is_never_followed() {
    let cache = Cache::new();
    let kept = cache.object(obj(
        "busybox",
        22,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    // Another cache elsewhere, reachable from this one through a dir symlink:
    // an older duplicate and an orphan that -d --remove-orphans would take.
    let elsewhere = Cache::new();
    let outside = sorted([
        elsewhere.object(obj(
            "busybox",
            23,
            "populate_sysroot",
            ARCHIVE_SIGINFO,
            BASE,
        )),
        elsewhere.object(obj("busybox", 24, "configure", SIGINFO_ONLY, BASE)),
    ]);
    let link = cache.symlink("other-cache", &elsewhere.dir, BASE);
    // And a symlink to one of its HH/hh dirs inside one of ours.
    let dir_of = |seed| {
        ObjectSpec {
            unihash: unihash(seed),
            ..Default::default()
        }
        .rel_dir()
    };
    cache.symlink(
        &format!("{}/linked-hh", dir_of(22)),
        &elsewhere.dir.join(dir_of(23)),
        BASE,
    );

    let run = cache.run(&["-d", "--remove-orphans", "-y"]);
    run.expect_code(0);
    assert_eq!(run.stdout_lines()[0], summary(0, 2));
    assert!(fs::symlink_metadata(&link).is_ok());
    assert_eq!(elsewhere.files(), outside);
    assert_eq!(cache.files().len(), kept.len() + 2);
}

// ---------------------------------------------------------------------------
// Unreadable dirs

/// Restores a dir's permissions when dropped, so the temp dir can go.
struct Restore<'a>(&'a Path);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = fs::set_permissions(self.0, fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn unreadable_subdirectory_warns_and_its_files_survive() {
    let cache = Cache::new();

    let hidden_spec = obj("busybox", 30, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let hidden = cache.object(hidden_spec.clone());
    let newest = cache.object(obj(
        "busybox",
        31,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    let dup = cache.object(obj("zlib", 32, "package", ARCHIVE_SIGINFO, BASE));
    let zlib = cache.object(obj("zlib", 33, "package", ARCHIVE_SIGINFO, BASE + 100));
    let dir = cache.path(&hidden_spec.rel_dir());
    for other in [&newest, &dup, &zlib] {
        assert!(
            !other[0].starts_with(&hidden_spec.rel_dir()),
            "test seeds must give distinct HH/hh dirs"
        );
    }
    cache.unprivileged();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let guard = Restore(&dir);

    // Dependency retention cannot be sure of what it cannot see.
    let run = cache.run(&["--older-than", "1d", "-y"]);
    run.expect_code(1);
    assert!(run.stderr.contains("--no-keep-deps"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&hidden_spec.rel_dir()),
        "{}",
        run.stderr
    );

    let run = cache.run(&["-d", "-y"]);
    run.expect_code(0);
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&hidden_spec.rel_dir()),
        "names the dir: {}",
        run.stderr
    );
    let lines = run.stdout_lines();
    assert_eq!(lines[0], summary(2, 6));
    assert_removed_line(lines[1], 2, 0, 0, 0);

    drop(guard);
    assert_eq!(cache.files(), sorted([hidden, newest, zlib]));
}

#[test]
fn failed_unlink_is_reported_and_exits_1() {
    let cache = Cache::new();
    let stuck_spec = obj("busybox", 35, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let stuck = cache.object(stuck_spec.clone());
    let newest = cache.object(obj(
        "busybox",
        36,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    assert!(!newest[0].starts_with(&stuck_spec.rel_dir()));
    let dir = cache.path(&stuck_spec.rel_dir());
    cache.unprivileged();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).expect("chmod 555");
    let guard = Restore(&dir);

    let run = cache.run(&["-d", "-y"]);
    run.expect_code(1);
    let lines = run.stdout_lines();
    assert_eq!(lines[0], summary(2, 4));
    assert_removed_line(lines[1], 0, 0, 0, 2);
    for rel in &stuck {
        assert!(
            run.stderr
                .contains(&format!("could not remove {}", cache.path(rel).display())),
            "{}",
            run.stderr
        );
    }
    drop(guard);
    assert_eq!(cache.files(), sorted([stuck, newest]));
    let outcomes = cache.index_query("SELECT outcome FROM removal");
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes.iter().all(|o| o[0].starts_with("failed:")),
        "{outcomes:?}"
    );
}

// ---------------------------------------------------------------------------
// Bad indexes

fn aside_files(cache: &Cache) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(cache.root())
        .expect("listing the temp dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index.sqlite.corrupt"))
        // (SQLite's WAL files go aside with the index they belong to.)
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    v.sort();
    v
}

#[test]
fn index_deleted_by_hand_is_rebuilt_without_replaying_its_wal() {
    let (cache, old) = two_duplicates();
    // Objects that come and go before the index is deleted: the WAL left
    // holds pages of an index with other rows than the one built next (a
    // replayed WAL would show objects that are gone, or damage).
    let extra = |from: u64| -> Vec<String> {
        (from..from + 150)
            .flat_map(|i| {
                cache.object(obj(
                    &format!("extra{}", i % 40),
                    1000 + i,
                    "populate_sysroot",
                    ARCHIVE_SIGINFO,
                    BASE + i as i64,
                ))
            })
            .collect()
    };
    let mut gone = extra(0);
    cache.settle_dirs();
    cache.run(&["-d", "-n"]).expect_code(0);
    gone.extend(extra(150));
    cache.settle_dirs();
    cache.run(&["-d", "-n"]).expect_code(0);
    // A run killed while it wrote leaves its WAL beside the index (here:
    // a connection that does not checkpoint as it closes).
    {
        let conn = rusqlite::Connection::open(&cache.index).expect("opening the index");
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .expect("configuring the connection");
        conn.execute_batch("UPDATE object SET last_used_ns = 0; UPDATE entry SET mtime_ns = 0;")
            .expect("writing to the index");
    }
    for rel in &gone {
        fs::remove_file(cache.path(rel)).expect("removing an extra object");
    }
    let wal = cache.outside("index.sqlite-wal");
    assert!(
        fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
        "a WAL is left"
    );
    // A user resets the index by deleting the file they know of.
    fs::remove_file(&cache.index).expect("deleting the index by hand");
    let mut expect: Vec<String> = old
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    expect.push(summary(2, 4));
    for round in ["rebuilt", "warm"] {
        let run = cache.run(&["-d", "-D", "-n"]);
        run.expect_code(0);
        assert_eq!(run.stdout_lines(), expect, "{round}: {}", run.stderr);
        assert!(!run.stderr.contains("corrupt"), "{round}: {}", run.stderr);
    }
    assert_eq!(cache.index_query("PRAGMA integrity_check"), [["ok"]]);
    assert!(aside_files(&cache).is_empty(), "nothing was moved aside");
}

fn two_duplicates() -> (Cache, Vec<String>) {
    let cache = Cache::new();
    let old = cache.object(obj(
        "busybox",
        40,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    cache.object(obj(
        "busybox",
        41,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    (cache, old)
}

#[test]
fn file_at_the_index_path_that_is_not_a_database_is_refused_and_left_alone() {
    let (cache, _) = two_duplicates();
    // A typo: --index names the user's notes.
    let garbage = b"this is not an SQLite database\n".repeat(200);
    fs::write(&cache.index, &garbage).expect("writing a garbage index");
    let before = cache.files();
    for args in [&["-d", "-n"][..], &["-d", "-y"][..], &["scan"][..]] {
        let run = if args[0] == "scan" {
            cache.sub("scan", &[])
        } else {
            cache.run(args)
        };
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("not an SQLite database"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("--index"),
            "says what to do: {}",
            run.stderr
        );
    }
    assert_eq!(fs::read(&cache.index).expect("reading it"), garbage);
    assert_eq!(aside_files(&cache), Vec::<String>::new());
    let siblings: Vec<String> = fs::read_dir(cache.root())
        .expect("listing")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index.sqlite"))
        .collect();
    assert_eq!(
        siblings,
        vec!["index.sqlite".to_string()],
        "nothing created beside it"
    );
    assert_eq!(cache.files(), before);
}

#[test]
fn index_damaged_inside_is_moved_aside_and_rebuilt() {
    let (cache, old) = two_duplicates();
    cache.run(&["-d", "-n"]).expect_code(0);
    // Overwrite the root page of the `dir` table: the header, sqlite_master
    // and `meta` stay sound, so the damage shows only once the scan reads.
    let rows = cache.index_query(
        "SELECT (SELECT rootpage FROM sqlite_master WHERE name = 'dir'), (SELECT page_size FROM pragma_page_size)",
    );
    let page: u64 = rows[0][0].parse().expect("a page number");
    let size: u64 = rows[0][1].parse().expect("a page size");
    checkpoint_index(&cache.index);
    let mut bytes = fs::read(&cache.index).expect("reading the index");
    let start = ((page - 1) * size) as usize;
    bytes[start..start + size as usize].fill(0xff);
    fs::write(&cache.index, &bytes).expect("damaging the index");

    let run = cache.run(&["-d", "-D", "-n"]);
    run.expect_code(0);
    let mut expect: Vec<String> = old
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    expect.push(summary(2, 4));
    assert_eq!(run.stdout_lines(), expect, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
    let aside = aside_files(&cache);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        aside[0].starts_with("index.sqlite.corrupt-"),
        "moved aside as *.corrupt-* like any other corrupt index, got {aside:?}"
    );
}

#[test]
fn index_of_another_cache_is_refused_and_nothing_is_removed() {
    let (a, _) = two_duplicates();
    let (b, _) = two_duplicates();
    a.run(&["-d", "-n"]).expect_code(0);
    let index_bytes = fs::read(&a.index).expect("reading index A");
    let before = b.files();
    let run = b.run_raw(
        &[
            "--cache-dir",
            b.dir.to_str().expect("UTF-8"),
            "--index",
            a.index.to_str().expect("UTF-8"),
            "-d",
            "-y",
        ],
        None,
    );
    run.expect_code(1);
    let ca = fs::canonicalize(&a.dir).expect("canonical A");
    let cb = fs::canonicalize(&b.dir).expect("canonical B");
    assert!(
        run.stderr.contains(&ca.display().to_string())
            && run.stderr.contains(&cb.display().to_string()),
        "names both caches: {}",
        run.stderr
    );
    assert!(!run.stdout.contains("will be removed"), "{}", run.stdout);
    assert_eq!(b.files(), before);
    assert_eq!(
        fs::read(&a.index).expect("reading index A"),
        index_bytes,
        "index A untouched"
    );
    // And A still works with it.
    a.run(&["-d", "-n"]).expect_code(0);
}

fn foreign_db(path: &Path, wal: bool) -> Vec<u8> {
    {
        let conn = rusqlite::Connection::open(path).expect("creating a foreign DB");
        if wal {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .expect("switching to WAL");
            assert_eq!(mode, "wal");
        }
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
            .expect("filling a foreign DB");
    }
    fs::read(path).expect("reading the foreign DB")
}

fn check_foreign_refused(wal: bool) {
    let (cache, _) = two_duplicates();
    let original = foreign_db(&cache.index, wal);
    let siblings = |c: &Cache| {
        let mut v: Vec<String> = fs::read_dir(c.root())
            .expect("listing the temp dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let listing = siblings(&cache);
    let before = cache.files();
    let run = cache.run(&["-d", "-y"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("not an sstate-cache-management index"),
        "{}",
        run.stderr
    );
    assert_eq!(cache.files(), before);
    assert_eq!(
        siblings(&cache),
        listing,
        "no file moved or created beside it"
    );
    assert!(
        fs::read(&cache.index).expect("reading the foreign DB") == original,
        "the foreign DB's bytes changed (wal = {wal})"
    );
}

#[test]
fn foreign_sqlite_database_is_refused_and_left_unchanged() {
    check_foreign_refused(false);
}

#[test]
fn foreign_sqlite_database_in_wal_mode_is_refused_and_left_unchanged() {
    check_foreign_refused(true);
}

// ---------------------------------------------------------------------------
// Parallelism does not change the plan

#[test]
fn one_and_sixteen_jobs_give_the_same_plan() {
    let cache = Cache::new();
    let tasks = [
        "populate_sysroot",
        "package",
        "package_write_ipk",
        "deploy_source_date_epoch",
    ];
    let names: Vec<String> = (0..50).map(|g| format!("recipe{g}")).collect();
    let variants: [&[&str]; 3] = [ARCHIVE_SIGINFO_SIG, SIGINFO_ONLY, &[".tar.zst.sig"]];
    let mut selected = Vec::new();
    let mut kept = Vec::new();
    for (g, pn) in names.iter().enumerate() {
        for i in 0..4u64 {
            let seed = 1000 + g as u64 * 4 + i;
            let spec = ObjectSpec {
                extrapath: if g % 5 == 0 { "universal" } else { "" },
                exts: if i == 3 {
                    ARCHIVE_SIGINFO
                } else {
                    variants[(g + i as usize) % 3]
                },
                ..obj(pn, seed, tasks[g % 4], &[], BASE + i as i64 * 10)
            };
            let rels = cache.object(spec);
            let list = if i == 3 { &mut kept } else { &mut selected };
            list.extend(rels);
        }
    }
    let selected = sorted([selected]);
    let total = cache.files().len();
    assert_eq!(total, 350);

    let dir = cache.dir.to_str().expect("UTF-8");
    let mut outputs = Vec::new();
    for (jobs, index) in [("1", "index-j1.sqlite"), ("16", "index-j16.sqlite")] {
        let index = cache.outside(index);
        let run = cache.run_raw(
            &[
                "--cache-dir",
                dir,
                "--index",
                index.to_str().expect("UTF-8"),
                "-j",
                jobs,
                "-d",
                "--remove-orphans",
                "-D",
                "-n",
            ],
            None,
        );
        run.expect_code(0);
        outputs.push(run.stdout);
    }
    assert_eq!(outputs[0], outputs[1]);
    let mut expect: Vec<String> = selected
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    expect.sort();
    expect.push(summary(selected.len(), total));
    let mut got: Vec<String> = outputs[0].lines().map(str::to_string).collect();
    let last = got.pop().expect("summary");
    got.sort();
    got.push(last);
    assert_eq!(got, expect);

    let run = cache.run(&["-j", "16", "-d", "--remove-orphans", "-y"]);
    run.expect_code(0);
    assert_removed_line(run.stdout_lines()[1], selected.len(), 0, 0, 0);
    assert_eq!(cache.files(), sorted([kept]));
}

// ---------------------------------------------------------------------------
// A complete keep-set or none: --stamps-dir

/// Three objects: `a` and `b` named by stamps of two recipes (zlib, bash)
/// of one build, `c` named by none.
struct KeepSet {
    cache: Cache,
    a: Vec<String>,
    b: Vec<String>,
    c: Vec<String>,
}

fn keep_set() -> KeepSet {
    let cache = Cache::new();
    let a = cache.object(obj("zlib", 200, "populate_sysroot", ARCHIVE_SIGINFO, BASE));
    let b = cache.object(obj("bash", 201, "populate_sysroot", ARCHIVE_SIGINFO, BASE));
    let c = cache.object(obj("perl", 202, "populate_sysroot", ARCHIVE_SIGINFO, BASE));
    KeepSet { cache, a, b, c }
}

fn sigdata(sys: &str, pn: &str, seed: u64) -> String {
    format!(
        "{sys}/{pn}/1.0-r0.do_populate_sysroot.sigdata.{}",
        unihash(seed)
    )
}

#[test]
fn stamps_dir_with_an_unreadable_recipe_dir_stops_the_run() {
    let k = keep_set();
    let stamps = k.cache.stamps(
        "stamps",
        &[
            sigdata("core2-64-poky-linux", "zlib", 200),
            sigdata("core2-64-poky-linux", "bash", 201),
        ],
    );
    let before = k.cache.files();
    k.cache.unprivileged();
    let hidden = stamps.join("core2-64-poky-linux/bash");
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    let guard = Restore(&hidden);
    let s = stamps.to_str().expect("UTF-8");
    for args in [vec!["--stamps-dir", s, "-y"], vec!["--stamps-dir", s, "-n"]] {
        let run = k.cache.run(&args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
        assert!(
            run.stderr.contains(&hidden.display().to_string()),
            "names the dir: {}",
            run.stderr
        );
        assert!(!run.stdout.contains("will be removed"), "{}", run.stdout);
    }
    drop(guard);
    assert_eq!(k.cache.files(), before);
    let _ = (k.a, k.b, k.c);
}

#[test]
fn symlinked_machine_dir_in_a_stamps_dir_is_followed() {
    let k = keep_set();
    // The qemux86-64 stamps live elsewhere and are linked in, as some
    // setups share TMPDIR parts: what they name is kept too.
    let elsewhere = k
        .cache
        .stamps("elsewhere", &[sigdata("real-sys", "bash", 201)]);
    let stamps = k
        .cache
        .stamps("stamps", &[sigdata("core2-64-poky-linux", "zlib", 200)]);
    std::os::unix::fs::symlink(
        elsewhere.join("real-sys"),
        stamps.join("qemux86_64-poky-linux"),
    )
    .expect("linking a machine dir");
    let s = stamps.to_str().expect("UTF-8");
    let run = k.cache.run(&["--stamps-dir", s, "-y"]);
    run.expect_code(0);
    assert_eq!(run.stdout_lines()[0], summary(2, 6));
    assert_eq!(k.cache.files(), sorted([k.a, k.b]));
    assert!(!k.c.iter().any(|p| k.cache.path(p).exists()));
}

#[test]
fn symlink_loop_in_a_stamps_dir_stops_the_run() {
    let k = keep_set();
    let stamps = k.cache.stamps(
        "stamps",
        &[
            sigdata("core2-64-poky-linux", "zlib", 200),
            sigdata("core2-64-poky-linux", "bash", 201),
        ],
    );
    std::os::unix::fs::symlink("..", stamps.join("core2-64-poky-linux/zlib/loop"))
        .expect("making a loop");
    let before = k.cache.files();
    let run = k
        .cache
        .run(&["--stamps-dir", stamps.to_str().expect("UTF-8"), "-y"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("symlink loop"), "{}", run.stderr);
    assert_eq!(k.cache.files(), before);
}

#[test]
fn stamps_that_name_no_object_stop_the_run_unless_allowed() {
    let k = keep_set();
    // Another build's stamps: hashes this cache does not hold.
    let other = k.cache.stamps(
        "other-build-stamps",
        &[sigdata("core2-64-poky-linux", "zlib", 900)],
    );
    let before = k.cache.files();
    let s = other.to_str().expect("UTF-8");
    let run = k.cache.run(&["--stamps-dir", s, "-y"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("none of its 1 stamps"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--allow-unmatched-stamps"),
        "{}",
        run.stderr
    );
    assert_eq!(k.cache.files(), before);
    // Also when another stamps dir does match: each dir must.
    let good = k
        .cache
        .stamps("stamps", &[sigdata("core2-64-poky-linux", "zlib", 200)]);
    let g = good.to_str().expect("UTF-8");
    let run = k.cache.run(&["--stamps-dir", g, "--stamps-dir", s, "-y"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(k.cache.files(), before);
    // Confirmed: the reference tool's behaviour, everything goes.
    let run = k
        .cache
        .run(&["--stamps-dir", s, "--allow-unmatched-stamps", "-y"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("none of its 1 stamps"),
        "warns: {}",
        run.stderr
    );
    assert_eq!(k.cache.files(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// Never outside the cache: directories swapped for symlinks

/// An old duplicate (selected by -d) in its own HH/hh dir, the newest
/// object elsewhere; returns the cache, the old object's files and the
/// level of its dir to swap ("hh" or "HH").
fn swapped_dir_race(level: &str) {
    let cache = Cache::new();
    let old_spec = obj(
        "busybox",
        210,
        "populate_sysroot",
        ARCHIVE_SIGINFO_SIG,
        BASE,
    );
    let old = cache.object(old_spec.clone());
    let kept = cache.object(obj(
        "busybox",
        211,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    assert_ne!(&old[0][..2], &kept[0][..2], "seeds give distinct HH dirs");
    let mut child = cache.spawn(&["-d"]);
    assert_eq!(child.wait_for_prompt(), vec![summary(3, 5)]);
    // While the prompt waits, the dir is moved out of the cache and a
    // symlink to its new place put where it was.
    let swapped = if level == "hh" {
        old_spec.rel_dir()
    } else {
        old_spec.rel_dir()[..2].to_string()
    };
    let moved = cache.outside("moved-away");
    fs::rename(cache.path(&swapped), &moved).expect("moving the dir away");
    std::os::unix::fs::symlink(&moved, cache.path(&swapped)).expect("symlinking it back");
    let outside_before = std::fs::read_dir(if level == "hh" {
        moved.clone()
    } else {
        moved.join(&old_spec.rel_dir()[3..])
    })
    .expect("listing the moved dir")
    .count();
    assert_eq!(outside_before, 3);

    let run = child.answer("y\n");
    run.expect_code(1);
    assert!(run.stderr.contains("symlink"), "{}", run.stderr);
    assert_removed_line(run.stdout_lines()[0], 0, 0, 0, 3);
    let inner = if level == "hh" {
        moved.clone()
    } else {
        moved.join(&old_spec.rel_dir()[3..])
    };
    assert_eq!(
        std::fs::read_dir(&inner)
            .expect("listing the moved dir")
            .count(),
        3,
        "nothing was removed through the symlink"
    );
    for p in &kept {
        assert!(cache.path(p).exists());
    }
}

#[test]
fn hash_dir_swapped_for_a_symlink_while_the_prompt_waits_is_refused() {
    swapped_dir_race("hh");
}

#[test]
fn parent_dir_swapped_for_a_symlink_while_the_prompt_waits_is_refused() {
    swapped_dir_race("HH");
}

// ---------------------------------------------------------------------------
// Only regular files and symlinks are entries

#[test]
fn fifos_and_sockets_named_like_entries_are_never_touched() {
    let cache = Cache::new();
    let old_spec = obj("busybox", 220, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let old = cache.object(old_spec.clone());
    let kept = cache.object(obj(
        "busybox",
        221,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    // A FIFO named as the old object's .sig, a socket as its .done.
    let fifo = cache.path(&old_spec.rel_path(".tar.zst.sig"));
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("running mkfifo");
    assert!(status.success());
    // (bound at a short path, then renamed: socket paths are short.)
    let sock_path = cache.path(&old_spec.rel_path(".tar.zst.done"));
    let short = cache.root().join("s");
    let _sock = std::os::unix::net::UnixListener::bind(&short).expect("binding a socket");
    fs::rename(&short, &sock_path).expect("moving the socket into the cache");
    // An orphan-looking FIFO alone: not an object at all.
    let lone = obj("zlib", 222, "configure", SIGINFO_ONLY, BASE);
    fs::create_dir_all(cache.path(&lone.rel_dir())).expect("dir");
    let lone_fifo = cache.path(&lone.rel_path(".tar.zst.siginfo"));
    std::process::Command::new("mkfifo")
        .arg(&lone_fifo)
        .status()
        .expect("running mkfifo");

    let run = cache.run(&["-d", "--remove-orphans", "-y"]);
    run.expect_code(0);
    assert_eq!(run.stdout_lines()[0], summary(2, 4));
    for p in [&fifo, &sock_path, &lone_fifo] {
        assert!(fs::symlink_metadata(p).is_ok(), "{} survives", p.display());
    }
    assert!(!old.iter().any(|p| cache.path(p).exists()));
    for p in &kept {
        assert!(cache.path(p).exists());
    }
}

// ---------------------------------------------------------------------------
// -L: the targets of symlink entries

/// A selected object whose archive is a symlink into a local mirror, and
/// the newest object of its group. Returns (cache, link, target, kept).
fn linked(seed: u64, target_name_same: bool) -> (Cache, String, std::path::PathBuf, Vec<String>) {
    let cache = Cache::new();
    let spec = obj("busybox", seed, "populate_sysroot", ARCHIVE_SIGINFO, BASE);
    let archive_rel = spec.rel_path(".tar.zst");
    let name = if target_name_same {
        archive_rel.clone()
    } else {
        format!("{}.renamed", archive_rel)
    };
    let target = cache.outside(&format!("mirror/{name}"));
    fs::create_dir_all(target.parent().expect("a parent")).expect("mirror dir");
    fs::write(&target, b"the mirror's archive").expect("mirror file");
    set_mtime(&target, BASE + 50);
    cache.symlink(&archive_rel, &target, BASE);
    cache.object(ObjectSpec {
        exts: SIGINFO_ONLY,
        ..spec
    });
    let kept = cache.object(obj(
        "busybox",
        seed + 1,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    (cache, archive_rel, target, kept)
}

#[test]
fn follow_symlink_removes_a_target_with_the_same_name() {
    let (cache, link, target, kept) = linked(230, true);
    let run = cache.run(&["-d", "-L", "-n", "-D"]);
    run.expect_code(0);
    assert!(
        run.stdout_lines()
            .contains(&target.display().to_string().as_str()),
        "-D lists the target: {}",
        run.stdout
    );
    let run = cache.run(&["-d", "-L", "-y"]);
    run.expect_code(0);
    assert!(
        fs::symlink_metadata(cache.path(&link)).is_err(),
        "link gone"
    );
    assert!(!target.exists(), "target gone");
    assert_eq!(cache.files(), sorted([kept]));
    let rows =
        cache.index_query("SELECT outcome FROM removal WHERE outcome = 'removed:link-target'");
    assert_eq!(rows.len(), 1);
}

#[test]
fn follow_symlink_keeps_a_target_with_another_name() {
    let (cache, link, target, _) = linked(232, false);
    let run = cache.run(&["-d", "-L", "-y"]);
    run.expect_code(0);
    assert!(
        fs::symlink_metadata(cache.path(&link)).is_err(),
        "link gone"
    );
    assert!(
        target.exists(),
        "a target named otherwise is not the object"
    );
}

#[test]
fn follow_symlink_target_used_while_the_prompt_waits_keeps_the_object() {
    let (cache, link, target, _) = linked(234, true);
    let mut child = cache.spawn(&["-d", "-L"]);
    assert_eq!(child.wait_for_prompt(), vec![summary(2, 4)]);
    // A build restores through the link: touch follows it to the target.
    set_mtime(&target, now_secs());
    let run = child.answer("y\n");
    run.expect_code(0);
    assert_removed_line(run.stdout_lines()[0], 0, 2, 0, 0);
    assert!(fs::symlink_metadata(cache.path(&link)).is_ok(), "link kept");
    assert!(target.exists(), "target kept");
}

// ---------------------------------------------------------------------------
// An archive left taken aside by a kill between its rename and its unlink

#[test]
fn archive_left_taken_aside_by_an_interrupted_removal_is_put_back() {
    let cache = Cache::new();
    let spec = obj(
        "busybox",
        240,
        "populate_sysroot",
        ARCHIVE_SIGINFO_SIG,
        BASE,
    );
    let files = cache.object(spec.clone());
    let archive = spec.rel_path(".tar.zst");
    let aside = format!("{archive}.sscm-removing");
    fs::rename(cache.path(&archive), cache.path(&aside)).expect("taking it aside");
    // A dry run says so (and, not holding the cache, changes nothing).
    let run = cache.run(&["--remove-orphans", "-n"]);
    run.expect_code(0);
    assert!(run.stderr.contains("taken aside"), "{}", run.stderr);
    assert!(cache.path(&aside).exists());
    // A removal run puts it back first: the object is whole, no orphan.
    let run = cache.run(&["--remove-orphans", "-y"]);
    run.expect_code(0);
    assert!(run.stderr.contains("put back 1"), "{}", run.stderr);
    assert_eq!(run.stdout_lines()[0], summary(0, 3));
    assert_eq!(cache.files(), sorted([files]));
}

#[test]
fn long_named_archive_left_taken_aside_is_put_back_too() {
    let cache = Cache::new();
    // A name near the limit (its .siginfo must still fit 255 bytes): the aside
    // name cannot just add a suffix.
    let pv: &'static str = Box::leak("9".repeat(105).into_boxed_str());
    let spec = ObjectSpec {
        pv,
        ..obj("busybox", 241, "populate_sysroot", ARCHIVE_SIGINFO, BASE)
    };
    let name_len = spec.stem().len() + ".tar.zst".len();
    assert!(
        name_len > 255 - ".sscm-removing".len() && name_len + 8 <= 255,
        "{name_len}"
    );
    let files = cache.object(spec.clone());
    // Take it aside as the removal does for long names.
    let archive = spec.rel_path(".tar.zst");
    let name = archive.rsplit('/').next().expect("a name").to_string();
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let aside = format!("{}/.sscm-removing-{hash:016x}", spec.rel_dir());
    fs::rename(cache.path(&archive), cache.path(&aside)).expect("taking it aside");
    let run = cache.run(&["--remove-orphans", "-y"]);
    run.expect_code(0);
    assert!(run.stderr.contains("put back 1"), "{}", run.stderr);
    assert_eq!(cache.files(), sorted([files]));
}
