//! One writer at a time: concurrent runs wait for each other (or give up
//! with a message naming the holder), readers never wait, and creating an
//! index is race-free.

use crate::common::*;

fn dup_cache() -> (Cache, Vec<String>) {
    let cache = Cache::new();
    let old = cache.object(obj(
        "busybox",
        300,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE,
    ));
    cache.object(obj(
        "busybox",
        301,
        "populate_sysroot",
        ARCHIVE_SIGINFO,
        BASE + 100,
    ));
    (cache, old)
}

#[test]
fn a_second_cleanup_waits_then_names_the_holder_and_exits_75() {
    let (cache, old) = dup_cache();
    let mut first = cache.spawn(&["-d"]);
    assert_eq!(first.wait_for_prompt(), vec![summary(2, 4)]);
    // The first run holds the index and the cache while its prompt waits.
    let t = std::time::Instant::now();
    let second = cache.run(&["-d", "-y", "--wait", "1"]);
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(1),
        "it waited"
    );
    assert_eq!(second.code, 75, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another sstate-cache-management run holds"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("pid "),
        "names the pid: {}",
        second.stderr
    );
    assert!(
        second.stderr.contains("-d"),
        "names the command: {}",
        second.stderr
    );
    assert!(
        second.stderr.contains("--wait"),
        "says what to do: {}",
        second.stderr
    );
    // A second host with its own index on the same cache is kept out by
    // the lock in the cache dir.
    let other_index = cache.outside("other.sqlite");
    let other = cache.run_with_index(&other_index, &["-d", "-y", "--wait", "0"]);
    assert_eq!(other.code, 75, "{}", other.stderr);
    assert!(
        other.stderr.contains(".sstate-cache-management/lock"),
        "{}",
        other.stderr
    );
    // A dry run with another index does not need the cache's lock.
    let dry = cache.run_raw(
        &[
            "--cache-dir",
            cache.dir.to_str().expect("UTF-8"),
            "--index",
            other_index.to_str().expect("UTF-8"),
            "-d",
            "-n",
        ],
        None,
    );
    dry.expect_code(0);
    // Readers never wait.
    let report = cache.sub("report", &["--format", "json"]);
    report.expect_code(0);
    assert!(
        report.stderr.contains("as of its last scan"),
        "{}",
        report.stderr
    );
    let query = cache.sub("query", &["SELECT count(*) AS n FROM entries"]);
    query.expect_code(0);
    assert!(query.stdout.contains('4'), "{}", query.stdout);

    let done = first.answer("y\n");
    done.expect_code(0);
    assert!(!old.iter().any(|p| cache.path(p).exists()));
    // And once it is done, the next one goes ahead.
    cache.run(&["-d", "-y", "--wait", "0"]).expect_code(0);
}

#[test]
fn a_second_cleanup_that_waits_long_enough_goes_ahead() {
    let (cache, old) = dup_cache();
    let mut first = cache.spawn(&["-d"]);
    first.wait_for_prompt();
    let dir = cache.dir.clone();
    let index = cache.index.clone();
    let mut cmd = cache.command(&[
        "--cache-dir",
        dir.to_str().expect("UTF-8"),
        "--index",
        index.to_str().expect("UTF-8"),
        "-d",
        "-y",
        "--wait",
        "30",
    ]);
    let second = std::thread::spawn(move || cmd.output().expect("running the second cleanup"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    first.answer("y\n").expect_code(0);
    let out = second.join().expect("second cleanup thread");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some(summary(0, 2).as_str()),
        "{stdout}"
    );
    assert!(!old.iter().any(|p| cache.path(p).exists()));
}

#[test]
fn first_runs_racing_to_create_the_index_both_succeed() {
    for _ in 0..5 {
        let (cache, _) = dup_cache();
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let mut cmd = cache.command(&cache.args(&["-d", "-n"]));
                std::thread::spawn(move || cmd.output().expect("running a cleanup"))
            })
            .collect();
        for r in runs {
            let out = r.join().expect("a cleanup thread");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), summary(2, 4));
        }
        assert_eq!(
            cache.index_query("SELECT count(*) FROM scan WHERE mode = 'cold'"),
            vec![vec!["1".to_string()]],
            "exactly one built it"
        );
    }
}
