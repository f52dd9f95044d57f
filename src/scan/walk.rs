//! The parallel walk: lists directories and `lstat`s sstate entries on a
//! pool of `jobs` threads, sending one event per directory to the writer.
//!
//! A directory whose mtime and ctime equal those recorded in the index is
//! not listed: creating, removing or renaming a file in it would have
//! changed them. Its known subdirectories are still visited (a change deep in
//! the tree does not change the parents' mtimes). Symlinks are never
//! followed.

use crate::name;
use crate::remove::beneath::fields;
use crossbeam_channel::Sender;
use rustc_hash::FxHashMap;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One parsed entry as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub name: String,
    /// Where its fields are (parsed once, here, on a walker thread).
    pub spans: name::Spans,
    pub size: u64,
    pub blocks: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub is_symlink: bool,
}

/// What the walk learned about one directory.
#[derive(Debug)]
pub enum Event {
    /// The directory was listed; `entries` holds every parsed entry in it.
    /// `relist`: list it again next time whatever its stamp (it holds a
    /// directory the walk does not enter, which must be reported again).
    Listed {
        rel: String,
        stamp: DirStamp,
        entries: Vec<RawEntry>,
        relist: bool,
    },
    /// It could not be read: what the index holds for it is dropped (the
    /// tool only ever acts on entries it has just seen).
    Unreadable { rel: String, warning: String },
    /// Something worth telling the user that does not concern a directory.
    Warning(String),
    /// An archive an interrupted removal took aside (`NAME.sscm-removing`),
    /// as a path relative to the cache root.
    Leftover(String),
}

/// A directory's change stamp: mtime and ctime. Adding, removing or
/// renaming a file changes both; chmod and chown change the ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirStamp {
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// A directory as the index knows it.
pub struct KnownDir {
    pub id: i64,
    pub stamp: DirStamp,
    /// Set when this scan reached it (found unchanged by the walk, or
    /// listed or found unreadable by the writer); those never reached are
    /// gone. A flag, not an event: a warm scan finds tens of thousands of
    /// directories unchanged, and sends nothing for them.
    pub seen: AtomicBool,
}

impl KnownDir {
    pub fn new(id: i64, stamp: DirStamp) -> Self {
        KnownDir {
            id,
            stamp,
            seen: AtomicBool::new(false),
        }
    }

    pub fn mark_seen(&self) {
        self.seen.store(true, Ordering::Relaxed);
    }

    pub fn was_seen(&self) -> bool {
        self.seen.load(Ordering::Relaxed)
    }
}

/// Directory (relative path) → what the index knows of it.
pub type KnownDirs = FxHashMap<String, KnownDir>;

/// What the walk (and the writer) know about the index: every directory,
/// and the tree it forms, borrowing the same path strings.
pub struct Known<'a> {
    /// Directory (relative path) → id and recorded stamp.
    pub dirs: &'a KnownDirs,
    /// Directory → its known subdirectories.
    pub children: FxHashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Known<'a> {
    pub fn new(dirs: &'a KnownDirs) -> Self {
        let mut children: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for p in dirs.keys().filter(|p| !p.is_empty()) {
            let parent = p.rsplit_once('/').map_or("", |(parent, _)| parent);
            children.entry(parent).or_default().push(p);
        }
        Known { dirs, children }
    }
}

struct Ctx<'a> {
    root: &'a Path,
    /// The cache root, open: every path below is resolved from it, which
    /// spares the kernel a walk of the root's own path per call.
    root_fd: rustix::fd::OwnedFd,
    known: &'a Known<'a>,
    full: bool,
    tx: Sender<Event>,
    /// Directories found unchanged (marked seen, no event sent).
    unchanged: AtomicU64,
    /// Bumped per directory visited, for the progress display.
    visited: &'a AtomicU64,
}

/// Walk the cache under `root`; returns, when every directory has been
/// visited, how many of them were unchanged (only stat-ed). Events go to
/// `tx`; `visited` counts directories as they are done.
pub fn walk(
    root: &Path,
    known: &Known<'_>,
    full: bool,
    jobs: usize,
    tx: Sender<Event>,
    visited: &AtomicU64,
) -> anyhow::Result<u64> {
    let pool = crate::pool::get(jobs)?;
    let root_fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow::anyhow!("cannot read the cache dir {}: {e}", root.display()))?;
    let ctx = Ctx {
        root,
        root_fd,
        known,
        full,
        tx,
        unchanged: AtomicU64::new(0),
        visited,
    };
    pool.scope(|s| visit(s, &ctx, String::new()));
    Ok(ctx.unchanged.into_inner())
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        let mut s = String::with_capacity(rel.len() + 1 + name.len());
        s.push_str(rel);
        s.push('/');
        s.push_str(name);
        s
    }
}

