//! What a person and a script see (issue 10): the reference tool's lines on
//! stdout, byte for byte, whatever else is shown; progress and colour only
//! on a terminal (never with `NO_COLOR`, `-q` or `--format json`); the line
//! with what a cleanup frees; option prefixes as argparse takes them; hints
//! for a bare path, an empty cache dir and a stamps dir above several
//! builds. Terminals are pseudo-terminals made here.

use crate::common::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

/// A cache with one `-d` group of two objects (archives of known sizes) and
/// one orphan: a siginfo whose archive is gone.
struct Sized {
    cache: Cache,
    /// The older object of the group: what `-d` selects.
    old: Vec<String>,
    /// The newer one: what `-d` keeps.
    new: Vec<String>,
    orphan: Vec<String>,
}

fn sized_cache() -> Sized {
    let cache = Cache::new();
    let old = cache.object(ObjectSpec {
        archive_len: 300_000,
        ..obj("busybox", 1010, "populate_sysroot", ARCHIVE_SIGINFO, BASE)
    });
    let new = cache.object(ObjectSpec {
        archive_len: 200_000,
        ..obj(
            "busybox",
            1011,
            "populate_sysroot",
            ARCHIVE_SIGINFO,
            BASE + 100,
        )
    });
    let orphan = cache.object(obj(
        "zlib",
        1012,
        "package_write_ipk",
        SIGINFO_ONLY,
        BASE + 50,
    ));
    Sized {
        cache,
        old,
        new,
        orphan,
    }
}

/// `du -h`-like sizes, as the tool prints them (written out here, not
/// taken from the crate, so that a change there shows).
fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let (mut v, mut u) = (bytes as f64, 0);
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// The CSI sequences that set colours or attributes (`ESC [ … m`).
fn sgr_sequences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        let tail = &rest[i + 2..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(tail.len());
        if tail[end..].starts_with('m') {
            out.push(format!("ESC[{}m", &tail[..end]));
        }
        rest = &tail[end..];
    }
    out
}

/// The command with an environment that would allow colour on a terminal:
/// `TERM` set, nothing that forces or forbids colour.
fn colourable(cache: &Cache, args: &[&str]) -> Command {
    let mut cmd = cache.command(&cache.args(args));
    cmd.env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE");
    cmd
}

fn run_piped(mut cmd: Command) -> Run {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What a run on a pseudo-terminal gave: `terminal` is what it wrote to the
/// terminal (stderr, and stdout when `stdout_on_terminal`), `stdout` what
/// went to the pipe otherwise.
struct TermRun {
    code: i32,
    terminal: String,
    stdout: String,
}

/// Run `cmd` with stderr (and stdout if asked) on a new pseudo-terminal of
/// 120 columns. None when this system cannot make one (then the caller
/// skips: said on stderr).
fn run_on_terminal(mut cmd: Command, stdout_on_terminal: bool) -> Option<TermRun> {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = match openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("no pseudo-terminal here ({e}): skipping");
            return None;
        }
    };
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let size = rustix::termios::Winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, size).expect("setting the terminal size");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("pty name is UTF-8"))
        .expect("opening the pty's slave side");
    let slave = OwnedFd::from(slave);
    if stdout_on_terminal {
        cmd.stdout(Stdio::from(slave.try_clone().expect("dup of the pty")));
    } else {
        cmd.stdout(Stdio::piped());
    }
    cmd.stderr(Stdio::from(slave)).stdin(Stdio::null());
    let mut child = cmd.spawn().expect("starting the binary");
    drop(cmd); // closes this process's copies of the slave side
    let mut reader = std::fs::File::from(master);
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        // Ends with EIO (Linux) or 0 once the child's side is closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .expect("reading the binary's stdout");
    }
    let status = child.wait().expect("waiting for the binary");
    let terminal = drain.join().expect("the pty reader");
    Some(TermRun {
        code: status.code().unwrap_or(-1),
        terminal: String::from_utf8_lossy(&terminal).into_owned(),
        stdout,
    })
}

