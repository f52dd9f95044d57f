//! The trash: undoable cleanups.
//!
//! `--trash` moves each selected entry to
//! `CACHE/.sstate-cache-management/trash/RUN/<its relative path>` instead
//! of unlinking it: one rename on the same file system, keeping its mtime.
//! Each run's directory holds a `run.json` manifest (when, which command,
//! which policies), so the trash explains itself without the index. The
//! trash is never scanned as part of the cache.
//!
//! `restore` moves a run's files back, never over a file already in the
//! cache (a build may have made it again since); `empty` deletes runs.

pub mod store;

use crate::remove::beneath;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The trash, relative to the cache root.
pub fn rel_dir() -> String {
    format!("{}/trash", crate::TOOL_DIR)
}

/// What a trash run's `run.json` says.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub started_at: String,
    pub command: String,
    pub policies: String,
}

/// One run in the trash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrashRun {
    /// Its directory name, e.g. `20261201T081500-1234`.
    pub name: String,
    pub manifest: Option<Manifest>,
    pub files: u64,
    pub disk_bytes: u64,
    /// When it was trashed (Unix seconds), from the name or the manifest.
    pub started_at: String,
}

/// A new run directory name: sortable by time, unique per process.
pub fn new_run_name() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
        std::process::id()
    )
}

/// Create the run's directory and its manifest; returns its path relative
/// to the cache root (what [`crate::remove::Mode::Trash`] takes).
pub fn begin(cache_root: &Path, name: &str, manifest: &Manifest) -> Result<String> {
    use std::io::Write;
    let rel = format!("{}/{name}", rel_dir());
    let root = beneath::open_root(cache_root)
        .map_err(|e| anyhow::anyhow!("opening the cache dir {}: {e}", cache_root.display()))?;
    beneath::open_tool_dir(&root)
        .with_context(|| format!("preparing the trash in {}", cache_root.display()))?;
    let dir = beneath::create_dir_beneath(&root, &rel)
        .map_err(|e| anyhow::anyhow!("creating the trash dir {rel}: {e}"))?;
    let path = cache_root.join(&rel).join("run.json");
    beneath::create_file_in(&dir, "run.json", true)
        .and_then(|mut f| {
            f.write_all(&serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?)
        })
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(rel)
}

/// The trash dir must be a real directory inside the cache (never a
/// symlink out of it) before anything in it is listed, moved or deleted.
fn check_layout(cache_root: &Path) -> Result<bool> {
    for rel in [crate::TOOL_DIR.to_string(), rel_dir()] {
        match std::fs::symlink_metadata(cache_root.join(&rel)) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => bail!(
                "{} is a symlink or not a directory; refusing to use it as the trash",
                cache_root.join(&rel).display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("looking at {}", cache_root.join(&rel).display()));
            }
        }
    }
    Ok(true)
}

fn tree_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut files = 0;
    let mut bytes = 0;
    for item in walkdir::WalkDir::new(dir).follow_links(false) {
        let Ok(item) = item else { continue };
        if item.file_type().is_dir() || item.file_name() == "run.json" {
            continue;
        }
        files += 1;
        bytes += item.metadata().map(|m| m.blocks() * 512).unwrap_or(0);
    }
    (files, bytes)
}

/// The runs in the trash, oldest first.
pub fn list(cache_root: &Path) -> Result<Vec<TrashRun>> {
    if !check_layout(cache_root)? {
        return Ok(Vec::new());
    }
    let dir = cache_root.join(rel_dir());
    let items = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing the trash {}", dir.display())),
    };
    let mut runs = Vec::new();
    for item in items {
        let item = item.with_context(|| format!("listing the trash {}", dir.display()))?;
        if !item.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = item.file_name().to_string_lossy().into_owned();
        let manifest: Option<Manifest> = std::fs::read(item.path().join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (files, disk_bytes) = tree_size(&item.path());
        let started_at = manifest
            .as_ref()
            .map(|m| m.started_at.clone())
            .unwrap_or_else(|| name.clone());
        runs.push(TrashRun {
            name,
            manifest,
            files,
            disk_bytes,
            started_at,
        });
    }
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(runs)
}

