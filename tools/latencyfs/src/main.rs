//! latencyfs: a FUSE passthrough that mirrors a directory and answers every
//! request a fixed delay after it arrived, to benchmark a client as if the
//! directory were on a network file system (NFS with `actimeo=0` by default:
//! the kernel caches no entries and no attributes, so every path walk, stat,
//! readdir, open, read and unlink reaches the daemon and waits the delay).
//!
//! ```text
//! latencyfs SOURCE MOUNTPOINT [--delay-us 300] [--attr-timeout 0] [--entry-timeout 0]
//!           [--threads 4] [--reply-threads 2] [--stats FILE]
//! ```
//!
//! Threading: `--threads` event loops (each with its own cloned /dev/fuse fd)
//! read requests and do the real work on the source at once (a few
//! microseconds of local syscalls); the reply is then queued with its due
//! time (arrival + delay) for `--reply-threads` threads that sleep until it
//! is due and send it. No thread sleeps per request, so any number of
//! requests wait out their delay at the same time, as on a server with
//! enough threads: what a parallel client gains is not capped by the daemon.
//!
//! Prints `ready` on stdout once mounted. SIGINT/SIGTERM/SIGHUP unmount and
//! exit; an external `fusermount3 -u` / `umount` ends it too. SIGUSR1 (and
//! the exit) writes per-operation request counts, the peak number of
//! requests in flight since the last dump and the daemon's CPU time to
//! `--stats FILE` (JSON, written atomically); the exit also prints them on
//! stderr.

use clap::Parser;
use crossbeam_channel::{Receiver, Sender};
use fuser::{
    AccessFlags, Config, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo,
    InitFlags, KernelConfig, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, Session, SessionACL, TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, Mode, OFlags, Stat, Timespec, Timestamps};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(about = "Latency-injecting FUSE passthrough (simulated NFS for benchmarks)")]
struct Args {
    /// Directory to mirror.
    source: PathBuf,
    /// Where to mount it (an existing, empty directory).
    mountpoint: PathBuf,
    /// Delay added to every request (microseconds), from its arrival to its reply.
    #[arg(long, default_value_t = 300)]
    delay_us: u64,
    /// How long the kernel may cache attributes (seconds; 0 = every stat reaches the daemon).
    #[arg(long, default_value_t = 0.0)]
    attr_timeout: f64,
    /// How long the kernel may cache name lookups (seconds; 0 = every path walk reaches the daemon).
    #[arg(long, default_value_t = 0.0)]
    entry_timeout: f64,
    /// Event-loop threads reading /dev/fuse.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Threads that send the delayed replies.
    #[arg(long, default_value_t = 2)]
    reply_threads: usize,
    /// Write request counts here on SIGUSR1 and on exit (JSON).
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Let other users than the one mounting use the mount (`allow_other`).
    #[arg(long)]
    allow_other: bool,
}

// ---------------------------------------------------------------------------
// Request counts

const OPS: &[&str] = &[
    "lookup",
    "forget",
    "getattr",
    "setattr",
    "readlink",
    "mknod",
    "mkdir",
    "unlink",
    "rmdir",
    "symlink",
    "rename",
    "link",
    "open",
    "read",
    "write",
    "flush",
    "release",
    "fsync",
    "opendir",
    "readdir",
    "releasedir",
    "fsyncdir",
    "statfs",
    "access",
    "create",
];

fn op_index(name: &str) -> usize {
    OPS.iter().position(|o| *o == name).expect("known op")
}

