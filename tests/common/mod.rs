//! Test harness for the cleanup integration tests: builds real sstate caches
//! in temp dirs (real names, real mtimes, real zstd siginfo files) and runs
//! the real binary on them, always with `--index` and `XDG_CACHE_HOME` inside
//! the temp dir so that nothing outside it is ever touched.

#![allow(dead_code)] // each test crate uses a different part of the harness

pub mod s3;

use filetime::FileTime;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sstate-cache-management");

/// A fixed point in time (2023-11-14T22:13:20Z) that test mtimes are
/// relative to, so that every run sees the same ages.
pub const BASE: i64 = 1_700_000_000;

/// The prompt line, exactly as the reference tool prints it.
pub const PROMPT: &str = "Do you want to continue (y/n)?";

/// Archive plus task signature: what most tasks leave in the cache.
pub const ARCHIVE_SIGINFO: &[&str] = &[".tar.zst", ".tar.zst.siginfo"];
/// Archive, task signature and detached GPG signature.
pub const ARCHIVE_SIGINFO_SIG: &[&str] = &[".tar.zst", ".tar.zst.siginfo", ".tar.zst.sig"];
/// A task that produces no archive (fetch, configure, compile, ...).
pub const SIGINFO_ONLY: &[&str] = &[".tar.zst.siginfo"];

/// A 64-hex unihash derived from a small seed: deterministic, distinct for
/// distinct seeds, and spread over the `HH/hh` dirs like real hashes.
pub fn unihash(seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5353_434d;
    (0..4)
        .map(|_| {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:016x}", z ^ (z >> 31))
        })
        .collect()
}

/// One sstate object to write: the fields of its name, which entries it
/// has, and their mtime (Unix seconds).
#[derive(Debug, Clone)]
pub struct ObjectSpec<'a> {
    /// `""` for target recipes, e.g. `"universal"` for native ones.
    pub extrapath: &'a str,
    pub pn: &'a str,
    pub pkgtarget: &'a str,
    pub pv: &'a str,
    pub pr: &'a str,
    pub pkgarch: &'a str,
    pub ssver: &'a str,
    pub unihash: String,
    /// Without `do_`.
    pub task: &'a str,
    /// Extensions of the entries to write, e.g. [`ARCHIVE_SIGINFO`].
    pub exts: &'a [&'a str],
    /// mtime of every entry, Unix seconds.
    pub mtime: i64,
    /// Unihashes its siginfo names in `runtaskhashes` (its dependencies).
    pub deps: Vec<String>,
    /// Archive size in bytes (0: a small zstd frame).
    pub archive_len: usize,
}

impl Default for ObjectSpec<'_> {
    fn default() -> Self {
        ObjectSpec {
            extrapath: "",
            pn: "busybox",
            pkgtarget: "core2-64-poky-linux",
            pv: "1.36.1",
            pr: "r0",
            pkgarch: "core2-64",
            ssver: "14",
            unihash: unihash(0),
            task: "populate_sysroot",
            exts: ARCHIVE_SIGINFO,
            mtime: BASE,
            deps: Vec::new(),
            archive_len: 0,
        }
    }
}

impl ObjectSpec<'_> {
    /// `sstate:PN:PKGTARGET:PV:PR:PKGARCH:SSVER:UNIHASH_TASK`
    pub fn stem(&self) -> String {
        format!(
            "sstate:{}:{}:{}:{}:{}:{}:{}_{}",
            self.pn,
            self.pkgtarget,
            self.pv,
            self.pr,
            self.pkgarch,
            self.ssver,
            self.unihash,
            self.task
        )
    }

    /// `[EXTRAPATH/]HH/hh`, relative to the cache root.
    pub fn rel_dir(&self) -> String {
        let hh = format!("{}/{}", &self.unihash[0..2], &self.unihash[2..4]);
        if self.extrapath.is_empty() {
            hh
        } else {
            format!("{}/{hh}", self.extrapath)
        }
    }

    /// Relative path of the entry with extension `ext`.
    pub fn rel_path(&self, ext: &str) -> String {
        format!("{}/{}{ext}", self.rel_dir(), self.stem())
    }

    /// Relative paths of every entry of this object, in `exts` order.
    pub fn rel_paths(&self) -> Vec<String> {
        self.exts.iter().map(|e| self.rel_path(e)).collect()
    }
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Panics with both outputs unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `N out of M files will be removed!`, as the reference tool prints it.
pub fn summary(n: usize, m: usize) -> String {
    format!("{n} out of {m} files will be removed!")
}