#[test]
fn pipes_get_no_progress_and_no_colour() {
    let s = sized_cache();
    let run = run_piped(colourable(&s.cache, &["-d", "--remove-orphans", "-n"]));
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(3, 5)));
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains('\x1b'),
            "escape sequence on {what}: {text:?}"
        );
    }
    for word in ["Scanning", "Planning", "Removing"] {
        assert!(
            !run.stderr.contains(word),
            "progress on a pipe: {}",
            run.stderr
        );
    }
    // A removal too: no bar, no colour, the files gone.
    let run = run_piped(colourable(&s.cache, &["-d", "-y"]));
    run.expect_code(0);
    assert!(!run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'));
    assert!(!run.stderr.contains("Removing"), "{}", run.stderr);
    assert!(!s.cache.files().iter().any(|f| s.old.contains(f)));
}

#[test]
fn a_terminal_gets_progress_and_colour_with_the_same_lines() {
    let s = sized_cache();
    let Some(run) = run_on_terminal(colourable(&s.cache, &["-d", "-n"]), true) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    assert!(
        run.terminal.contains("Scanning"),
        "no scan progress on a terminal: {:?}",
        run.terminal
    );
    assert!(
        !sgr_sequences(&run.terminal).is_empty(),
        "no colour on a terminal: {:?}",
        run.terminal
    );
    // The reference line is there, only emphasised.
    assert!(run.terminal.contains(&summary(2, 5)), "{:?}", run.terminal);

    // A removal shows its own bar.
    let Some(run) = run_on_terminal(colourable(&s.cache, &["-d", "-y"]), true) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    assert!(run.terminal.contains("Removing"), "{:?}", run.terminal);
    assert_removed_line(
        run.terminal
            .lines()
            .rev()
            .find(|l| l.contains("Removed "))
            .map(|l| l[l.find("Removed ").unwrap_or(0)..].trim_end_matches('\r'))
            .unwrap_or(""),
        2,
        0,
        0,
        0,
    );
}

#[test]
fn no_color_keeps_a_terminal_plain() {
    let s = sized_cache();
    let mut cmd = colourable(
        &s.cache,
        &["-d", "--remove-orphans", "-n", "--extra-archs", "x"],
    );
    cmd.env("NO_COLOR", "1");
    let Some(run) = run_on_terminal(cmd, true) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    assert_eq!(
        sgr_sequences(&run.terminal),
        Vec::<String>::new(),
        "{:?}",
        run.terminal
    );
    // Still a terminal: the warning and the summary are there, uncoloured.
    assert!(
        run.terminal.contains("warning: --extra-archs"),
        "{:?}",
        run.terminal
    );
    assert!(run.terminal.contains(&summary(3, 5)), "{:?}", run.terminal);
}

#[test]
fn quiet_and_json_show_no_progress_on_a_terminal() {
    let s = sized_cache();
    // -q: stdout exactly the reference line; the terminal only that.
    let Some(run) = run_on_terminal(colourable(&s.cache, &["-d", "-n", "-q"]), false) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    assert_eq!(run.stdout, format!("{}\n", summary(2, 5)));
    assert_eq!(run.terminal, "", "-q printed on stderr");

    // --format json: a document on stdout, no progress on the terminal.
    let Some(run) = run_on_terminal(
        colourable(&s.cache, &["-d", "-n", "--format", "json"]),
        false,
    ) else {
        return;
    };
    assert_eq!(run.code, 0, "{}", run.terminal);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(doc["plan"]["files"], 2);
    assert!(!run.terminal.contains("Scanning"), "{:?}", run.terminal);
}

#[test]
fn quiet_leaves_only_the_reference_lines() {
    let cache = Cache::new();
    // An empty cache warns; -q hides that and the line after the summary.
    let run = cache.run(&["-d", "-n", "-q"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(0, 0)));
    assert_eq!(run.stderr, "");
    let s = sized_cache();
    let run = s.cache.run(&["-d", "-n", "--quiet"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(2, 5)));
    assert_eq!(run.stderr, "");
    // Errors still show, with their exit code.
    let run = s
        .cache
        .run(&["-q", "--stamps-dir", "/nonexistent-stamps", "-n"]);
    run.expect_code(1);
    assert!(run.stderr.contains("error:"), "{}", run.stderr);
}

