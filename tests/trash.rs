//! Staged deletion: --trash moves objects aside, `trash restore` brings
//! them back (never over a newer file), `trash empty` frees the space.

use crate::common::*;
use std::fs;

fn trashed_cache() -> (Cache, Vec<String>, Vec<String>, String) {
    let cache = Cache::new();
    let old = sorted([
        cache.object(obj(
            "busybox",
            400,
            "populate_sysroot",
            ARCHIVE_SIGINFO_SIG,
            BASE,
        )),
        cache.object(obj("zlib", 402, "package", ARCHIVE_SIGINFO, BASE)),
    ]);
    let kept = sorted([
        cache.object(obj(
            "busybox",
            401,
            "populate_sysroot",
            ARCHIVE_SIGINFO_SIG,
            BASE + 100,
        )),
        cache.object(obj("zlib", 403, "package", ARCHIVE_SIGINFO, BASE + 100)),
    ]);
    let run = cache.run(&["-d", "--trash", "-y"]);
    run.expect_code(0);
    let lines = run.stdout_lines();
    assert_eq!(lines[0], summary(5, 10));
    assert!(lines[1].starts_with("Moved 5 files ("), "{}", lines[1]);
    let name = lines[2]
        .strip_prefix("Undo with: sstate-cache-management trash restore ")
        .expect("the undo line")
        .to_string();
    (cache, old, kept, name)
}

fn trash_path(cache: &Cache, run: &str, rel: &str) -> std::path::PathBuf {
    cache
        .dir
        .join(".sstate-cache-management/trash")
        .join(run)
        .join(rel)
}

#[test]
fn trash_moves_objects_aside_keeping_layout_and_mtimes() {
    let (cache, old, kept, run) = trashed_cache();
    assert_eq!(cache.files(), kept);
    for rel in &old {
        let p = trash_path(&cache, &run, rel);
        let md = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            filetime::FileTime::from_last_modification_time(&md).unix_seconds(),
            BASE
        );
    }
    // The trash is not part of the cache: nothing more to do.
    let again = cache.run(&["-d", "-n"]);
    assert_eq!(again.stdout_lines(), vec![summary(0, 5)]);
    let outcomes = cache.index_query("SELECT DISTINCT outcome FROM removal");
    assert_eq!(outcomes, vec![vec!["trashed".to_string()]]);
    let runs = cache.index_query("SELECT trash_dir FROM runs WHERE confirmed");
    assert_eq!(
        runs,
        vec![vec![format!(".sstate-cache-management/trash/{run}")]]
    );
    let list = cache.sub("trash", &["list"]);
    list.expect_code(0);
    assert!(list.stdout.contains(&run), "{}", list.stdout);
    assert!(list.stdout.contains("5 files"), "{}", list.stdout);
    assert!(list.stdout.contains("duplicates"), "{}", list.stdout);
}

#[test]
fn trash_restore_brings_a_run_back() {
    let (cache, old, kept, run) = trashed_cache();
    // By a prefix of its name.
    let restore = cache.sub("trash", &["restore", &run[..15]]);
    restore.expect_code(0);
    assert!(
        restore.stdout.contains("Restored 5 files"),
        "{}",
        restore.stdout
    );
    assert_eq!(cache.files(), sorted([old.clone(), kept]));
    assert!(
        !cache
            .dir
            .join(".sstate-cache-management/trash")
            .join(&run)
            .exists()
    );
    // The index sees them again: the same plan as before the cleanup.
    let (listed, line) = crate::common::scenario::listing(&cache, &cache.index, &["-d"]);
    assert_eq!(line, summary(5, 10));
    let expect: Vec<String> = old
        .iter()
        .map(|r| cache.path(r).display().to_string())
        .collect();
    assert_eq!(listed, expect);
    let list = cache.sub("trash", &["list"]);
    assert!(list.stdout.contains("empty"), "{}", list.stdout);
}

#[test]
fn trash_restore_never_replaces_a_file_made_again_since() {
    let (cache, old, _, run) = trashed_cache();
    // A build made one of the files again meanwhile.
    let again = &old[0];
    cache.file(again, b"rebuilt");
    let restore = cache.sub("trash", &["restore", &run]);
    restore.expect_code(0);
    assert!(
        restore.stdout.contains("Restored 4 files"),
        "{}",
        restore.stdout
    );
    assert!(
        restore.stderr.contains("stays in the trash"),
        "{}",
        restore.stderr
    );
    assert_eq!(
        fs::read(cache.path(again)).expect("the new file"),
        b"rebuilt"
    );
    assert!(
        trash_path(&cache, &run, again).exists(),
        "the trashed copy is kept"
    );
}

#[test]
fn trash_empty_frees_the_space() {
    let (cache, _, _, run) = trashed_cache();
    let keep = cache.sub("trash", &["empty", "--older-than", "1d"]);
    keep.expect_code(0);
    assert!(keep.stdout.contains("Deleted 0 runs"), "{}", keep.stdout);
    assert!(
        cache
            .dir
            .join(".sstate-cache-management/trash")
            .join(&run)
            .exists()
    );
    let all = cache.sub("trash", &["empty"]);
    all.expect_code(0);
    assert!(
        all.stdout
            .contains("Deleted 1 runs from the trash: 5 files"),
        "{}",
        all.stdout
    );
    assert!(
        !cache
            .dir
            .join(".sstate-cache-management/trash")
            .join(&run)
            .exists()
    );
    let restore = cache.sub("trash", &["restore", &run]);
    assert_eq!(restore.code, 1);
    assert!(restore.stderr.contains("trash list"), "{}", restore.stderr);
}

#[test]
fn trash_commands_never_follow_a_symlinked_tool_dir_out_of_the_cache() {
    let cache = Cache::new();
    cache.object(obj(
        "busybox",
        410,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    // Someone replaced the tool dir with a symlink to precious data that
    // looks like a trash.
    let outside = cache.outside("precious");
    fs::create_dir_all(outside.join("trash/20260101T000000.000-1/keep")).expect("dirs");
    fs::write(
        outside.join("trash/20260101T000000.000-1/keep/file"),
        b"data",
    )
    .expect("file");
    std::os::unix::fs::symlink(&outside, cache.dir.join(".sstate-cache-management"))
        .expect("symlink");
    for args in [&["empty"][..], &["restore", "2026"][..], &["list"][..]] {
        let run = cache.sub("trash", args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("symlink"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(
        fs::read(outside.join("trash/20260101T000000.000-1/keep/file")).expect("still there"),
        b"data"
    );
    let run = cache.run(&["-d", "--trash", "-y"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}
