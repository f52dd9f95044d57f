//! Reading the hashes a build used from its stamps directory.

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

/// Hashes found in the stamps dirs, and how many stamps each dir held.
#[derive(Debug, Default)]
pub struct StampHashes {
    pub hashes: HashSet<String>,
    pub per_dir: Vec<(PathBuf, usize)>,
    pub warnings: Vec<String>,
}

/// Fail early, before any walk, if a stamps dir is missing or not a dir.
pub fn check_dirs(dirs: &[PathBuf]) -> Result<()> {
    dirs.iter().try_for_each(|d| check_dir(d))
}

fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => bail!("--stamps-dir {}: not a directory", dir.display()),
        Err(e) => bail!("--stamps-dir {}: {e}", dir.display()),
    }
}

/// Collect the hashes of every stamp at any depth below each dir. A dir that
/// does not exist or holds no stamp is an error: it would select the whole
/// cache.
pub fn collect(dirs: &[PathBuf]) -> Result<StampHashes> {
    let mut out = StampHashes::default();
    for dir in dirs {
        let n = collect_one(dir, &mut out)?;
        out.per_dir.push((dir.clone(), n));
    }
    Ok(out)
}

/// Stamps found below one directory.
#[derive(Default)]
struct Found {
    count: usize,
    hashes: HashSet<String>,
    warnings: Vec<String>,
}

impl Found {
    fn add(&mut self, item: walkdir::Result<walkdir::DirEntry>, top: &Path) -> Option<PathBuf> {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                self.warnings
                    .push(format!("--stamps-dir {}: {e}", top.display()));
                return None;
            }
        };
        if item.file_type().is_dir() {
            return Some(item.into_path());
        }
        if let Some(h) = item.file_name().to_str().and_then(stamp_hash) {
            self.count += 1;
            if !self.hashes.contains(h) {
                self.hashes.insert(h.to_string());
            }
        }
        None
    }

    fn merge(mut self, other: Found) -> Found {
        self.count += other.count;
        self.hashes.extend(other.hashes);
        self.warnings.extend(other.warnings);
        self
    }
}

fn collect_one(dir: &Path, out: &mut StampHashes) -> Result<usize> {
    use rayon::prelude::*;
    check_dir(dir)?;
    // The first two levels (MULTIMACH_TARGET_SYS/PN, or work-shared/...)
    // are read here; every directory at depth 2 is then walked in parallel.
    let mut top = Found::default();
    let mut subtrees = Vec::new();
    for item in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(2)
        .follow_links(false)
    {
        let depth = item.as_ref().map_or(0, |i| i.depth());
        if let Some(sub) = top.add(item, dir)
            && depth == 2
        {
            subtrees.push(sub);
        }
    }
    let found = subtrees
        .par_iter()
        .map(|sub| {
            let mut f = Found::default();
            for item in walkdir::WalkDir::new(sub).min_depth(1).follow_links(false) {
                f.add(item, dir);
            }
            f
        })
        .reduce(Found::default, Found::merge)
        .merge(top);
    out.hashes.extend(found.hashes);
    out.warnings.extend(found.warnings);
    let found = found.count;
    if found == 0 {
        bail!(
            "--stamps-dir {}: no sigdata or setscene stamp found below it; is it a build's STAMPS_DIR (tmp/stamps)? \
             Refusing to go on, since every object in the cache would be selected",
            dir.display()
        );
    }
    Ok(found)
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