#[test]
fn the_line_after_the_summary_tells_what_goes_and_what_stays() {
    let s = sized_cache();
    let all: Vec<String> = [&s.old[..], &s.new, &s.orphan].concat();
    let total = s.cache.disk_bytes(&all);
    let dup = s.cache.disk_bytes(&s.old);
    let orph = s.cache.disk_bytes(&s.orphan);
    assert!(dup > 290_000, "the archive takes its size on disk");

    let run = s.cache.run(&["-d", "--remove-orphans", "-n"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(3, 5)));
    let expected = format!(
        "Frees {} in 2 objects; the cache goes from {} to {} (duplicates: 2 files, {}; orphans: 1 file, {}).",
        human(dup + orph),
        human(total),
        human(total - dup - orph),
        human(dup),
        human(orph)
    );
    assert!(
        run.stderr.lines().any(|l| l == expected),
        "expected `{expected}` on stderr:\n{}",
        run.stderr
    );

    // One policy, then the same figures once removed for real.
    let run = s.cache.run(&["-d", "-y"]);
    run.expect_code(0);
    let expected = format!(
        "Frees {} in 1 object; the cache goes from {} to {} (duplicates: 2 files, {}).",
        human(dup),
        human(total),
        human(total - dup),
        human(dup)
    );
    assert!(
        run.stderr.lines().any(|l| l == expected),
        "expected `{expected}`:\n{}",
        run.stderr
    );
    assert_eq!(
        s.cache.files(),
        sorted([s.new.clone(), s.orphan.clone()]),
        "-d removed the older object only"
    );
    // Nothing left to do.
    let run = s.cache.run(&["-d", "-n"]);
    run.expect_code(0);
    let left = s.cache.disk_bytes(&[&s.new[..], &s.orphan].concat());
    assert!(
        run.stderr
            .lines()
            .any(|l| l == format!("Frees nothing; the cache stays at {}.", human(left))),
        "{}",
        run.stderr
    );
}

#[test]
fn verbose_tells_which_object_of_a_group_stays_and_why() {
    let s = sized_cache();
    let run = s.cache.run(&["-d", "-n", "-v"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(2, 5)));
    let kept_stem = s.new[0].trim_end_matches(".tar.zst");
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("keeps ") && l.contains(kept_stem))
        .unwrap_or_else(|| panic!("no line about the kept object:\n{}", run.stderr));
    assert!(line.contains("newest archive"), "{line}");
    assert!(line.contains("1 of 2 objects of its group go"), "{line}");
    let old_stem = s.old[0].trim_end_matches(".tar.zst");
    assert!(
        !run.stderr.contains(&format!("keeps {old_stem}")),
        "{}",
        run.stderr
    );
}

#[test]
fn unambiguous_prefixes_of_long_options_work_as_with_argparse() {
    let s = sized_cache();
    let dir = format!("--cache={}", s.cache.dir.display());
    let index = format!("--ind={}", s.cache.index.display());
    let run = s.cache.run_raw(
        &[&dir, &index, "--remove-dup", "--remove-orph", "--dry"],
        None,
    );
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(3, 5)));
    // Ambiguous (--remove-duplicated or --remove-orphans): a usage error.
    let run = s.cache.run_raw(&[&dir, &index, "--remove", "-n"], None);
    run.expect_code(2);
    assert!(!run.stdout.contains("will be removed"), "{}", run.stdout);
    // And a removal through prefixes only.
    let run = s
        .cache
        .run_raw(&[&dir, &index, "--remove-dup", "--ye"], None);
    run.expect_code(0);
    assert_eq!(s.cache.files(), sorted([s.new.clone(), s.orphan.clone()]));
}

