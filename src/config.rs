//! Resolved configuration: what the commands run with, built once from the
//! parsed flags. Nothing past this layer looks at clap types.

use crate::cli::{CacheArgs, CleanArgs, Format, Written};
use anyhow::{Context, Result, bail};
use sstate_cache_management::index;
use sstate_cache_management::plan::Request;
use sstate_cache_management::policy::{Policy, StampDir, custom::Custom};
use sstate_cache_management::store::StoreUrl;
use std::path::PathBuf;

/// Where the cache and its index are, and how to walk it.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The cache dir as the user spelled it (paths are printed under it).
    pub cache_dir: PathBuf,
    /// Its canonical path: what the index records.
    pub cache_root: PathBuf,
    pub index_path: PathBuf,
    /// The index is at its default location (not `--index`).
    pub index_is_default: bool,
    pub jobs: usize,
    pub full_rescan: bool,
    /// `-v` (given once or more).
    pub verbose: bool,
    /// `-q`: no progress, no warnings, no line beyond the reference tool's.
    pub quiet: bool,
    /// Show progress bars on stderr: a terminal there, not `-q`, and the
    /// output is not JSON (see [`CacheConfig::with_json`]).
    pub progress: bool,
    /// How long to wait for a lock another run holds.
    pub wait: std::time::Duration,
    /// The command line, for lock holders and the history.
    pub command: String,
    /// The cache is on an object store (`--cache-dir s3://BUCKET/PREFIX`).
    pub store: Option<StoreUrl>,
    /// `--s3-endpoint`: an S3-compatible store's URL.
    pub s3_endpoint: Option<String>,
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

/// `-j` when not given: the reference's 8 on a local disk; 32 on a network
/// file system, where threads wait on round trips rather than use CPU.
pub const DEFAULT_JOBS: usize = 8;
pub const DEFAULT_JOBS_NETWORK: usize = 32;

fn default_jobs(cache_root: &std::path::Path) -> usize {
    match index::network_fs_of_dir(cache_root) {
        Some(_) => DEFAULT_JOBS_NETWORK,
        None => DEFAULT_JOBS,
    }
}

impl CacheConfig {
    pub fn resolve(args: &CacheArgs, cache_dir: PathBuf) -> Result<CacheConfig> {
        let store = match cache_dir.to_str() {
            Some(s) => StoreUrl::parse(s)?,
            None => None,
        };
        if store.is_none() && args.s3_endpoint.is_some() {
            bail!(
                "--s3-endpoint is for a cache on an object store (--cache-dir s3://BUCKET/PREFIX), not {}",
                cache_dir.display()
            );
        }
        let cache_root = match &store {
            // What the index records and paths are printed under.
            Some(url) => PathBuf::from(url.to_string()),
            None => {
                match std::fs::metadata(&cache_dir) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => bail!("--cache-dir {}: not a directory", cache_dir.display()),
                    Err(e) => bail!("--cache-dir {}: {e}", cache_dir.display()),
                }
                std::fs::canonicalize(&cache_dir).with_context(|| {
                    format!("--cache-dir {}: resolving its path", cache_dir.display())
                })?
            }
        };
        let cache_dir = if store.is_some() {
            cache_root.clone()
        } else {
            cache_dir
        };
        let index_path = match &args.index {
            Some(p) => p.clone(),
            None => index::default_path(&cache_root)?,
        };
        let jobs = match (args.jobs, &store) {
            (Some(j), _) => j as usize,
            // Requests wait on the network, as on NFS.
            (None, Some(_)) => DEFAULT_JOBS_NETWORK,
            (None, None) => default_jobs(&cache_root),
        };
        Ok(CacheConfig {
            cache_dir,
            cache_root,
            index_path,
            index_is_default: args.index.is_none(),
            jobs,
            full_rescan: args.full_rescan,
            verbose: args.verbose >= 1,
            quiet: args.quiet,
            progress: !args.quiet && crate::commands::ui::stderr_is_terminal(),
            wait: std::time::Duration::from_secs(args.wait),
            // (args_os: an argument that is not UTF-8 must not panic.)
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            store,
            s3_endpoint: args.s3_endpoint.clone(),
        })
    }
}

impl CacheConfig {
    /// With JSON output: no progress display (CI logs stay clean).
    pub fn with_json(mut self, json: bool) -> CacheConfig {
        self.progress &= !json;
        self
    }
}

