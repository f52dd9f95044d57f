//! The parallel walk: lists directories and `lstat`s sstate entries on a
//! pool of `jobs` threads, sending one event per directory to the writer.
//!
//! A directory whose mtime and ctime equal those recorded in the index is
//! not listed: creating, removing or renaming a file in it would have
//! changed them. Its known subdirectories are still visited (a change deep in
//! the tree does not change the parents' mtimes). Symlinks are never
//! followed.

use crate::name;
use crossbeam_channel::Sender;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
    Listed {
        rel: String,
        stamp: DirStamp,
        entries: Vec<RawEntry>,
    },
    /// Its mtime is unchanged: it was only stat-ed, the index still holds.
    Unchanged { rel: String },
    /// It could not be read: what the index holds for it is dropped (the
    /// tool only ever acts on entries it has just seen).
    Unreadable { rel: String, warning: String },
    /// Something worth telling the user that does not concern a directory.
    Warning(String),
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
}

/// What the walk (and the writer) know about the index: every directory,
/// and the tree it forms, borrowing the same path strings.
pub struct Known<'a> {
    /// Directory (relative path) → id and recorded stamp.
    pub dirs: &'a HashMap<String, KnownDir>,
    /// Directory → its known subdirectories.
    pub children: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Known<'a> {
    pub fn new(dirs: &'a HashMap<String, KnownDir>) -> Self {
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for p in dirs.keys().filter(|p| !p.is_empty()) {
            let parent = p.rsplit_once('/').map_or("", |(parent, _)| parent);
            children.entry(parent).or_default().push(p);
        }
        Known { dirs, children }
    }
}

struct Ctx<'a> {
    root: &'a Path,
    known: &'a Known<'a>,
    full: bool,
    tx: Sender<Event>,
}

/// Walk the cache under `root`; returns when every directory has been
/// visited. Events go to `tx`.
pub fn walk(
    root: &Path,
    known: &Known<'_>,
    full: bool,
    jobs: usize,
    tx: Sender<Event>,
) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .thread_name(|i| format!("scan-{i}"))
        .build()
        .map_err(|e| anyhow::anyhow!("starting {jobs} scan threads: {e}"))?;
    let ctx = Ctx {
        root,
        known,
        full,
        tx,
    };
    pool.scope(|s| visit(s, &ctx, String::new()));
    Ok(())
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

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
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
    let path = abs(ctx.root, &rel);
    let unreadable = |rel: String, e: &dyn std::fmt::Display| {
        let warning = format!("cannot read {}: {e}", path.display());
        Event::Unreadable { rel, warning }
    };
    let md = match fs::symlink_metadata(&path) {
        Ok(md) => md,
        // Gone since its parent was listed (or since the last scan).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !rel.is_empty() => return,
        Err(e) => {
            visit_known_children(s, ctx, &rel);
            let _ = ctx.tx.send(unreadable(rel, &e));
            return;
        }
    };
    if !md.is_dir() {
        // Replaced by a file or a symlink since it was seen: not walked.
        if rel.is_empty() {
            let _ = ctx.tx.send(unreadable(rel, &"not a directory"));
        }
        return;
    }
    let stamp = DirStamp {
        mtime_ns: ns(md.mtime(), md.mtime_nsec()),
        ctime_ns: ns(md.ctime(), md.ctime_nsec()),
    };
    if !ctx.full && ctx.known.dirs.get(&rel).map(|d| d.stamp) == Some(stamp) {
        visit_known_children(s, ctx, &rel);
        let _ = ctx.tx.send(Event::Unchanged { rel });
        return;
    }
    let dir = match fs::read_dir(&path) {
        Ok(d) => d,
        Err(e) => {
            visit_known_children(s, ctx, &rel);
            let _ = ctx.tx.send(unreadable(rel, &e));
            return;
        }
    };
    let mut entries = Vec::new();
    let mut subdirs = Vec::new();
    for item in dir {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                // A listing cut short would make what it missed look gone.
                visit_known_children(s, ctx, &rel);
                let _ = ctx.tx.send(unreadable(rel, &e));
                return;
            }
        };
        let file_name = match item.file_name().into_string() {
            Ok(n) => n,
            Err(raw) => {
                let _ = ctx.tx.send(Event::Warning(format!(
                    "skipping {}: name is not valid UTF-8 (never an sstate entry)",
                    path.join(&raw).display()
                )));
                continue;
            }
        };
        let Ok(ft) = item.file_type() else { continue };
        if ft.is_dir() {
            // The tool's own dir (lock, trash) is never part of the cache.
            if !(rel.is_empty() && file_name == crate::TOOL_DIR) {
                subdirs.push(join(&rel, &file_name));
            }
            continue;
        }
        // Only regular files and symlinks are entries: a FIFO, socket or
        // device named like one is never touched.
        if !(ft.is_file() || ft.is_symlink()) {
            continue;
        }
        let Some(spans) = name::parse(&file_name).map(|n| n.spans(&file_name)) else {
            continue;
        };
        // DirEntry::metadata is fstatat(AT_SYMLINK_NOFOLLOW) on the open
        // directory: an lstat without building the path again.
        match item.metadata() {
            Ok(md) if md.is_file() || md.file_type().is_symlink() => entries.push(RawEntry {
                size: md.size(),
                blocks: md.blocks(),
                mtime_ns: ns(md.mtime(), md.mtime_nsec()),
                ino: md.ino(),
                is_symlink: md.file_type().is_symlink(),
                spans,
                name: file_name,
            }),
            Ok(_) => {}
            // Removed between readdir and lstat (a build or another
            // cleanup): it is simply not there any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                // An entry that cannot be stat-ed would look gone and leave
                // its object half seen: the whole directory counts as
                // unreadable instead.
                visit_known_children(s, ctx, &rel);
                let why = format!("{}: {e}", file_name);
                let _ = ctx.tx.send(unreadable(rel, &why));
                return;
            }
        }
    }
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
    });
}
