//! Interrupted and killed runs, and builds writing into the cache while
//! cleanups run. The loops run for a few seconds in CI; set
//! `SSCM_STRESS_SECS` to run them for longer.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn stress_secs(default: u64) -> u64 {
    std::env::var("SSCM_STRESS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` groups of two generations (the older one a duplicate), each object
/// an archive, a siginfo and a .sig; returns the cache and the old
/// objects' files by stem.
fn generations(n: u64, seed: u64) -> (Cache, Vec<Vec<String>>) {
    let cache = Cache::new();
    let mut old = Vec::new();
    for i in 0..n {
        let pn: &'static str = Box::leak(format!("recipe{i}").into_boxed_str());
        old.push(cache.object(obj(
            pn,
            seed + 2 * i,
            "populate_sysroot",
            ARCHIVE_SIGINFO_SIG,
            BASE,
        )));
        cache.object(obj(
            pn,
            seed + 2 * i + 1,
            "populate_sysroot",
            ARCHIVE_SIGINFO_SIG,
            BASE + 100,
        ));
    }
    cache.settle_dirs();
    (cache, old)
}

/// Objects (by stem, in their dir) of which some but not all entries are
/// on disk, among `objects`.
fn half_objects(cache: &Cache, objects: &[Vec<String>]) -> Vec<String> {
    objects
        .iter()
        .filter(|files| {
            let here = files.iter().filter(|p| cache.path(p).exists()).count();
            here > 0 && here < files.len()
        })
        .map(|files| files[0].clone())
        .collect()
}

#[test]
fn sigterm_during_removal_stops_at_an_object_boundary_and_is_recorded() {
    let mut tried = 0;
    loop {
        tried += 1;
        let (cache, old) = generations(1500 * tried, 10_000);
        let mut child = cache
            .command(&cache.args(&["-d", "-y", "-j", "1"]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the cleanup");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("reading the summary");
        assert!(first.contains("will be removed"), "{first}");
        // The removal starts right after the summary: stop it.
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::TERM,
        )
        .expect("sending SIGTERM");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).expect("reading stdout");
        let status = child.wait().expect("waiting");
        let gone = old
            .iter()
            .flatten()
            .filter(|p| !cache.path(p).exists())
            .count();
        if gone == old.len() * 3 && tried < 4 {
            continue; // it finished first: try with more to remove
        }
        assert_eq!(
            status.code(),
            Some(143),
            "exit code 128 + SIGTERM; stdout {rest}"
        );
        assert!(rest.contains("Interrupted"), "{rest}");
        assert!(gone < old.len() * 3, "stopped before the end");
        assert_eq!(
            half_objects(&cache, &old),
            Vec::<String>::new(),
            "never half an object"
        );
        let run = cache.index_query(
            "SELECT interrupted, removed_files FROM removal_run ORDER BY id DESC LIMIT 1",
        );
        assert_eq!(run, vec![vec!["1".to_string(), gone.to_string()]]);
        let recorded = cache.index_query("SELECT count(*) FROM removal WHERE outcome = 'removed'");
        assert_eq!(recorded, vec![vec![gone.to_string()]]);
        // The index knows what is gone; the next run finishes the job.
        cache.sub("scan", &[]).expect_code(0);
        assert_index_matches_disk(&cache);
        let again = cache.run(&["-d", "-y"]);
        again.expect_code(0);
        assert!(
            old.iter().flatten().all(|p| !cache.path(p).exists()),
            "{}",
            again.stdout
        );
        return;
    }
}

/// A new generation of every recipe, newer than everything so far: the
/// previous newest become duplicates. Returns its files.
fn add_generation(cache: &Cache, n: u64, round: u64) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for i in 0..n {
        let pn: &'static str = Box::leak(format!("recipe{i}").into_boxed_str());
        files.extend(cache.object(obj(
            pn,
            1_000_000 + round * 10_000 + i,
            "populate_sysroot",
            ARCHIVE_SIGINFO_SIG,
            BASE + 1000 + round as i64,
        )));
    }
    files
}

