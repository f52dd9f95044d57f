//! File operations relative to directory handles that never leave the
//! cache: every directory is opened beneath the cache root with no symlink
//! followed in any component, so a directory swapped for a symlink after
//! the scan is refused instead of followed.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::sync::atomic::{AtomicBool, Ordering};

/// The stat fields the re-check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub is_symlink: bool,
    pub is_file: bool,
}

/// The fields of a `stat` this tool uses, in one set of types (the raw
/// field types differ between architectures, hence the casts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub size: u64,
    pub blocks: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    pub file_type: FileType,
}

#[allow(clippy::unnecessary_cast)]
pub fn fields(st: &rustix::fs::Stat) -> Fields {
    Fields {
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        ino: st.st_ino as u64,
        dev: st.st_dev as u64,
        file_type: FileType::from_raw_mode(st.st_mode),
    }
}

/// A directory's change stamp (mtime, ctime in ns).
pub fn dir_stamp(dir: impl AsFd) -> Result<(i64, i64), Errno> {
    let f = fields(&rustix::fs::fstat(dir)?);
    Ok((f.mtime_ns, f.ctime_ns))
}

/// (device, inode) of a directory: the identity of the cache root.
pub fn identity(dir: impl AsFd) -> Result<(u64, u64), Errno> {
    let f = fields(&rustix::fs::fstat(dir)?);
    Ok((f.dev, f.ino))
}

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Open the cache root itself (following the user's path, as given).
pub fn open_root(path: &std::path::Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Whether openat2 with RESOLVE_BENEATH works here (Linux 5.6+); learned
/// on first use.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Open `rel` (a `/`-separated path relative to `root`) as a directory,
/// following no symlink in any component and never leaving `root`. A
/// component that is a symlink fails with `ELOOP` (or `EXDEV`/`ENOTDIR`).
pub fn open_dir_beneath(root: impl AsFd, rel: &str) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let rel = if rel.is_empty() { "." } else { rel };
    if rel.split('/').any(|c| c.is_empty() || c == "..") {
        return Err(Errno::INVAL);
    }
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match rustix::fs::openat2(
            root.as_fd(),
            rel,
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::NOSYS) | Err(Errno::PERM) => {
                // No openat2 (old kernel, or a seccomp filter): walk.
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    let mut fd = rustix::fs::openat(root.as_fd(), ".", flags, Mode::empty())?;
    for comp in rel.split('/').filter(|c| *c != ".") {
        fd = rustix::fs::openat(&fd, comp, flags, Mode::empty())?;
    }
    Ok(fd)
}

/// `lstat` of `name` in `dir`.
pub fn stat_in(dir: impl AsFd, name: &str) -> Result<FileStat, Errno> {
    let f = fields(&rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?);
    Ok(FileStat {
        size: f.size,
        mtime_ns: f.mtime_ns,
        ino: f.ino,
        is_symlink: f.file_type == FileType::Symlink,
        is_file: f.file_type == FileType::RegularFile,
    })
}

/// Unlink `name` in `dir` (never a directory).
pub fn unlink_in(dir: impl AsFd, name: &str) -> Result<(), Errno> {
    rustix::fs::unlinkat(dir, name, AtFlags::empty())
}

/// Move `name` from `from` to `to` (same file system), never replacing
/// a file already there.
pub fn move_noreplace(from: impl AsFd, to: impl AsFd, name: &str) -> Result<(), Errno> {
    rename_noreplace(from, name, to, name)
}

/// Rename `from/a` to `to/b`, never replacing a file already there.
pub fn rename_noreplace(from: impl AsFd, a: &str, to: impl AsFd, b: &str) -> Result<(), Errno> {
    rustix::fs::renameat_with(from, a, to, b, rustix::fs::RenameFlags::NOREPLACE)
}

/// Open (creating as needed, mode 0755) the directory `rel` beneath `root`.
pub fn create_dir_beneath(root: impl AsFd, rel: &str) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = rustix::fs::openat(root.as_fd(), ".", flags, Mode::empty())?;
    for comp in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if comp == ".." {
            return Err(Errno::INVAL);
        }
        match rustix::fs::mkdirat(&fd, comp, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
        fd = rustix::fs::openat(&fd, comp, flags, Mode::empty())?;
    }
    Ok(fd)
}

/// The names of the regular files and symlinks in a directory: what could
/// be entries (for the check that no entry was added to an object since
/// the scan; FIFOs, sockets and devices never are).
pub fn list_names(dir: impl AsFd) -> Result<Vec<String>, Errno> {
    let dir = dir.as_fd();
    let mut out = Vec::new();
    for item in rustix::fs::Dir::read_from(dir)? {
        let item = item?;
        let Ok(name) = item.file_name().to_str() else {
            continue;
        };
        let keep = match item.file_type() {
            FileType::RegularFile | FileType::Symlink => true,
            FileType::Unknown => stat_in(dir, name).is_ok_and(|s| s.is_file || s.is_symlink),
            _ => false,
        };
        if keep {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// What an errno means for a file we meant to remove.
pub fn is_gone(e: Errno) -> bool {
    e == Errno::NOENT || e == Errno::STALE
}

/// Open (creating it if needed) the tool's own directory in the cache
/// root, refusing a symlink or anything else that is not a directory: the
/// lock and the trash are never written outside the cache.
pub fn open_tool_dir(root: impl AsFd) -> std::io::Result<OwnedFd> {
    let root = root.as_fd();
    match rustix::fs::mkdirat(root, crate::TOOL_DIR, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    rustix::fs::openat(
        root,
        crate::TOOL_DIR,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        if e == Errno::LOOP || e == Errno::NOTDIR {
            std::io::Error::other(format!(
                "{} in the cache is a symlink or not a directory; refusing to write through it",
                crate::TOOL_DIR
            ))
        } else {
            e.into()
        }
    })
}

/// Create `name` in `dir` for writing, never following a symlink there.
pub fn create_file_in(
    dir: impl AsFd,
    name: &str,
    exclusive: bool,
) -> std::io::Result<std::fs::File> {
    let mut flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if exclusive {
        flags |= OFlags::EXCL;
    }
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644))?;
    Ok(std::fs::File::from(fd))
}

/// Delete the directory `rel` beneath `root` and everything in it,
/// through directory handles only: a symlink inside is removed, never
/// followed, and a symlink on the way there is refused.
pub fn remove_tree_beneath(root: impl AsFd, rel: &str) -> Result<(), Errno> {
    let (parent_rel, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    };
    let parent = open_dir_beneath(root.as_fd(), parent_rel)?;
    remove_tree_in(&parent, name)
}

fn remove_tree_in(parent: &OwnedFd, name: &str) -> Result<(), Errno> {
    let dir = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut subdirs = Vec::new();
    for item in rustix::fs::Dir::read_from(&dir)? {
        let item = item?;
        let raw = item.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        let child = item.file_name().to_owned();
        let is_dir = match item.file_type() {
            FileType::Directory => true,
            FileType::Unknown => {
                rustix::fs::statat(&dir, child.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
            }
            _ => false,
        };
        if is_dir {
            subdirs.push(child);
        } else {
            rustix::fs::unlinkat(&dir, child.as_c_str(), AtFlags::empty())?;
        }
    }
    for sub in subdirs {
        let sub = sub.to_string_lossy().into_owned();
        remove_tree_in(&dir, &sub)?;
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}