fn abs(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Visit the known subdirectories of `rel` (those the index holds), e.g.
/// below a directory that is unchanged or could not be listed.
fn visit_known_children<'s>(s: &rayon::Scope<'s>, ctx: &'s Ctx<'s>, rel: &str) {
    if let Some(children) = ctx.known.children.get(rel) {
        for child in children {
            let child = child.to_string();
            s.spawn(move |s| visit(s, ctx, child));
        }
    }
}

fn visit<'s>(s: &rayon::Scope<'s>, ctx: &'s Ctx<'s>, rel: String) {
    // (Only messages need the full path: built when one is written.)
    let path = || abs(ctx.root, &rel);
    let here = if rel.is_empty() { "." } else { rel.as_str() };
    let unreadable = |rel: String, e: &dyn std::fmt::Display| {
        let warning = format!("cannot read {}: {e}", abs(ctx.root, &rel).display());
        Event::Unreadable { rel, warning }
    };
    // A directory the index knows is only stat-ed first (it is listed
    // only if its stamp changed); any other is opened at once and its
    // stamp read from the open descriptor: one path lookup, not two.
    // (One lookup: the map holds every directory of the cache.)
    let known_dir = ctx.known.dirs.get(&rel);
    let opened = if ctx.full || known_dir.is_none() {
        match open_dir(ctx, here) {
            Ok(fd) => Some(fd),
            // Gone since its parent was listed, or replaced by a file or
            // a symlink: not walked.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) if !rel.is_empty() => return,
            Err(Errno::NOTDIR | Errno::LOOP) => {
                let _ = ctx.tx.send(unreadable(rel, &"not a directory"));
                return;
            }
            // (Statted below: an unreadable directory is still reported
            // with what the index knows of it.)
            Err(_) => None,
        }
    } else {
        None
    };
    let st = match &opened {
        Some(fd) => rustix::fs::fstat(fd),
        None => rustix::fs::statat(&ctx.root_fd, here, AtFlags::SYMLINK_NOFOLLOW),
    };
    let st = match st {
        Ok(st) => st,
        // Gone since its parent was listed (or since the last scan).
        Err(Errno::NOENT) if !rel.is_empty() => return,
        Err(e) => {
            visit_known_children(s, ctx, &rel);
            let _ = ctx.tx.send(unreadable(rel, &io(e)));
            return;
        }
    };
    let st = fields(&st);
    if st.file_type != FileType::Directory {
        // Replaced by a file or a symlink since it was seen: not walked.
        if rel.is_empty() {
            let _ = ctx.tx.send(unreadable(rel, &"not a directory"));
        }
        return;
    }
    let stamp = DirStamp {
        mtime_ns: st.mtime_ns,
        ctime_ns: st.ctime_ns,
    };
    if !ctx.full
        && let Some(known) = known_dir
        && known.stamp == stamp
    {
        visit_known_children(s, ctx, &rel);
        known.mark_seen();
        ctx.unchanged.fetch_add(1, Ordering::Relaxed);
        ctx.visited.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let dirfd = match opened {
        Some(fd) => fd,
        None => match open_dir(ctx, here) {
            Ok(fd) => fd,
            Err(e) => {
                visit_known_children(s, ctx, &rel);
                let _ = ctx.tx.send(unreadable(rel, &io(e)));
                return;
            }
        },
    };
    // One `getdents64` fills the buffer with a typical directory (a few
    // objects of ~130-byte names); rustix's `Dir` starts at 768 bytes and
    // reopens the directory.
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); DIRENT_BUF];
    let mut dir = rustix::fs::RawDir::new(&dirfd, &mut buf);
    let mut entries = Vec::new();
    let mut subdirs = Vec::new();
    let mut relist = false;
    // A directory the walk does not enter is reported as unreadable: what
    // is inside is unknown (and dependency retention must not go on).
    let odd_dir = |name: &str, why: &str| {
        let child = join(&rel, name);
        let warning = format!(
            "not entering {}: {why} (BitBake never makes such a directory); it counts as unreadable",
            path().join(name).display()
        );
        Event::Unreadable {
            rel: child,
            warning,
        }
    };
    while let Some(item) = dir.next() {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                // A listing cut short would make what it missed look gone.
                visit_known_children(s, ctx, &rel);
                let _ = ctx.tx.send(unreadable(rel, &io(e)));
                return;
            }
        };
        let raw = item.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        let file_name = match std::str::from_utf8(raw) {
            Ok(n) => n.to_string(),
            Err(_) => {
                let lossy = String::from_utf8_lossy(raw).into_owned();
                if item.file_type() == FileType::Directory {
                    relist = true;
                    let _ = ctx.tx.send(odd_dir(&lossy, "its name is not valid UTF-8"));
                } else {
                    let _ = ctx.tx.send(Event::Warning(format!(
                        "skipping {}: name is not valid UTF-8 (never an sstate entry)",
                        path().join(std::ffi::OsStr::from_bytes(raw)).display()
                    )));
                }
                continue;
            }
        };
        // d_type when the file system gives it (NFS may not): else lstat.
        let mut known_stat = None;
        let ft = match item.file_type() {
            FileType::Unknown => {
                match rustix::fs::statat(&dirfd, file_name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => {
                        let ft = FileType::from_raw_mode(st.st_mode);
                        known_stat = Some(st);
                        ft
                    }
                    Err(Errno::NOENT) => continue,
                    Err(e) => {
                        visit_known_children(s, ctx, &rel);
                        let why = format!("{file_name}: {}", io(e));
                        let _ = ctx.tx.send(unreadable(rel, &why));
                        return;
                    }
                }
            }
            ft => ft,
        };
        if ft == FileType::Directory {
            if file_name.bytes().any(|b| b < 0x20 || b == 0x7f) {
                relist = true;
                let _ = ctx.tx.send(odd_dir(
                    &file_name.escape_debug().to_string(),
                    "its name has control characters",
                ));
                continue;
            }
            // The tool's own dir (lock, trash) is never part of the cache.
            if !(rel.is_empty() && file_name == crate::TOOL_DIR) {
                subdirs.push(join(&rel, &file_name));
            }
            continue;
        }
        // Only regular files and symlinks are entries: a FIFO, socket or
        // device named like one is never touched.
        if !(ft == FileType::RegularFile || ft == FileType::Symlink) {
            continue;
        }
        let Some(spans) = name::parse(&file_name).map(|n| n.spans(&file_name)) else {
            let aside = match file_name.strip_suffix(crate::remove::ASIDE) {
                Some(orig) => name::parse(orig).is_some_and(|n| n.kind == name::Kind::Archive),
                None => file_name.starts_with(crate::remove::ASIDE_LONG),
            };
            if aside {
                let _ = ctx.tx.send(Event::Leftover(join(&rel, &file_name)));
            }
            continue;
        };
        let st = match known_stat {
            Some(st) => Ok(st),
            None => rustix::fs::statat(&dirfd, file_name.as_str(), AtFlags::SYMLINK_NOFOLLOW),
        };
        match st {
            Ok(st) => {
                let st = fields(&st);
                let ft = st.file_type;
                if ft == FileType::RegularFile || ft == FileType::Symlink {
                    entries.push(RawEntry {
                        size: st.size,
                        blocks: st.blocks,
                        mtime_ns: st.mtime_ns,
                        ino: st.ino,
                        is_symlink: ft == FileType::Symlink,
                        spans,
                        name: file_name,
                    });
                }
            }
            // Removed between readdir and lstat (a build or another
            // cleanup): it is simply not there any more.
            Err(Errno::NOENT) => {}
            Err(e) => {
                // An entry that cannot be stat-ed would look gone and leave
                // its object half seen: the whole directory counts as
                // unreadable instead.
                visit_known_children(s, ctx, &rel);
                let why = format!("{file_name}: {}", io(e));
                let _ = ctx.tx.send(unreadable(rel, &why));
                return;
            }
        }
    }
    drop(dirfd);
    for child in subdirs {
        s.spawn(move |s| visit(s, ctx, child));
    }
    // Sorted so that an object's entries are adjacent (the writer, which
    // is the serial part, only has to cut the list at stem changes).
    entries.sort_unstable_by(|a, b| {
        let (sa, sb) = (a.spans.name(&a.name).stem, b.spans.name(&b.name).stem);
        sa.cmp(sb).then_with(|| a.name.cmp(&b.name))
    });
    let _ = ctx.tx.send(Event::Listed {
        rel,
        stamp,
        entries,
        relist,
    });
}

/// Bytes read per `getdents64` call.
const DIRENT_BUF: usize = 16 * 1024;

/// Open directory `here` (relative to the cache root) for listing, never
/// through a symlink.
fn open_dir(ctx: &Ctx<'_>, here: &str) -> Result<rustix::fd::OwnedFd, Errno> {
    rustix::fs::openat(
        &ctx.root_fd,
        here,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// An errno as the io::Error text users know ("Permission denied").
fn io(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}