/// The tail of the line printed after a confirmed removal (the size freed
/// depends on the file system's block size, so it is left out).
pub fn removed_tail(skipped_changed: usize, skipped_gone: usize, failed: usize) -> String {
    format!(
        "), skipped {} (changed since indexed: {skipped_changed}, already gone: {skipped_gone}), failed {failed}.",
        skipped_changed + skipped_gone
    )
}

/// Asserts that `line` is the after-removal report with these counts.
pub fn assert_removed_line(
    line: &str,
    removed: usize,
    skipped_changed: usize,
    skipped_gone: usize,
    failed: usize,
) {
    let head = format!("Removed {removed} files (");
    let tail = removed_tail(skipped_changed, skipped_gone, failed);
    assert!(
        line.starts_with(&head) && line.ends_with(&tail) && line.contains(" freed"),
        "expected `{head}… freed{tail}`, got `{line}`"
    );
}

/// A cache under construction in a temp dir, with its index, XDG cache
/// home and room for stamps dirs and "outside" files beside it.
pub struct Cache {
    tmp: TempDir,
    /// The cache dir (`--cache-dir`).
    pub dir: PathBuf,
    /// The index (`--index`).
    pub index: PathBuf,
    /// `XDG_CACHE_HOME` for the binary.
    pub xdg: PathBuf,
    /// Run the binary as this uid (and gid) if not 0: see
    /// [`Cache::unprivileged`].
    run_as: std::sync::atomic::AtomicU32,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl Cache {
    pub fn new() -> Cache {
        let tmp = tempfile::Builder::new()
            .prefix("sscm-test-")
            .tempdir()
            .expect("creating a temp dir for the test cache");
        let dir = tmp.path().join("sstate-cache");
        let xdg = tmp.path().join("xdg-cache");
        fs::create_dir(&dir).expect("creating the cache dir");
        fs::create_dir(&xdg).expect("creating the XDG cache dir");
        let index = tmp.path().join("index.sqlite");
        Cache {
            tmp,
            dir,
            index,
            xdg,
            run_as: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// From now on run the binary as an unprivileged user, so that
    /// permission tests mean the same as root (in CI) as for anyone: when
    /// the tests run as root, everything in the temp dir is handed to
    /// `nobody` (65534) and the binary runs as that user. Call it once the
    /// cache is built.
    pub fn unprivileged(&self) {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        const NOBODY: u32 = 65_534;
        fn hand_over(path: &Path) {
            std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            let md = fs::symlink_metadata(path).expect("lstat while handing over");
            if md.is_dir() {
                for item in fs::read_dir(path).expect("listing while handing over") {
                    hand_over(&item.expect("a dir entry").path());
                }
            }
        }
        hand_over(self.tmp.path());
        self.run_as
            .store(NOBODY, std::sync::atomic::Ordering::Relaxed);
    }

    /// The temp dir holding the cache, the index and everything else.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// A path beside the cache (not inside it).
    pub fn outside(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Absolute path of a cache entry given relative to the cache root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Write the entries of one object (siginfo as real zstd JSON, archive
    /// and others a few bytes) and set their mtimes. Returns their relative
    /// paths, in `spec.exts` order.
    pub fn object(&self, spec: ObjectSpec<'_>) -> Vec<String> {
        let dir = self.dir.join(spec.rel_dir());
        fs::create_dir_all(&dir).expect("creating the object's HH/hh dir");
        let mut rels = Vec::new();
        for ext in spec.exts {
            let rel = spec.rel_path(ext);
            let path = self.dir.join(&rel);
            let content = if ext.ends_with(".siginfo") {
                siginfo_bytes(&spec)
            } else if ext.ends_with(".sig") {
                b"-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n".to_vec()
            } else if ext.ends_with(".done") {
                Vec::new()
            } else if spec.archive_len > 0 {
                // Incompressible bytes, so that the size on disk is real.
                let mut state = spec.archive_len as u64 ^ 0x9e37_79b9;
                (0..spec.archive_len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect()
            } else {
                // A real-looking zstd frame with a little payload.
                zstd::encode_all(format!("archive of {}", spec.stem()).as_bytes(), 3)
                    .expect("zstd-compressing a fake archive")
            };
            fs::write(&path, content).expect("writing a cache entry");
            set_mtime(&path, spec.mtime);
            rels.push(rel);
        }
        rels
    }

    /// Write an arbitrary file (relative to the cache root) with an old mtime.
    pub fn file(&self, rel: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("creating a parent dir in the cache");
        }
        fs::write(&path, content).expect("writing a file in the cache");
        set_mtime(&path, BASE);
        path
    }

    /// Make a symlink at `rel` (relative to the cache root) pointing at
    /// `target`, with its own (lstat) mtime set to `mtime`.
    pub fn symlink(&self, rel: &str, target: &Path, mtime: i64) -> PathBuf {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("creating a parent dir in the cache");
        }
        std::os::unix::fs::symlink(target, &path).expect("creating a symlink in the cache");
        let t = FileTime::from_unix_time(mtime, 0);
        filetime::set_symlink_file_times(&path, t, t).expect("setting a symlink's own mtime");
        path
    }

    /// Create (empty) stamp files below a stamps dir beside the cache:
    /// `stamps_dir` is its name, `rels` are paths relative to it. Returns
    /// the stamps dir.
    pub fn stamps(&self, stamps_dir: &str, rels: &[String]) -> PathBuf {
        let base = self.tmp.path().join(stamps_dir);
        fs::create_dir_all(&base).expect("creating a stamps dir");
        for rel in rels {
            let path = base.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("creating a dir in a stamps dir");
            }
            fs::write(&path, b"").expect("writing a stamp");
        }
        base
    }

    /// Sorted relative paths of every file and symlink left in the cache
    /// (not counting the tool's own dir: its lock file and trash).
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_files(&self.dir, "", &mut out);
        out.retain(|p| !p.starts_with(".sstate-cache-management/"));
        out.sort();
        out
    }

    /// Set the mtime of every dir of the cache (its root included) 10 s in
    /// the past, out of the scanner's 2 s "list again" window, so that a
    /// second scan of an unchanged cache lists nothing.
    pub fn settle_dirs(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        settle(&self.dir, now - 10);
    }

    /// The command, with a clean environment for the cache location and
    /// `XDG_CACHE_HOME` in the temp dir. No `--cache-dir`/`--index` added.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        let uid = self.run_as.load(std::sync::atomic::Ordering::Relaxed);
        if uid != 0 {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(uid);
        }
        cmd.args(args)
            .env("XDG_CACHE_HOME", &self.xdg)
            .env_remove("SSTATE_CACHE_DIR")
            .env_remove("SSTATE_DIR")
            .env_remove("RUST_BACKTRACE");
        cmd
    }

    /// Run the binary with exactly `args`; stdin is `stdin` (or empty).
    pub fn run_raw(&self, args: &[&str], stdin: Option<&str>) -> Run {
        run_command(self.command(args), stdin)
    }

    /// `--cache-dir DIR --index INDEX` followed by `args`.
    pub fn args<'s>(&'s self, args: &[&'s str]) -> Vec<&'s str> {
        let mut all = vec![
            "--cache-dir",
            self.dir.to_str().expect("temp path is UTF-8"),
            "--index",
            self.index.to_str().expect("temp path is UTF-8"),
        ];
        all.extend_from_slice(args);
        all
    }

    /// Run on this cache with another index: `--cache-dir DIR --index
    /// INDEX` followed by `args`; stdin empty.
    pub fn run_with_index(&self, index: &std::path::Path, args: &[&str]) -> Run {
        let mut all = vec![
            "--cache-dir",
            self.dir.to_str().expect("temp path is UTF-8"),
            "--index",
            index.to_str().expect("temp path is UTF-8"),
        ];
        all.extend_from_slice(args);
        self.run_raw(&all, None)
    }

    /// Run a cleanup on this cache with its index; stdin empty.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_raw(&self.args(args), None)
    }

    /// Run a cleanup on this cache with its index, feeding `stdin`.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_raw(&self.args(args), Some(stdin))
    }