/// A resolved cleanup: what the clean command runs with.
#[derive(Debug)]
pub struct CleanConfig {
    pub cache: CacheConfig,
    pub duplicates: Option<u32>,
    pub orphans: bool,
    pub stamps_dirs: Vec<PathBuf>,
    /// (cutoff ns, as written).
    pub older_than: Option<(i64, String)>,
    pub max_size: Option<(u64, String)>,
    pub custom: Option<Custom>,
    pub keep_newer_than: Option<(i64, String)>,
    pub keep_deps: Option<bool>,
    pub allow_unmatched_stamps: bool,
    pub follow_symlinks: bool,
    pub trash: bool,
    pub dry_run: bool,
    pub yes: bool,
    pub debug: u8,
    pub format: Format,
    /// When the run started (ns).
    pub started_ns: i64,
}

/// How far before the run's start "in use now" reaches (see `request`).
const IN_USE_MARGIN_NS: i64 = 2_000_000_000;

/// Now, in ns since the epoch: the reference for every duration of a run.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn cutoff(now: i64, w: &Written<u64>) -> (i64, String) {
    (
        now.saturating_sub((w.value as i64).saturating_mul(1_000_000_000)),
        w.text.clone(),
    )
}

impl CleanConfig {
    /// Whether any policy was asked for.
    pub fn has_policy(a: &CleanArgs) -> bool {
        a.remove_duplicated
            || a.remove_orphans
            || !a.stamps_dir.is_empty()
            || a.older_than.is_some()
            || a.max_size.is_some()
            || a.select_sql.is_some()
            || a.where_.is_some()
    }

    pub fn resolve(a: CleanArgs, cache: CacheConfig) -> Result<CleanConfig> {
        let now = now_ns();
        if cache.store.is_some() && a.follow_symlink {
            bail!("-L: an object store has no symlinks to follow");
        }
        if a.trash && a.follow_symlink {
            bail!(
                "--trash with -L: a link's target outside the cache cannot go to the trash; use one or the other"
            );
        }
        let custom = match (&a.select_sql, &a.where_) {
            (Some(_), Some(_)) => {
                bail!("--select-sql and --where: give one custom selection, not both")
            }
            (Some(f), None) => Some(Custom::from_file(f)?),
            (None, Some(w)) => Some(Custom::from_where(w)?),
            (None, None) => None,
        };
        Ok(CleanConfig {
            cache,
            duplicates: a.remove_duplicated.then(|| a.keep_per_group.unwrap_or(1)),
            orphans: a.remove_orphans,
            stamps_dirs: a.stamps_dir,
            older_than: a.older_than.as_ref().map(|w| cutoff(now, w)),
            max_size: a.max_size.map(|w| (w.value, w.text)),
            custom,
            keep_newer_than: a.keep_newer_than.as_ref().map(|w| cutoff(now, w)),
            keep_deps: match (a.keep_deps, a.no_keep_deps) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            allow_unmatched_stamps: a.allow_unmatched_stamps,
            follow_symlinks: a.follow_symlink,
            trash: a.trash,
            dry_run: a.dry_run,
            yes: a.yes,
            debug: a.debug,
            format: a.format,
            started_ns: now,
        })
    }

    /// The planning request, once the stamps (if any) are read.
    pub fn request(&self, stamps: Option<Vec<StampDir>>) -> Request {
        let mut policies = Vec::new();
        if let Some(keep) = self.duplicates {
            policies.push(Policy::Duplicates { keep });
        }
        if let Some(dirs) = stamps {
            policies.push(Policy::Stamps(dirs));
        }
        if self.orphans {
            policies.push(Policy::Orphans);
        }
        if let Some((cutoff_ns, spec)) = &self.older_than {
            policies.push(Policy::OlderThan {
                cutoff_ns: *cutoff_ns,
                spec: spec.clone(),
            });
        }
        if let Some(c) = &self.custom {
            policies.push(Policy::Custom(c.clone()));
        }
        if let Some((bytes, spec)) = &self.max_size {
            policies.push(Policy::MaxSize {
                bytes: *bytes,
                spec: spec.clone(),
            });
        }
        Request {
            policies,
            keep_newer_than: self.keep_newer_than.clone(),
            // File times come from the kernel's coarse clock (a tick behind
            // ours) or an NFS server's: a margin makes "used since the run
            // started" err on the side of keeping.
            run_started_ns: Some(self.started_ns - IN_USE_MARGIN_NS),
            keep_deps: self.keep_deps,
            allow_unmatched_stamps: self.allow_unmatched_stamps,
            follow_symlinks: self.follow_symlinks,
            fresh_baseline: !self.dry_run,
            read_only: false,
            reuse_restats: false,
            record_restats: false,
            jobs: self.cache.jobs,
            progress: Default::default(),
        }
    }
}
