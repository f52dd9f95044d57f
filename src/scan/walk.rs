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

fn visit<'s>(s: &rayon::Scope<'s>, ctx: &'s Ctx<'s>, rel: String) {
    let path = abs(ctx.root, &rel);
    let md = match fs::symlink_metadata(&path) {
        Ok(md) => md,
        Err(e) => {
            let warning = format!("skipping {}: {e}", path.display());
            let _ = ctx.tx.send(Event::Unreadable { rel, warning });
            return;
        }
    };
    let stamp = DirStamp {
        mtime_ns: ns(md.mtime(), md.mtime_nsec()),
        ctime_ns: ns(md.ctime(), md.ctime_nsec()),
    };
    if !ctx.full && ctx.known.dirs.get(&rel).map(|d| d.stamp) == Some(stamp) {
        if let Some(children) = ctx.known.children.get(rel.as_str()) {
            for child in children {
                let child = child.to_string();
                s.spawn(move |s| visit(s, ctx, child));
            }
        }
        let _ = ctx.tx.send(Event::Unchanged { rel });
        return;
    }
    let dir = match fs::read_dir(&path) {
        Ok(d) => d,
        Err(e) => {
            let warning = format!("skipping {}: {e}", path.display());
            let _ = ctx.tx.send(Event::Unreadable { rel, warning });
            return;
        }
    };
    let mut entries = Vec::new();
    for item in dir {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                let _ = ctx
                    .tx
                    .send(Event::Warning(format!("reading {}: {e}", path.display())));
                continue;
            }
        };
        let file_name = match item.file_name().into_string() {
            Ok(n) => n,
            Err(raw) => {
                let _ = ctx.tx.send(Event::Warning(format!(
                    "skipping {}: name is not valid UTF-8",
                    path.join(&raw).display()
                )));
                continue;
            }
        };
        let Ok(ft) = item.file_type() else { continue };
        if ft.is_dir() {
            let child = join(&rel, &file_name);
            s.spawn(move |s| visit(s, ctx, child));
            continue;
        }
        let Some(spans) = name::parse(&file_name).map(|n| n.spans(&file_name)) else {
            continue;
        };
        // DirEntry::metadata is fstatat(AT_SYMLINK_NOFOLLOW) on the open
        // directory: an lstat without building the path again.
        match item.metadata() {
            Ok(md) => entries.push(RawEntry {
                size: md.size(),
                blocks: md.blocks(),
                mtime_ns: ns(md.mtime(), md.mtime_nsec()),
                ino: md.ino(),
                is_symlink: md.file_type().is_symlink(),
                spans,
                name: file_name,
            }),
            // Removed between readdir and lstat (a build or another
            // cleanup): it is simply not there any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let _ = ctx.tx.send(Event::Warning(format!(
                    "skipping {}: {e}",
                    path.join(&file_name).display()
                )));
            }
        }
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