    /// Start a cleanup that will ask; use [`Prompted::wait_for_prompt`].
    pub fn spawn(&self, args: &[&str]) -> Prompted {
        Prompted::start(self.command(&self.args(args)))
    }

    /// Rows of `sql` run on the index (opened read-only), every value as
    /// text (`NULL` for null).
    pub fn index_query(&self, sql: &str) -> Vec<Vec<String>> {
        index_query(&self.index, sql)
    }
}

/// Copy the WAL the tool keeps beside the index into the index file
/// itself, for tests that read or damage the file's bytes.
pub fn checkpoint_index(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("opening the index");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpointing the index");
}

/// Rows of `sql` on the SQLite file at `db`, opened read-only.
pub fn index_query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("opening the index read-only");
    let mut stmt = conn.prepare(sql).expect("preparing a query on the index");
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => "NULL".to_string(),
                        ValueRef::Integer(v) => v.to_string(),
                        ValueRef::Real(v) => v.to_string(),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .expect("running a query on the index");
    rows.collect::<rusqlite::Result<_>>()
        .expect("reading query rows from the index")
}

/// A running cleanup waiting at (or on its way to) the prompt.
pub struct Prompted {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    seen: Vec<String>,
}

impl Prompted {
    /// Start `cmd` with piped stdin and stdout.
    pub fn start(mut cmd: Command) -> Prompted {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the binary");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Prompted {
            child,
            stdin: Some(stdin),
            stdout,
            seen: Vec::new(),
        }
    }

    /// Read stdout until the prompt line; returns the lines before it. No
    /// timing involved: the binary blocks on stdin once it has printed it.
    pub fn wait_for_prompt(&mut self) -> Vec<String> {
        loop {
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("reading the binary's stdout");
            if n == 0 {
                self.stdin.take();
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    e.read_to_string(&mut err)
                        .expect("reading the binary's stderr");
                }
                let status = self.child.wait().expect("waiting for the binary");
                panic!(
                    "the binary ended ({status}) without printing the prompt\n--- stdout\n{}\n--- stderr\n{err}",
                    self.seen.join("\n")
                );
            }
            let line = line.trim_end_matches('\n').to_string();
            if line == PROMPT {
                return self.seen.clone();
            }
            self.seen.push(line);
        }
    }

    /// Answer the prompt and collect the rest of the run. `stdout` holds
    /// what came after the prompt line.
    pub fn answer(mut self, answer: &str) -> Run {
        {
            let mut stdin = self.stdin.take().expect("stdin still open");
            stdin
                .write_all(answer.as_bytes())
                .expect("answering the prompt");
        } // closed here
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("reading the binary's stdout");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err)
                .expect("reading the binary's stderr");
        }
        let status = self.child.wait().expect("waiting for the binary");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: rest,
            stderr: err,
        }
    }
}

