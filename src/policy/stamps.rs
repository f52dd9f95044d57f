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

fn collect_one(dir: &Path, out: &mut StampHashes) -> Result<usize> {
    match std::fs::metadata(dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => bail!("--stamps-dir {}: not a directory", dir.display()),
        Err(e) => bail!("--stamps-dir {}: {e}", dir.display()),
    }
    let mut found = 0usize;
    for item in walkdir::WalkDir::new(dir).follow_links(false) {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                out.warnings
                    .push(format!("--stamps-dir {}: {e}", dir.display()));
                continue;
            }
        };
        if item.file_type().is_dir() {
            continue;
        }
        let Some(name) = item.file_name().to_str() else {
            continue;
        };
        if let Some(h) = stamp_hash(name) {
            found += 1;
            if !out.hashes.contains(h) {
                out.hashes.insert(h.to_string());
            }
        }
    }
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