#[test]
fn kill_9_at_random_points_leaves_an_index_the_next_run_uses_correctly() {
    let n = 400;
    let (cache, _) = generations(n, 20_000);
    // How long one run and its removal take here: half of the kills are
    // spread over the whole run, half land during the removal (after its
    // first unlink, seen on disk).
    add_generation(&cache, n, 0);
    let t = Instant::now();
    let calib = stdout_json(&cache.run(&["-d", "-y", "-j", "1", "--format", "json"]));
    let span = t.elapsed().as_micros().max(1000) as u64;
    let removal = (calib["timings_ms"]["remove"].as_u64().unwrap_or(0) * 1000).max(1000);
    let deadline = Instant::now() + Duration::from_secs(stress_secs(6));
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut rounds = 0u64;
    let mut killed_in_removal = 0;
    while Instant::now() < deadline || rounds < 8 {
        rounds += 1;
        let newest = add_generation(&cache, n, rounds);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // What this round's -d removes: everything but the new generation.
        let doomed: Vec<std::path::PathBuf> = cache
            .files()
            .into_iter()
            .filter(|p| !newest.contains(p))
            .map(|p| cache.path(&p))
            .collect();
        let before = cache.files().len();
        let mut child = cache
            .command(&cache.args(&["-d", "-y", "-j", "1"]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the cleanup");
        let delay = if rounds.is_multiple_of(2) {
            std::thread::sleep(Duration::from_micros(rng % (span + span / 5)));
            None
        } else {
            // Wait for the first unlink (seen on a sample: stat-ing every
            // doomed file per poll would take longer than the removal),
            // then a random part of the removal.
            let sample: Vec<&std::path::PathBuf> =
                doomed.iter().step_by((doomed.len() / 64).max(1)).collect();
            let t = Instant::now();
            while sample.iter().all(|p| p.exists()) && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_micros(100));
            }
            let d = Duration::from_micros(rng % (removal / 2).max(1));
            std::thread::sleep(d);
            Some(d)
        };
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let after = cache.files().len();
        if after < before && after > before - 3 * n as usize {
            killed_in_removal += 1;
        }
        // Whatever the kill interrupted, the index plus the next scan is
        // the disk, and plans from it equal a fresh index's.
        let scan = cache.sub("scan", &[]);
        scan.expect_code(0);
        assert_index_matches_disk(&cache);
        let fresh = cache.outside(&format!("fresh-{rounds}.sqlite"));
        let (warm, _) = crate::common::scenario::listing(&cache, &cache.index, &["-d"]);
        let (cold, _) = crate::common::scenario::listing(&cache, &fresh, &["-d"]);
        assert_same_paths(
            &warm,
            &cold,
            &format!("round {rounds}, killed {delay:?} into the removal"),
        );
        let _ = fs::remove_file(&fresh);
    }
    eprintln!(
        "{rounds} rounds ({span} us runs, {removal} us removals), {killed_in_removal} killed during the removal"
    );
    assert!(killed_in_removal > 0, "no kill landed in a removal");
}

/// What the writer did to a path, and when (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Created,
    Touched,
    Deleted,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[test]