pub fn run_command(mut cmd: Command, stdin: Option<&str>) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting the binary");
    {
        let mut pipe = child.stdin.take().expect("piped stdin");
        if let Some(text) = stdin {
            // The binary may exit without reading (errors, -n, -y).
            let _ = pipe.write_all(text.as_bytes());
        }
    }
    let out = child.wait_with_output().expect("waiting for the binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The zstd-compressed JSON a siginfo holds (as BitBake's `dump_sigtask`
/// writes it, reduced to the keys that matter).
pub fn siginfo_bytes(spec: &ObjectSpec<'_>) -> Vec<u8> {
    let runtaskhashes: serde_json::Map<String, serde_json::Value> = spec
        .deps
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                format!("/layers/meta/recipes/dep{i}.bb:do_populate_sysroot"),
                serde_json::Value::String(h.clone()),
            )
        })
        .collect();
    let doc = serde_json::json!({
        "task": format!("do_{}", spec.task),
        "basehash_ignore_vars": [],
        "taskwhitelist": null,
        "taskdeps": [],
        "basehash": spec.unihash,
        "taskhash": spec.unihash,
        "unihash": spec.unihash,
        "runtaskhashes": runtaskhashes,
        "varvals": {"do_install": "    oe_runmake install\n"},
    });
    let json = serde_json::to_vec(&doc).expect("encoding siginfo JSON");
    zstd::encode_all(json.as_slice(), 3).expect("zstd-compressing a siginfo")
}

