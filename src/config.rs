//! Resolved configuration: what the commands run with, built once from the
//! parsed flags. Nothing past this layer looks at clap types.

use crate::cli::CacheArgs;
use anyhow::{Context, Result, bail};
use sstate_cache_management::index;
use std::path::PathBuf;

/// Where the cache and its index are, and how to walk it.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The cache dir as the user spelled it (paths are printed under it).
    pub cache_dir: PathBuf,
    /// Its canonical path: what the index records.
    pub cache_root: PathBuf,
    pub index_path: PathBuf,
    pub jobs: usize,
    pub full_rescan: bool,
    pub verbose: bool,
}

/// The cache dir from the flag or the environment, as the reference tool
/// does: `--cache-dir`, else `$SSTATE_CACHE_DIR`, else `$SSTATE_DIR`.
pub fn cache_dir_from(args: &CacheArgs) -> Option<PathBuf> {
    args.cache_dir.clone().or_else(|| {
        ["SSTATE_CACHE_DIR", "SSTATE_DIR"]
            .iter()
            .filter_map(std::env::var_os)
            .find(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

impl CacheConfig {
    pub fn resolve(args: &CacheArgs, cache_dir: PathBuf) -> Result<CacheConfig> {
        match std::fs::metadata(&cache_dir) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => bail!("--cache-dir {}: not a directory", cache_dir.display()),
            Err(e) => bail!("--cache-dir {}: {e}", cache_dir.display()),
        }
        let cache_root = std::fs::canonicalize(&cache_dir)
            .with_context(|| format!("--cache-dir {}: resolving its path", cache_dir.display()))?;
        let index_path = match &args.index {
            Some(p) => p.clone(),
            None => index::default_path(&cache_root)?,
        };
        Ok(CacheConfig {
            cache_dir,
            cache_root,
            index_path,
            jobs: args.jobs as usize,
            full_rescan: args.full_rescan,
            verbose: args.verbose,
        })
    }
}