fn live_builds_writing_during_cleanups_lose_nothing_they_touch() {
    let n = 150;
    let (cache, _) = generations(n, 30_000);
    let cache = std::sync::Arc::new(cache);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The writer: what BitBake does. New objects (written to a temp name
    // and renamed into place), reuse of existing ones (archive, .sig and
    // .siginfo touched in place), and now and then a removal.
    let writer = {
        let (cache, stop) = (cache.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut log: Vec<(String, Op, i64)> = Vec::new();
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
            let mut next = 0u64;
            let mut files = Vec::new();
            let mut ops = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if ops.is_multiple_of(64) {
                    files = cache.files();
                }
                ops += 1;
                // Mostly reuse (touches), as builds do; some new objects,
                // a few removals.
                match [2, 2, 2, 2, 2, 0, 0, 3][(rng % 8) as usize] {
                    0 => {
                        next += 1;
                        let pn: &'static str =
                            Box::leak(format!("recipe{}", rng % n).into_boxed_str());
                        let spec =
                            obj(pn, 5_000_000 + next, "populate_sysroot", ARCHIVE_SIGINFO, 0);
                        // (mtimes are left as written: now, to the ns.)
                        let t = now_ns();
                        fs::create_dir_all(cache.path(&spec.rel_dir())).expect("dir");
                        for ext in spec.exts {
                            let rel = spec.rel_path(ext);
                            let tmp = cache.path(&format!("{rel}.tmpXyZ"));
                            fs::write(&tmp, b"being built").expect("temp file");
                            fs::rename(&tmp, cache.path(&rel)).expect("rename into place");
                            log.push((rel, Op::Created, t));
                        }
                    }
                    2 if !files.is_empty() => {
                        let f = &files[(rng >> 8) as usize % files.len()];
                        let t = now_ns();
                        if filetime::set_file_mtime(cache.path(f), filetime::FileTime::now())
                            .is_ok()
                        {
                            log.push((f.clone(), Op::Touched, t));
                        }
                    }
                    3 if !files.is_empty() => {
                        let f = &files[(rng >> 8) as usize % files.len()];
                        if fs::remove_file(cache.path(f)).is_ok() {
                            log.push((f.clone(), Op::Deleted, now_ns()));
                        }
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            log
        })
    };
    let deadline = Instant::now() + Duration::from_secs(stress_secs(5));
    let policies: &[&[&str]] = &[
        &["-d", "-y"],
        &["--remove-orphans", "-d", "-y"],
        &["--older-than", "1h", "-y"],
        &["--max-size", "64K", "-y"],
    ];
    let mut runs = Vec::new();
    let mut k = 0;
    while Instant::now() < deadline || k < policies.len() {
        let args = policies[k % policies.len()];
        k += 1;
        let started = now_ns();
        let run = cache.run(args);
        assert!(run.code == 0 || run.code == 1, "{args:?}: {}", run.stderr);
        runs.push(started);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let log = writer.join().expect("the writer thread");
    assert!(log.len() > 20, "the writer wrote: {}", log.len());

    // Every archive the writer created or touched (reused) after a
    // cleanup started, and did not delete itself, is still there. (An
    // object taken by a cleanup before the build reached it is not "used":
    // the build finds no archive and rebuilds, so its companions are
    // judged with the archive, by the half-object check below.)
    let first_start = runs[0];
    let mut last: BTreeMap<&str, (Op, i64)> = BTreeMap::new();
    for (path, op, t) in &log {
        last.insert(path.as_str(), (*op, *t));
    }
    let lost: Vec<&str> = last
        .iter()
        .filter(|(p, (op, t))| *op != Op::Deleted && *t >= first_start && p.ends_with(".tar.zst"))
        .map(|(p, _)| *p)
        .filter(|p| !cache.path(p).exists())
        .filter(|p| {
            // Removed by a cleanup that started before the writer's last
            // use of it? Only that would be a loss.
            let (_, t) = last[p];
            let removed_by = cache.index_query(&format!(
                "SELECT u.started_at FROM removal r JOIN removal_run u ON u.id = r.run_id
                 WHERE r.path = '{p}' AND r.outcome = 'removed'"
            ));
            // (started_at has ms precision: 5 ms of slack.)
            removed_by.iter().any(|row| {
                chrono::DateTime::parse_from_rfc3339(&row[0])
                    .map(|s| s.timestamp_nanos_opt().unwrap_or(0) + 5_000_000 <= t)
                    .unwrap_or(true)
            })
        })
        .collect();
    if let Some(p) = lost.first() {
        let ops: Vec<_> = log.iter().filter(|(q, _, _)| q == p).collect();
        let removed = cache.index_query(&format!(
            "SELECT r.run_id, u.started_at, u.finished_at, u.command, r.outcome FROM removal r
             JOIN removal_run u ON u.id = r.run_id WHERE r.path = '{p}'"
        ));
        panic!(
            "{} files used after a cleanup started were removed; first {p}\nwriter: {ops:?}\nremovals: {removed:?}",
            lost.len()
        );
    }

    // No cleanup left half an object behind: per run, an object's files
    // were all removed or none.
    let rows = cache.index_query(
        "SELECT run_id, substr(path, 1, instr(path, '.tar.zst') - 1), outcome FROM removal",
    );
    let mut by_object: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        let kind = if r[2] == "removed" || r[2] == "skipped:gone" {
            "went".to_string()
        } else {
            r[2].clone()
        };
        by_object
            .entry((r[0].clone(), r[1].clone()))
            .or_default()
            .insert(kind);
    }
    let halves: Vec<_> = by_object
        .iter()
        .filter(|(_, kinds)| kinds.contains("went") && kinds.len() > 1)
        .collect();
    assert!(halves.is_empty(), "half-removed objects: {halves:?}");
    eprintln!("{} cleanups, {} writer operations", runs.len(), log.len());
}