/// Set the mtime (and atime) of a file to `secs`.
pub fn set_mtime(path: &Path, secs: i64) {
    let t = FileTime::from_unix_time(secs, 0);
    filetime::set_file_times(path, t, t).expect("setting a file's mtime");
}

fn settle(dir: &Path, secs: i64) {
    for item in fs::read_dir(dir).expect("listing a cache dir to settle it") {
        let item = item.expect("reading a cache dir entry");
        if item
            .file_type()
            .expect("file type of a cache dir entry")
            .is_dir()
        {
            settle(&item.path(), secs);
        }
    }
    let t = FileTime::from_unix_time(secs, 0);
    filetime::set_file_times(dir, t, t).expect("setting a dir's mtime");
}

fn collect_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for item in fs::read_dir(dir).expect("listing a cache dir") {
        let item = item.expect("reading a cache dir entry");
        let name = item.file_name().into_string().expect("UTF-8 file name");
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if item
            .file_type()
            .expect("file type of a cache dir entry")
            .is_dir()
        {
            collect_files(&item.path(), &child, out);
        } else {
            out.push(child);
        }
    }
}

pub mod scenario;

use std::os::unix::fs::MetadataExt as _;

/// One entry as the index should hold it: path, size, mtime (seconds,
/// fractional), bytes on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub mtime: f64,
    pub disk_bytes: u64,
}

/// Every entry of the cache as the file system has it (lstat), by path.
pub fn disk_entries(cache: &Cache) -> Vec<Entry> {
    cache
        .files()
        .into_iter()
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("sstate:") && !n.ends_with(".sscm-removing"))
        })
        .map(|path| {
            let md = std::fs::symlink_metadata(cache.path(&path)).expect("lstat of a cache file");
            Entry {
                size: md.size(),
                mtime: md.mtime() as f64 + md.mtime_nsec() as f64 / 1e9,
                disk_bytes: md.blocks() * 512,
                path,
            }
        })
        .collect()
}

/// Every entry the index holds, through the public `entries` view.
pub fn index_entries(cache: &Cache) -> Vec<Entry> {
    cache
        .index_query("SELECT path, size, mtime, disk_bytes FROM entries ORDER BY path")
        .into_iter()
        .map(|r| Entry {
            path: r[0].clone(),
            size: r[1].parse().expect("size is an integer"),
            mtime: r[2].parse().expect("mtime is a number"),
            disk_bytes: r[3].parse().expect("disk_bytes is an integer"),
        })
        .collect()
}

/// The index holds exactly the entries on disk, with their size, mtime
/// and bytes on disk.
#[track_caller]
pub fn assert_index_matches_disk(cache: &Cache) {
    let disk = disk_entries(cache);
    let index = index_entries(cache);
    let paths = |v: &[Entry]| v.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&index), paths(&disk), "paths in the index vs on disk");
    for (i, d) in index.iter().zip(&disk) {
        assert_eq!(i.size, d.size, "size of {}", d.path);
        assert_eq!(i.disk_bytes, d.disk_bytes, "disk bytes of {}", d.path);
        assert!(
            (i.mtime - d.mtime).abs() < 1e-6,
            "mtime of {}: index {} vs disk {}",
            d.path,
            i.mtime,
            d.mtime
        );
    }
}