#[test]
fn a_bare_path_gets_a_cache_dir_hint() {
    let s = sized_cache();
    let before = s.cache.files();
    let dir = s.cache.dir.to_str().expect("UTF-8 temp path");
    for args in [&[dir, "-d", "-y"][..], &["-d", dir, "-y"], &[dir]] {
        let run = s.cache.run_raw(args, None);
        run.expect_code(2);
        assert!(
            run.stderr
                .contains(&format!("did you mean --cache-dir {dir}?")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("unrecognized subcommand"),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(s.cache.files(), before, "{args:?} removed something");
    }
    // A word that is no path is still clap's own error.
    let run = s.cache.run_raw(&["scna"], None);
    run.expect_code(2);
    assert!(
        !run.stderr.contains("did you mean --cache-dir"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_cache_dir_without_entries_gets_a_hint() {
    let cache = Cache::new();
    let run = cache.run(&["-d", "-n"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("{}\n", summary(0, 0)));
    assert!(
        run.stderr.contains("holds no sstate entries (it is empty)"),
        "{}",
        run.stderr
    );
    // A build's TMPDIR given by mistake: files, but no entry.
    cache.file("deploy/images/core-image-minimal.wic", b"image");
    cache.file("README", b"not an sstate cache");
    let run = cache.sub("scan", &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("holds no sstate entries")
            && run.stderr.contains("2 other items at its top"),
        "{}",
        run.stderr
    );
    // A cache with entries: no hint.
    let s = sized_cache();
    let run = s.cache.run(&["-d", "-n"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("no sstate entries"), "{}", run.stderr);
}

#[test]
fn a_stamps_dir_above_several_builds_gets_a_warning() {
    let s = sized_cache();
    let stamp = |stem: &str| {
        let hash = stem.rsplit(':').next().expect("a stem");
        let (hash, task) = hash.split_once('_').expect("HASH_TASK");
        format!("core2-64-poky-linux/busybox/1.36.1-r0.do_{task}_setscene.{hash}")
    };
    let new_stem = s.new[0].rsplit('/').next().expect("file name");
    let rel = stamp(new_stem.trim_end_matches(".tar.zst"));
    s.cache
        .stamps("builds/a/tmp/stamps", std::slice::from_ref(&rel));
    s.cache
        .stamps("builds/b/tmp/stamps", std::slice::from_ref(&rel));
    let parent = s.cache.outside("builds");
    let parent = parent.to_str().expect("UTF-8");
    let run = s.cache.run(&["--stamps-dir", parent, "-n"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!("--stamps-dir {parent}"))
            && run.stderr.contains("several builds"),
        "{}",
        run.stderr
    );
    // The build's own STAMPS_DIR: no warning, and the same plan.
    let one = s.cache.outside("builds/a/tmp/stamps");
    let run2 = s
        .cache
        .run(&["--stamps-dir", one.to_str().expect("UTF-8"), "-n"]);
    run2.expect_code(0);
    assert!(!run2.stderr.contains("several builds"), "{}", run2.stderr);
    assert_eq!(run.stdout, run2.stdout);
    assert_eq!(run.stdout, format!("{}\n", summary(3, 5)));
}

/// `-j` defaults to the reference's 8 on a local disk (32 only on a network
/// file system) and an explicit `-j` wins; `-v` says how many threads run.
#[test]
fn jobs_default_to_8_on_a_local_disk_and_an_explicit_j_wins() {
    let s = sized_cache();
    let run = s.cache.run(&["-d", "-n", "-v"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("; 8 threads)"),
        "default -j on a local disk:\n{}",
        run.stderr
    );
    let run = s.cache.run(&["-d", "-n", "-v", "-j", "3"]);
    run.expect_code(0);
    assert!(run.stderr.contains("; 3 threads)"), "-j 3:\n{}", run.stderr);
}

/// Global options may come before a subcommand, as after it:
/// `--cache-dir X --index I query …` is `query --cache-dir X --index I …`;
/// a cleanup option before a subcommand is still an error.
#[test]
fn global_options_before_a_subcommand_work_as_after_it() {
    let s = sized_cache();
    let sql = "SELECT count(*) AS n FROM objects";
    let before = s.cache.run(&["query", "--format", "csv", sql]);
    before.expect_code(0);
    assert_eq!(before.stdout, "n\n3\n", "three objects: {}", before.stderr);
    let run = s.cache.run(&["-j", "2", "scan"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("Scanned "), "{}", run.stdout);
    // (Cache::run puts --cache-dir and --index first, before the subcommand.)
    let prefixed = s.cache.run_raw(
        &[
            &format!("--cache={}", s.cache.dir.display()),
            "--index",
            s.cache.index.to_str().expect("temp path is UTF-8"),
            "query",
            "--format",
            "csv",
            sql,
        ],
        None,
    );
    prefixed.expect_code(0);
    assert_eq!(prefixed.stdout, "n\n3\n");
    let mixed = s.cache.run(&["-d", "report"]);
    mixed.expect_code(2);
    assert!(
        mixed.stderr.contains("cannot be used with"),
        "{}",
        mixed.stderr
    );
}
