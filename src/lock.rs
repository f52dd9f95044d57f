//! One writer at a time.
//!
//! A run that changes the index (every scan and cleanup) holds an exclusive
//! `flock` on `INDEX.lock`, beside the index; a run that may remove files
//! also holds one on `CACHE/.sstate-cache-management/lock`, so that two
//! hosts sharing a cache over NFS (each with a local index) exclude each
//! other too (Linux maps `flock` to NFS byte-range locks). A run that finds
//! a lock held waits, polling, up to `--wait`, then fails with a message
//! naming the holder (host, pid, command, since when), which the holder
//! writes into the lock file. The kernel releases a lock when its holder
//! dies, even by `kill -9`: a stale holder line is just overwritten.
//!
//! `query` and `report` never wait: they read the index as it is (SQLite
//! in WAL mode lets readers and the writer go on together).

use anyhow::{Context, Result};
use rustix::fs::FlockOperation;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Who holds a lock, as its holder wrote it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {}, `{}`, since {}",
            self.pid, self.host, self.command, self.since
        )
    }
}

/// A lock was held by someone else for longer than we would wait.
#[derive(Debug)]
pub struct Busy {
    pub path: PathBuf,
    pub holder: Option<Holder>,
    pub waited: Duration,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another sstate-cache-management run holds {}",
            self.path.display()
        )?;
        match &self.holder {
            Some(h) => write!(f, " ({h})")?,
            None => write!(f, " (it did not say who it is)")?,
        }
        write!(
            f,
            "; waited {} s. Try again when it is done, or pass --wait SECONDS to wait longer",
            self.waited.as_secs()
        )
    }
}

impl std::error::Error for Busy {}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of an index.
pub fn index_lock_path(index: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", index.display()))
}

/// The lock file of a cache.
pub fn cache_lock_path(cache_root: &Path) -> PathBuf {
    cache_root.join(crate::TOOL_DIR).join("lock")
}

fn me(command: &str) -> Holder {
    Holder {
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        pid: std::process::id(),
        command: command.to_string(),
        since: crate::index::now_rfc3339(),
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// Take the lock at `path` (creating the file), waiting up to `wait`.
/// A lock held too long is a [`Busy`] error.
pub fn acquire(path: &Path, wait: Duration, command: &str) -> Result<Lock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    acquire_file(file, path, wait, command)
}

fn acquire_file(mut file: File, path: &Path, wait: Duration, command: &str) -> Result<Lock> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) => {
                if started.elapsed() >= wait {
                    return Err(Busy {
                        path: path.to_path_buf(),
                        holder: read_holder(&mut file),
                        waited: started.elapsed(),
                    }
                    .into());
                }
                std::thread::sleep(pause.min(wait.saturating_sub(started.elapsed())));
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    // Say who holds it, for whoever waits.
    let line = serde_json::to_string(&me(command)).context("encoding the lock holder")?;
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{line}"))
        .with_context(|| format!("writing the lock holder to {}", path.display()))?;
    Ok(Lock {
        _file: file,
        path: path.to_path_buf(),
    })
}

/// Take the lock only if it is free now.
pub fn try_acquire(path: &Path, command: &str) -> Result<Option<Lock>> {
    match acquire(path, Duration::ZERO, command) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.downcast_ref::<Busy>().is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who holds the lock at `path` now, if anyone said so.
pub fn holder(path: &Path) -> Option<Holder> {
    let mut f = File::open(path).ok()?;
    read_holder(&mut f)
}

/// Take the cache's advisory lock: creates `CACHE/.sstate-cache-management/`
/// if needed. `Ok(None)` when the cache dir cannot hold it (read-only, no
/// lock support on that file system): the caller warns and goes on, since
/// every removal is re-checked anyway.
pub fn acquire_cache(cache_root: &Path, wait: Duration, command: &str) -> Result<Option<Lock>> {
    use crate::remove::beneath;
    let path = cache_lock_path(cache_root);
    let root = beneath::open_root(cache_root)
        .map_err(|e| anyhow::anyhow!("opening the cache dir {}: {e}", cache_root.display()))?;
    // Never through a symlink: the lock file is written to.
    let opened =
        beneath::open_tool_dir(&root).and_then(|dir| beneath::create_file_in(&dir, "lock", false));
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::Other => {
            return Err(e).with_context(|| format!("taking the lock {}", path.display()));
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            anyhow::bail!(
                "{} is a symlink; refusing to write through it (remove it and run again)",
                path.display()
            );
        }
        Err(_) => return Ok(None),
    };
    match acquire_file(file, &path, wait, command) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.downcast_ref::<Busy>().is_some() => Err(e),
        Err(e) => {
            let unsupported = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                    io.raw_os_error() == Some(rustix::io::Errno::NOLCK.raw_os_error())
                        || io.kind() == std::io::ErrorKind::PermissionDenied
                        || io.kind() == std::io::ErrorKind::ReadOnlyFilesystem
                })
            });
            if unsupported { Ok(None) } else { Err(e) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_then_names_the_holder() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("i.sqlite.lock");
        let first = acquire(&path, Duration::ZERO, "sscm -d -y")?;
        let t = Instant::now();
        let err =
            acquire(&path, Duration::from_millis(300), "sscm --older-than 1d").expect_err("busy");
        assert!(t.elapsed() >= Duration::from_millis(300));
        let busy = err.downcast_ref::<Busy>().expect("a Busy error");
        let holder = busy.holder.as_ref().expect("the holder said who it is");
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.command, "sscm -d -y");
        assert!(err.to_string().contains("--wait"), "{err}");
        assert!(try_acquire(&path, "x")?.is_none());
        drop(first);
        assert!(try_acquire(&path, "x")?.is_some());
        Ok(())
    }
}