/// Assert two path lists are equal, printing only what differs.
#[track_caller]
pub fn assert_same_paths(left: &[String], right: &[String], what: &str) {
    if left == right {
        return;
    }
    let l: BTreeSet<&String> = left.iter().collect();
    let r: BTreeSet<&String> = right.iter().collect();
    let only_l: Vec<&&String> = l.difference(&r).collect();
    let only_r: Vec<&&String> = r.difference(&l).collect();
    panic!(
        "{what}: {} vs {} paths\n--- only in the first ({}):\n{}\n--- only in the second ({}):\n{}",
        left.len(),
        right.len(),
        only_l.len(),
        only_l
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        only_r.len(),
        only_r
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

/// Sorted union of several lists of relative paths.
pub fn sorted<I, S>(lists: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: IntoIterator<Item = String>,
{
    lists
        .into_iter()
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `all` minus `removed`, sorted.
pub fn without(all: &[String], removed: &[String]) -> Vec<String> {
    let gone: BTreeSet<&String> = removed.iter().collect();
    let mut left: Vec<String> = all.iter().filter(|p| !gone.contains(p)).cloned().collect();
    left.sort();
    left
}

// ---------------------------------------------------------------------------
// Helpers of the index, report and query tests (tests/index.rs,
// tests/report.rs).

/// A unihash that starts with `prefix` (lowercase hex) and goes on with
/// [`unihash`]`(seed)`: puts an object into a chosen `HH/hh` dir.
pub fn unihash_with_prefix(prefix: &str, seed: u64) -> String {
    assert!(
        prefix.len() <= 64 && prefix.chars().all(|c| c.is_ascii_hexdigit()),
        "a unihash prefix is lowercase hex: {prefix}"
    );
    format!("{prefix}{}", &unihash(seed)[prefix.len()..])
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

impl Cache {
    /// Sorted relative paths of every directory of the cache, `""` for its
    /// root.
    pub fn dirs(&self) -> Vec<String> {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
            out.push(rel.to_string());
            for item in fs::read_dir(dir).expect("listing a cache dir") {
                let item = item.expect("reading a cache dir entry");
                if item.file_type().expect("file type").is_dir() {
                    let name = item.file_name().into_string().expect("UTF-8 file name");
                    let child = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    walk(&item.path(), &child, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, "", &mut out);
        out.sort();
        out
    }

    /// Bytes on disk (`st_blocks * 512`, as `du` counts them) of the
    /// entries at `rels` (relative to the cache root), by `lstat`.
    pub fn disk_bytes(&self, rels: &[String]) -> u64 {
        use std::os::unix::fs::MetadataExt;
        rels.iter()
            .map(|rel| {
                fs::symlink_metadata(self.path(rel))
                    .unwrap_or_else(|e| panic!("lstat {rel}: {e}"))
                    .blocks()
                    * 512
            })
            .sum()
    }

    /// Run the subcommand `cmd` (`scan`, `report`, `query`) on this cache
    /// with its index: `cmd --cache-dir DIR --index INDEX args…`.
    pub fn sub(&self, cmd: &str, args: &[&str]) -> Run {
        let mut all = vec![cmd];
        all.extend(self.args(args));
        self.run_raw(&all, None)
    }
}

/// Expect exit code 0 and parse stdout as one JSON document.
pub fn stdout_json(run: &Run) -> serde_json::Value {
    run.expect_code(0);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        )
    })
}

/// A target object of `pn` with default fields, its hash from `seed`.
pub fn obj<'a>(
    pn: &'a str,
    seed: u64,
    task: &'a str,
    exts: &'a [&'a str],
    mtime: i64,
) -> ObjectSpec<'a> {
    ObjectSpec {
        pn,
        unihash: unihash(seed),
        task,
        exts,
        mtime,
        ..Default::default()
    }
}