/// Find a run by its name, or by a unique prefix of it.
pub fn find(cache_root: &Path, wanted: &str) -> Result<TrashRun> {
    pick(list(cache_root)?, wanted, &cache_root.display().to_string())
}

/// The run of `runs` named `wanted` or by a unique prefix of it (`cache`
/// names the cache in the error).
pub fn pick(runs: Vec<TrashRun>, wanted: &str, cache: &str) -> Result<TrashRun> {
    let matching: Vec<&TrashRun> = runs.iter().filter(|r| r.name.starts_with(wanted)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no run {wanted:?} in the trash of {cache} (see `sstate-cache-management trash list`)"
        ),
        many => bail!(
            "{wanted:?} matches {} runs in the trash: {}; give more of the name",
            many.len(),
            many.iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Restored {
    pub restored: u64,
    /// Files left in the trash because the cache has a file of that name
    /// again (relative paths).
    pub kept_newer: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Move a run's files back into the cache, never replacing a file there.
/// The run's directory goes once it is empty.
pub fn restore(cache_root: &Path, run: &str) -> Result<Restored> {
    check_layout(cache_root)?;
    let run_rel = format!("{}/{run}", rel_dir());
    let run_dir = cache_root.join(&run_rel);
    let root = beneath::open_root(cache_root)
        .map_err(|e| anyhow::anyhow!("opening the cache dir {}: {e}", cache_root.display()))?;
    let mut out = Restored::default();
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&run_dir)
        .follow_links(false)
        .into_iter()
        .filter_map(|i| i.ok())
        .filter(|i| !i.file_type().is_dir())
        .map(|i| i.into_path())
        .filter(|p| p.parent() != Some(run_dir.as_path()))
        .collect();
    files.sort();
    for path in files {
        let Ok(rel) = path.strip_prefix(&run_dir) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        let (dir, name) = match rel.rsplit_once('/') {
            Some((d, n)) => (d.to_string(), n.to_string()),
            None => (String::new(), rel.clone()),
        };
        let from_rel = if dir.is_empty() {
            run_rel.clone()
        } else {
            format!("{run_rel}/{dir}")
        };
        let result = beneath::open_dir_beneath(&root, &from_rel).and_then(|from| {
            let to = beneath::create_dir_beneath(&root, &dir)?;
            beneath::move_noreplace(&from, &to, &name)
        });
        match result {
            Ok(()) => out.restored += 1,
            Err(rustix::io::Errno::EXIST) => out.kept_newer.push(rel),
            Err(e) => out.failed.push((rel, e.to_string())),
        }
    }
    if out.kept_newer.is_empty() && out.failed.is_empty() {
        beneath::remove_tree_beneath(&root, &run_rel).map_err(|e| {
            anyhow::anyhow!("removing the emptied trash run {}: {e}", run_dir.display())
        })?;
    }
    Ok(out)
}

/// Delete runs from the trash: all, or those trashed before `before`
/// (RFC 3339 text compares in time order). Returns what went.
pub fn empty(cache_root: &Path, before: Option<&str>) -> Result<Vec<TrashRun>> {
    let mut gone = Vec::new();
    let root = beneath::open_root(cache_root)
        .map_err(|e| anyhow::anyhow!("opening the cache dir {}: {e}", cache_root.display()))?;
    for run in list(cache_root)? {
        if before.is_some_and(|b| run.started_at.as_str() >= b) {
            continue;
        }
        let rel = format!("{}/{}", rel_dir(), run.name);
        beneath::remove_tree_beneath(&root, &rel).map_err(|e| {
            anyhow::anyhow!(
                "deleting the trash run {}: {e}",
                cache_root.join(&rel).display()
            )
        })?;
        gone.push(run);
    }
    Ok(gone)
}
