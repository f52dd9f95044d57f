//! Reading the hashes a build used from its stamps directory.
//!
//! The stamps policy removes everything the stamps do not name, so a
//! keep-set that misses part of a build removes what that build uses. The
//! rule here is: a complete keep-set or none. Any error while reading a
//! stamps dir (an unreadable directory or file, a symlink loop) fails the
//! run before anything is planned; symlinked directories are followed, as
//! BitBake reads through them; a dir without any stamp is an error.

use anyhow::{Result, bail};
use regex::Regex;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// `….do_TASK.sigdata.HASH`: written for every task that really ran.
static SIGDATA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\.do_[A-Za-z0-9_-]+\.sigdata\.([0-9a-f]+)$").expect("valid regex")
});
/// `….do_TASK_setscene.HASH[.EXTRAINFO]`: the task was restored from sstate.
static SETSCENE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\.do_[A-Za-z0-9_-]+_setscene\.([0-9a-f]+)(?:\..*)?$").expect("valid regex")
});

/// The hash a stamp file name carries, if it is a sigdata or setscene stamp.
pub fn stamp_hash(file_name: &str) -> Option<&str> {
    SIGDATA
        .captures(file_name)
        .or_else(|| SETSCENE.captures(file_name))
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// What one `--stamps-dir` holds.
#[derive(Debug, Clone, Default)]
pub struct StampDir {
    pub dir: PathBuf,
    /// Stamp files found (sigdata and setscene).
    pub stamps: usize,
    pub hashes: HashSet<String>,
    /// Stamps found deeper than a build's layout puts them
    /// (`SYS/PN/PV.do_…`, depth 3): a sign that the dir holds several
    /// builds' stamps dirs.
    pub too_deep: usize,
}

impl StampDir {
    /// A hint when the dir looks like a parent of several stamps dirs.
    pub fn layout_hint(&self) -> Option<String> {
        (self.too_deep * 2 > self.stamps).then(|| {
            format!(
                "--stamps-dir {}: most of its {} stamps sit deeper than a build's STAMPS_DIR puts them \
                 (SYS/PN/PV.do_TASK…); it may hold the stamps of several builds, and all of them are kept",
                self.dir.display(),
                self.stamps
            )
        })
    }
}

/// Fail early, before any walk, if a stamps dir is missing or not a dir.
pub fn check_dirs(dirs: &[PathBuf]) -> Result<()> {
    dirs.iter().try_for_each(|d| check_dir(d))
}

fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => bail!(
            "--stamps-dir {}: not a directory (give a build's STAMPS_DIR, e.g. build/tmp/stamps)",
            dir.display()
        ),
        Err(e) => bail!("--stamps-dir {}: {e}", dir.display()),
    }
}

/// Collect the stamps of each dir. Every error is fatal: see the module doc.
pub fn collect(dirs: &[PathBuf]) -> Result<Vec<StampDir>> {
    dirs.iter().map(|d| collect_one(d)).collect()
}

/// Stamps found below one directory.
#[derive(Default)]
struct Found {
    count: usize,
    too_deep: usize,
    hashes: HashSet<String>,
    /// The first error met; the walk stops there.
    error: Option<String>,
}

impl Found {
    /// Take one walk item; returns the path of a directory at `descend_at`
    /// depth (for the parallel part of the walk).
    fn add(
        &mut self,
        item: walkdir::Result<walkdir::DirEntry>,
        base_depth: usize,
        descend_at: Option<usize>,
    ) -> Option<PathBuf> {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                // A dangling symlink still has a readable name.
                if let Some(path) = e.path()
                    && e.io_error().map(|io| io.kind()) == Some(std::io::ErrorKind::NotFound)
                    && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
                {
                    let depth = base_depth + e.depth();
                    self.name(path.file_name().and_then(|n| n.to_str()), depth);
                    return None;
                }
                if self.error.is_none() {
                    let what = match e.path() {
                        Some(p) => format!("{}: {}", p.display(), describe(&e)),
                        None => describe(&e),
                    };
                    self.error = Some(what);
                }
                return None;
            }
        };
        let depth = base_depth + item.depth();
        if item.file_type().is_dir() {
            return (Some(item.depth()) == descend_at).then(|| item.into_path());
        }
        self.name(item.file_name().to_str(), depth);
        None
    }

    fn name(&mut self, name: Option<&str>, depth: usize) {
        if let Some(h) = name.and_then(stamp_hash) {
            self.count += 1;
            if depth > 3 {
                self.too_deep += 1;
            }
            if !self.hashes.contains(h) {
                self.hashes.insert(h.to_string());
            }
        }
    }

    fn merge(mut self, other: Found) -> Found {
        self.count += other.count;
        self.too_deep += other.too_deep;
        self.hashes.extend(other.hashes);
        self.error = self.error.or(other.error);
        self
    }
}

fn describe(e: &walkdir::Error) -> String {
    if e.loop_ancestor().is_some() {
        "symlink loop".to_string()
    } else if let Some(io) = e.io_error() {
        io.to_string()
    } else {
        e.to_string()
    }
}

fn collect_one(dir: &Path) -> Result<StampDir> {
    use rayon::prelude::*;
    check_dir(dir)?;
    // The first two levels (MULTIMACH_TARGET_SYS/PN, or work-shared/...)
    // are read here; every directory at depth 2 is then walked in parallel.
    let mut top = Found::default();
    let mut subtrees = Vec::new();
    for item in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(2)
        .follow_links(true)
    {
        if let Some(sub) = top.add(item, 0, Some(2)) {
            subtrees.push(sub);
        }
    }
    let found = subtrees
        .par_iter()
        .map(|sub| {
            let mut f = Found::default();
            for item in walkdir::WalkDir::new(sub).min_depth(1).follow_links(true) {
                f.add(item, 2, None);
                if f.error.is_some() {
                    break;
                }
            }
            f
        })
        .reduce(Found::default, Found::merge)
        .merge(top);
    if let Some(err) = found.error {
        bail!(
            "--stamps-dir {}: cannot read {err}. Refusing to plan with part of the build's stamps \
             missing (the objects they name would be removed); fix the permissions or leave out this --stamps-dir",
            dir.display()
        );
    }
    if found.count == 0 {
        bail!(
            "--stamps-dir {}: no sigdata or setscene stamp found below it; is it a build's STAMPS_DIR (tmp/stamps)? \
             Refusing to go on, since every object in the cache would be selected",
            dir.display()
        );
    }
    Ok(StampDir {
        dir: dir.to_path_buf(),
        stamps: found.count,
        hashes: found.hashes,
        too_deep: found.too_deep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_names() {
        let h = "3b5f1c0e9a7d2b4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
        assert_eq!(
            stamp_hash(&format!("1.36.1-r0.do_compile.sigdata.{h}")),
            Some(h)
        );
        assert_eq!(
            stamp_hash(&format!("1.36.1-r0.do_populate_sysroot_setscene.{h}")),
            Some(h)
        );
        assert_eq!(
            stamp_hash(&format!(
                "1.36.1-r0.do_package_write_ipk_setscene.{h}.qemux86_64"
            )),
            Some(h)
        );
        assert_eq!(stamp_hash(&format!("1.36.1-r0.do_compile.{h}")), None);
        assert_eq!(
            stamp_hash(&format!("1.36.1-r0.do_compile.sigdata.{h}.lock")),
            None
        );
        assert_eq!(stamp_hash("README"), None);
    }
}