struct Stats {
    ops: Vec<AtomicU64>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    seq: AtomicU64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            ops: OPS.iter().map(|_| AtomicU64::new(0)).collect(),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        }
    }

    fn count(&self, op: &str) {
        self.ops[op_index(op)].fetch_add(1, Ordering::Relaxed);
    }

    /// JSON with the counts so far; resets the peak of requests in flight.
    fn json(&self, delay_us: u64) -> String {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let max = self.max_in_flight.swap(0, Ordering::SeqCst);
        let mut total = 0;
        let mut ops = Vec::new();
        for (name, n) in OPS.iter().zip(&self.ops) {
            let n = n.load(Ordering::Relaxed);
            total += n;
            ops.push(format!("\"{name}\": {n}"));
        }
        format!(
            "{{\"seq\": {seq}, \"delay_us\": {delay_us}, \"requests\": {total}, \
             \"max_in_flight\": {max}, \"cpu_s\": {:.3}, \"ops\": {{{}}}}}\n",
            cpu_seconds(),
            ops.join(", ")
        )
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

// ---------------------------------------------------------------------------
// Delayed replies

type Job = Box<dyn FnOnce() + Send>;

struct Delayer {
    tx: Sender<(Instant, Job)>,
    delay: Duration,
    stats: Arc<Stats>,
}

impl Delayer {
    fn start(delay: Duration, threads: usize, stats: Arc<Stats>) -> Delayer {
        let (tx, rx) = crossbeam_channel::unbounded::<(Instant, Job)>();
        for i in 0..threads.max(1) {
            let rx: Receiver<(Instant, Job)> = rx.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name(format!("reply-{i}"))
                .spawn(move || {
                    // Wake up on time, not up to 50 us late (the default slack).
                    // SAFETY: prctl with an integer argument.
                    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
                    for (due, job) in rx {
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        job();
                        stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .expect("spawn reply thread");
        }
        Delayer { tx, delay, stats }
    }

    /// Run `send` (which sends the reply) `delay` after `arrived`.
    fn later(&self, arrived: Instant, send: impl FnOnce() + Send + 'static) {
        let n = self.stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.max_in_flight.fetch_max(n, Ordering::SeqCst);
        if self.delay.is_zero() {
            send();
            self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        if let Err(e) = self.tx.send((arrived + self.delay, Box::new(send))) {
            // Only when every reply thread is gone: answer now rather than never.
            (e.into_inner().1)();
            self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

// ---------------------------------------------------------------------------
// The passthrough

/// What the daemon knows of an inode the kernel holds: one name of it
/// (parent and name, so renames are cheap) and the kernel's lookup count.
struct Node {
    parent: u64,
    name: OsString,
    nlookup: u64,
}

struct DirEnt {
    ino: u64,
    kind: FileType,
    name: OsString,
}

struct LatencyFs {
    /// The source directory (O_PATH); every access is relative to it.
    root: OwnedFd,
    /// The source directory's inode number (shown as the FUSE root, 1).
    root_ino: u64,
    nodes: Mutex<HashMap<u64, Node>>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEnt>>>>,
    next_fh: AtomicU64,
    attr_ttl: Duration,
    entry_ttl: Duration,
    as_root: bool,
    delayer: Delayer,
    stats: Arc<Stats>,
}

type R<T> = Result<T, Errno>;

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

fn ioerr(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn timespec(t: Option<TimeOrNow>) -> Timespec {
    match t {
        None => Timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => Timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (sec, nsec) = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(e) => {
                    let d = e.duration();
                    let mut sec = -(d.as_secs() as i64);
                    let mut nsec = -(d.subsec_nanos() as i64);
                    if nsec < 0 {
                        sec -= 1;
                        nsec += 1_000_000_000;
                    }
                    (sec, nsec)
                }
            };
            Timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            }
        }
    }
}

impl LatencyFs {
    fn ino(&self, backing: u64) -> u64 {
        if backing == self.root_ino {
            INodeNo::ROOT.0
        } else {
            backing
        }
    }

    fn attr(&self, st: &Stat) -> FileAttr {
        FileAttr {
            ino: INodeNo(self.ino(st.st_ino)),
            size: st.st_size as u64,
            blocks: st.st_blocks as u64,
            atime: time(st.st_atime, st.st_atime_nsec as i64),
            mtime: time(st.st_mtime, st.st_mtime_nsec as i64),
            ctime: time(st.st_ctime, st.st_ctime_nsec as i64),
            crtime: UNIX_EPOCH,
            kind: kind_of(st.st_mode),
            perm: (st.st_mode & 0o7777) as u16,
            nlink: st.st_nlink as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev as u32,
            blksize: st.st_blksize as u32,
            flags: 0,
        }
    }

    /// The path of `ino` relative to the source ("." for the root).
    fn path(&self, ino: INodeNo) -> R<PathBuf> {
        if ino == INodeNo::ROOT {
            return Ok(PathBuf::from("."));
        }
        let nodes = self.nodes.lock().unwrap();
        let mut names: Vec<&OsStr> = Vec::new();
        let mut cur = ino.0;
        while cur != INodeNo::ROOT.0 {
            let node = nodes.get(&cur).ok_or(Errno::ENOENT)?;
            names.push(&node.name);
            cur = node.parent;
            if names.len() > 4096 {
                return Err(Errno::ELOOP);
            }
        }
        let mut p = PathBuf::new();
        for n in names.iter().rev() {
            p.push(n);
        }
        Ok(p)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> R<PathBuf> {
        let mut p = self.path(parent)?;
        if p == Path::new(".") {
            p = PathBuf::new();
        }
        p.push(name);
        Ok(p)
    }

    fn lstat(&self, path: &Path) -> R<Stat> {
        rustix::fs::statat(&self.root, path, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
    }

    /// The kernel now holds one more reference to the inode at parent/name.
    fn remember(&self, parent: INodeNo, name: &OsStr, st: &Stat) -> FileAttr {
        let attr = self.attr(st);
        if attr.ino != INodeNo::ROOT {
            let mut nodes = self.nodes.lock().unwrap();
            let node = nodes.entry(attr.ino.0).or_insert_with(|| Node {
                parent: parent.0,
                name: name.to_owned(),
                nlookup: 0,
            });
            node.parent = parent.0;
            node.name = name.to_owned();
            node.nlookup += 1;
        }
        attr
    }

    fn entry(&self, parent: INodeNo, name: &OsStr, path: &Path) -> R<FileAttr> {
        let st = self.lstat(path)?;
        Ok(self.remember(parent, name, &st))
    }

    /// New files belong to the caller, not to the daemon (when it runs as root).
    fn own(&self, req: &Request, path: &Path) {
        if self.as_root && (req.uid() != 0 || req.gid() != 0) {
            let _ = rustix::fs::chownat(
                &self.root,
                path,
                Some(rustix::fs::Uid::from_raw(req.uid())),
                Some(rustix::fs::Gid::from_raw(req.gid())),
                AtFlags::SYMLINK_NOFOLLOW,
            );
        }
    }

    fn reply_entry(&self, t: Instant, r: R<FileAttr>, reply: ReplyEntry) {
        let (attr_ttl, entry_ttl) = (self.attr_ttl, self.entry_ttl);
        self.delayer.later(t, move || match r {
            Ok(attr) => reply.entry_with_ttls(&attr_ttl, &entry_ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        });
    }

    fn reply_attr(&self, t: Instant, r: R<FileAttr>, reply: ReplyAttr) {
        let ttl = self.attr_ttl;
        self.delayer.later(t, move || match r {
            Ok(attr) => reply.attr(&ttl, &attr),
            Err(e) => reply.error(e),
        });
    }

    fn reply_empty(&self, t: Instant, r: R<()>, reply: ReplyEmpty) {
        self.delayer.later(t, move || match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        });
    }

    fn reply_open(&self, t: Instant, r: R<u64>, reply: ReplyOpen) {
        self.delayer.later(t, move || match r {
            // No FOPEN_KEEP_CACHE: the page cache is dropped on open (close-to-open, as NFS).
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        });
    }

    fn file(&self, fh: FileHandle) -> R<Arc<File>> {
        self.files
            .lock()
            .unwrap()
            .get(&fh.0)
            .cloned()
            .ok_or(Errno::EBADF)
    }

    fn add_file(&self, f: File) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.files.lock().unwrap().insert(fh, Arc::new(f));
        fh
    }

    // The arguments of Filesystem::setattr that a passthrough uses.
    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
    ) -> R<FileAttr> {
        let path = self.path(ino)?;
        if let Some(mode) = mode {
            rustix::fs::chmodat(
                &self.root,
                &path,
                Mode::from_raw_mode(mode),
                AtFlags::empty(),
            )
            .map_err(errno)?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                &self.root,
                &path,
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)?;
        }
        if let Some(size) = size {
            match fh.and_then(|fh| self.file(fh).ok()) {
                Some(f) => f.set_len(size).map_err(ioerr)?,
                None => {
                    let fd = rustix::fs::openat(
                        &self.root,
                        &path,
                        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(errno)?;
                    File::from(fd).set_len(size).map_err(ioerr)?;
                }
            }
        }
        if atime.is_some() || mtime.is_some() {
            let times = Timestamps {
                last_access: timespec(atime),
                last_modification: timespec(mtime),
            };
            rustix::fs::utimensat(&self.root, &path, &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(errno)?;
        }
        Ok(self.attr(&self.lstat(&path)?))
    }

    fn list_dir(&self, ino: INodeNo) -> R<Vec<DirEnt>> {
        let path = self.path(ino)?;
        let fd = rustix::fs::openat(
            &self.root,
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let mut out = Vec::new();
        for e in rustix::fs::Dir::read_from(&fd).map_err(errno)? {
            let e = e.map_err(errno)?;
            let kind = match e.file_type() {
                rustix::fs::FileType::Directory => FileType::Directory,
                rustix::fs::FileType::Symlink => FileType::Symlink,
                rustix::fs::FileType::Fifo => FileType::NamedPipe,
                rustix::fs::FileType::Socket => FileType::Socket,
                rustix::fs::FileType::CharacterDevice => FileType::CharDevice,
                rustix::fs::FileType::BlockDevice => FileType::BlockDevice,
                _ => FileType::RegularFile,
            };
            out.push(DirEnt {
                ino: self.ino(e.ino()),
                kind,
                name: OsString::from_vec(e.file_name().to_bytes().to_vec()),
            });
        }
        Ok(out)
    }
}

impl fuser::Filesystem for LatencyFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Lookups and readdirs in one directory run in parallel, as on NFS
        // (without this the kernel serialises them per directory).
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        // Let many asynchronous requests (reads, readahead) be in flight.
        let _ = config.set_max_background(256);
        let _ = config.set_congestion_threshold(192);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let t = Instant::now();
        self.stats.count("lookup");
        let r = self
            .child(parent, name)
            .and_then(|p| self.entry(parent, name, &p));
        self.reply_entry(t, r, reply);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.stats.count("forget");
        let mut nodes = self.nodes.lock().unwrap();
        if let Some(node) = nodes.get_mut(&ino.0) {
            node.nlookup = node.nlookup.saturating_sub(nlookup);
            if node.nlookup == 0 {
                nodes.remove(&ino.0);
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let t = Instant::now();
        self.stats.count("getattr");
        let r = match fh.and_then(|fh| self.file(fh).ok()) {
            Some(f) => rustix::fs::fstat(&*f).map_err(errno),
            None => self.path(ino).and_then(|p| self.lstat(&p)),
        }
        .map(|st| self.attr(&st));
        self.reply_attr(t, r, reply);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let t = Instant::now();
        self.stats.count("setattr");
        let r = self.do_setattr(ino, mode, uid, gid, size, atime, mtime, fh);
        self.reply_attr(t, r, reply);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let t = Instant::now();
        self.stats.count("readlink");
        let r = self.path(ino).and_then(|p| {
            rustix::fs::readlinkat(&self.root, &p, Vec::new())
                .map(|c| c.into_bytes())
                .map_err(errno)
        });
        self.delayer.later(t, move || match r {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        });
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let t = Instant::now();
        self.stats.count("mknod");
        let r = self.child(parent, name).and_then(|p| {
            let ft = rustix::fs::FileType::from_raw_mode(mode);
            let perm = Mode::from_raw_mode(mode & !umask & 0o7777);
            rustix::fs::mknodat(&self.root, &p, ft, perm, rdev as u64).map_err(errno)?;
            self.own(req, &p);
            self.entry(parent, name, &p)
        });
        self.reply_entry(t, r, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let t = Instant::now();
        self.stats.count("mkdir");
        let r = self.child(parent, name).and_then(|p| {
            rustix::fs::mkdirat(&self.root, &p, Mode::from_raw_mode(mode & !umask & 0o7777))
                .map_err(errno)?;
            self.own(req, &p);
            self.entry(parent, name, &p)
        });
        self.reply_entry(t, r, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let t = Instant::now();
        self.stats.count("unlink");
        let r = self
            .child(parent, name)
            .and_then(|p| rustix::fs::unlinkat(&self.root, &p, AtFlags::empty()).map_err(errno));
        self.reply_empty(t, r, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let t = Instant::now();
        self.stats.count("rmdir");
        let r = self
            .child(parent, name)
            .and_then(|p| rustix::fs::unlinkat(&self.root, &p, AtFlags::REMOVEDIR).map_err(errno));
        self.reply_empty(t, r, reply);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let t = Instant::now();
        self.stats.count("symlink");
        let r = self.child(parent, link_name).and_then(|p| {
            rustix::fs::symlinkat(target, &self.root, &p).map_err(errno)?;
            self.own(req, &p);
            self.entry(parent, link_name, &p)
        });
        self.reply_entry(t, r, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let t = Instant::now();
        self.stats.count("rename");
        let r = (|| {
            let from = self.child(parent, name)?;
            let to = self.child(newparent, newname)?;
            rustix::fs::renameat_with(
                &self.root,
                &from,
                &self.root,
                &to,
                rustix::fs::RenameFlags::from_bits_retain(flags.bits()),
            )
            .map_err(errno)?;
            // The inodes keep their numbers; what the daemon knows of their names moves.
            let mut moved = vec![(to, newparent, newname)];
            if flags.contains(RenameFlags::RENAME_EXCHANGE) {
                moved.push((from, parent, name));
            }
            for (path, p, n) in moved {
                if let Ok(st) = self.lstat(&path) {
                    let ino = self.ino(st.st_ino);
                    if let Some(node) = self.nodes.lock().unwrap().get_mut(&ino) {
                        node.parent = p.0;
                        node.name = n.to_owned();
                    }
                }
            }
            Ok(())
        })();
        self.reply_empty(t, r, reply);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let t = Instant::now();
        self.stats.count("link");
        let r = (|| {
            let from = self.path(ino)?;
            let to = self.child(newparent, newname)?;
            rustix::fs::linkat(&self.root, &from, &self.root, &to, AtFlags::empty())
                .map_err(errno)?;
            self.entry(newparent, newname, &to)
        })();
        self.reply_entry(t, r, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let t = Instant::now();
        self.stats.count("open");
        let r = self.path(ino).and_then(|p| {
            let bits = (flags.0 & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY)) as u32;
            let fd = rustix::fs::openat(
                &self.root,
                &p,
                OFlags::from_bits_retain(bits) | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            Ok(self.add_file(File::from(fd)))
        });
        self.reply_open(t, r, reply);
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let t = Instant::now();
        self.stats.count("read");
        let r = self.file(fh).and_then(|f| {
            let mut buf = vec![0u8; size as usize];
            let mut n = 0;
            while n < buf.len() {
                match f.read_at(&mut buf[n..], offset + n as u64) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(ioerr(e)),
                }
            }
            buf.truncate(n);
            Ok(buf)
        });
        self.delayer.later(t, move || match r {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let t = Instant::now();
        self.stats.count("write");
        let r = self.file(fh).and_then(|f| {
            f.write_all_at(data, offset).map_err(ioerr)?;
            Ok(data.len() as u32)
        });
        self.delayer.later(t, move || match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let t = Instant::now();
        self.stats.count("flush");
        self.reply_empty(t, Ok(()), reply);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let t = Instant::now();
        self.stats.count("release");
        self.files.lock().unwrap().remove(&fh.0);
        self.reply_empty(t, Ok(()), reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let t = Instant::now();
        self.stats.count("fsync");
        let r = self.file(fh).and_then(|f| {
            if datasync {
                f.sync_data().map_err(ioerr)
            } else {
                f.sync_all().map_err(ioerr)
            }
        });
        self.reply_empty(t, r, reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let t = Instant::now();
        self.stats.count("opendir");
        let r = self.list_dir(ino).map(|entries| {
            let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
            self.dirs.lock().unwrap().insert(fh, Arc::new(entries));
            fh
        });
        self.reply_open(t, r, reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let t = Instant::now();
        self.stats.count("readdir");
        let entries = self.dirs.lock().unwrap().get(&fh.0).cloned();
        self.delayer.later(t, move || {
            let Some(entries) = entries else {
                return reply.error(Errno::EBADF);
            };
            for (i, e) in entries.iter().enumerate().skip(offset as usize) {
                if reply.add(INodeNo(e.ino), i as u64 + 1, e.kind, &e.name) {
                    break;
                }
            }
            reply.ok();
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let t = Instant::now();
        self.stats.count("releasedir");
        self.dirs.lock().unwrap().remove(&fh.0);
        self.reply_empty(t, Ok(()), reply);
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let t = Instant::now();
        self.stats.count("fsyncdir");
        self.reply_empty(t, Ok(()), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let t = Instant::now();
        self.stats.count("statfs");
        let r = rustix::fs::fstatvfs(&self.root).map_err(errno);
        self.delayer.later(t, move || match r {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        });
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // access(2) and chdir without default_permissions: the only user
        // who can reach the mount is the one who mounted it; allow it.
        let t = Instant::now();
        self.stats.count("access");
        self.reply_empty(t, Ok(()), reply);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let t = Instant::now();
        self.stats.count("create");
        let r = (|| {
            let p = self.child(parent, name)?;
            let bits = (flags & !libc::O_NOCTTY) as u32;
            let fd = rustix::fs::openat(
                &self.root,
                &p,
                OFlags::from_bits_retain(bits)
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode & !umask & 0o7777),
            )
            .map_err(errno)?;
            self.own(req, &p);
            let st = rustix::fs::fstat(&fd).map_err(errno)?;
            let attr = self.remember(parent, name, &st);
            Ok((attr, self.add_file(File::from(fd))))
        })();
        let ttl = self.attr_ttl.min(self.entry_ttl);
        self.delayer.later(t, move || match r {
            Ok((attr, fh)) => reply.created(
                &ttl,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        });
    }
}

// ---------------------------------------------------------------------------

enum Event {
    Dump,
    Stop,
    Ended(io::Result<()>),
}

fn write_stats(path: &Path, json: &str) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, path))
        .is_err()
    {
        eprintln!("latencyfs: cannot write {}", path.display());
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("latencyfs: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> io::Result<()> {
    let root = rustix::fs::open(
        &args.source,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::other(format!("{}: {e}", args.source.display())))?;
    let root_ino = rustix::fs::fstat(&root)?.st_ino;
    let stats = Arc::new(Stats::new());
    let delay = Duration::from_micros(args.delay_us);
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let fs = LatencyFs {
        root,
        root_ino,
        nodes: Mutex::new(HashMap::new()),
        files: Mutex::new(HashMap::new()),
        dirs: Mutex::new(HashMap::new()),
        next_fh: AtomicU64::new(1),
        attr_ttl: secs(args.attr_timeout),
        entry_ttl: secs(args.entry_timeout),
        as_root: rustix::process::geteuid().is_root(),
        delayer: Delayer::start(delay, args.reply_threads, stats.clone()),
        stats: stats.clone(),
    };

    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(format!("latencyfs:{}", args.source.display())),
        MountOption::Subtype("latencyfs".into()),
    ];
    if args.allow_other {
        // Others may use it: the kernel checks modes (which, with attributes
        // not cached, costs a GETATTR of each directory a path walk crosses).
        config.mount_options.push(MountOption::DefaultPermissions);
        config.acl = SessionACL::All;
    }
    // Otherwise only the user who mounted it can use it, and the kernel
    // checks no modes: a lookup is one LOOKUP, not a GETATTR of the parent
    // first (an NFS client answers those from its access cache).
    config.n_threads = Some(args.threads.max(1));
    config.clone_fd = true;

    let mut session = Session::new(fs, &args.mountpoint, &config)
        .map_err(|e| io::Error::other(format!("mounting on {}: {e}", args.mountpoint.display())))?;
    let mut unmounter = session.unmount_callable();
    let (tx, rx) = crossbeam_channel::unbounded::<Event>();
    let ended = tx.clone();
    std::thread::spawn(move || {
        let _ = ended.send(Event::Ended(session.run()));
    });
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGUSR1,
    ])?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let ev = if sig == signal_hook::consts::SIGUSR1 {
                Event::Dump
            } else {
                Event::Stop
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    eprintln!(
        "latencyfs: {} on {}: delay {} us per request, attr/entry timeout {}/{} s, {} event loops, {} reply threads",
        args.source.display(),
        args.mountpoint.display(),
        args.delay_us,
        args.attr_timeout,
        args.entry_timeout,
        args.threads.max(1),
        args.reply_threads.max(1)
    );
    println!("ready");
    use std::io::Write;
    let _ = io::stdout().flush();

    let result = loop {
        match rx.recv() {
            Ok(Event::Dump) => {
                if let Some(p) = &args.stats {
                    write_stats(p, &stats.json(args.delay_us));
                }
            }
            Ok(Event::Stop) => {
                if let Err(e) = unmounter.unmount() {
                    eprintln!("latencyfs: unmount: {e}");
                }
            }
            Ok(Event::Ended(r)) => break r,
            Err(_) => break Ok(()),
        }
    };
    let json = stats.json(args.delay_us);
    if let Some(p) = &args.stats {
        write_stats(p, &json);
    }
    eprint!("latencyfs: unmounted; {json}");
    result
}
