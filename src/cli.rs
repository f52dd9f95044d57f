//! Command-line definitions (clap). Nothing here runs anything: `config.rs`
//! turns these into what the commands run with.

use clap::{Args, Parser, Subcommand, ValueEnum};
use sstate_cache_management::units;
use std::path::PathBuf;

/// A value as the user wrote it (`30d`, `500G`) and what it means.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub text: String,
    pub value: T,
}

fn duration(s: &str) -> Result<Written<u64>, String> {
    Ok(Written {
        text: s.to_string(),
        value: units::parse_duration(s)?,
    })
}

fn size(s: &str) -> Result<Written<u64>, String> {
    Ok(Written {
        text: s.to_string(),
        value: units::parse_size(s)?,
    })
}

const ABOUT: &str = "Keep a Yocto/OpenEmbedded shared-state (sstate) cache lean.

A drop-in replacement for OE-Core's sstate-cache-management.py that keeps an \
SQLite index of the cache, so that a second cleanup is near-instant and the \
cache can be queried.

Without a subcommand it cleans: pick one or more policies (-d, --stamps-dir, \
--remove-orphans, --older-than, --max-size, --where, --select-sql); it prints 'N out of M files will be removed!', asks \
'Do you want to continue (y/n)?' unless -y or -n, and removes only on y. \
Every object is checked again just before it is removed: one that a build \
used or rewrote since the scan is kept whole.";

const AFTER: &str = "Examples:
  sstate-cache-management --cache-dir sstate-cache -d -n
  sstate-cache-management --cache-dir sstate-cache --stamps-dir build/tmp/stamps -y
  sstate-cache-management --cache-dir sstate-cache --remove-orphans -d -D -n
  sstate-cache-management --cache-dir sstate-cache --older-than 30d --max-size 500G -y
  sstate-cache-management scan --cache-dir sstate-cache
  sstate-cache-management report --cache-dir sstate-cache
  sstate-cache-management query --cache-dir sstate-cache \\
      \"SELECT pn, sum(disk_bytes) AS bytes FROM objects GROUP BY pn ORDER BY bytes DESC LIMIT 10\"";

#[derive(Debug, Parser)]
#[command(
    name = "sstate-cache-management",
    version,
    about = "Keep a Yocto/OpenEmbedded shared-state (sstate) cache lean.",
    long_about = ABOUT,
    after_help = AFTER,
    args_conflicts_with_subcommands = true,
    // As the reference tool's argparse: an unambiguous prefix of a long
    // option is that option (--cache=DIR, --remove-dup).
    infer_long_args = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Global: before or after the subcommand alike.
    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub clean: CleanArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring the index up to date with the cache and print what changed.
    Scan(ScanArgs),
    /// Scan, then show what is in the cache: totals, breakdowns by task,
    /// architecture and EXTRAPATH, top recipes, ages, and what each policy
    /// would reclaim now.
    Report(ReportArgs),
    /// Run one read-only SQL statement against the index (views: entries,
    /// objects, groups, deps, scans, runs, removals). Scans first only if
    /// there is no index yet.
    Query(QueryArgs),
    /// List, restore or empty what cleanups with --trash moved aside.
    Trash(TrashArgs),
    /// Mark every object a build used (its stamps dir names it) as used
    /// now: on a mirror on an object store, a server-side copy of each key
    /// onto itself refreshes its last-modified time (nothing downloaded);
    /// on a local cache, the files' mtimes are set. Run it after each build
    /// that reads a mirror, so that --older-than and --max-size keep what
    /// builds still use.
    Touch(TouchArgs),
    /// Print a shell completion script on stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command
    /// into a directory.
    Man(ManArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Install, e.g.:
  sstate-cache-management completions bash > ~/.local/share/bash-completion/completions/sstate-cache-management
  sstate-cache-management completions zsh > ~/.zfunc/_sstate-cache-management   (with fpath+=~/.zfunc)
  sstate-cache-management completions fish > ~/.config/fish/completions/sstate-cache-management.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Install, e.g.:
  sstate-cache-management man --dir ~/.local/share/man/man1
  sstate-cache-management man | man -l -")]
pub struct ManArgs {
    /// Write sstate-cache-management.1 and a page per subcommand
    /// (sstate-cache-management-report.1, ...) into DIR instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrashArgs {
    #[command(subcommand)]
    pub action: TrashAction,
}

#[derive(Debug, Subcommand)]
pub enum TrashAction {
    /// The runs in the trash, oldest first: when, what, how much.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Move a run's files back into the cache (never over a file the cache
    /// has again). RUN is the name `trash list` shows, or a unique prefix.
    Restore {
        #[arg(value_name = "RUN")]
        run: String,
    },
    /// Delete runs from the trash for good: all of them, or those trashed
    /// more than DURATION ago.
    Empty {
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        older_than: Option<Written<u64>>,
    },
}

/// Where the cache and its index are, how to walk it, and how much to
/// say: options of every command, accepted before or after a subcommand.
#[derive(Debug, Args, Clone)]
pub struct CacheArgs {
    /// The sstate cache directory, or a mirror on an object store as
    /// s3://BUCKET/PREFIX (see --s3-endpoint) [default: $SSTATE_CACHE_DIR,
    /// else $SSTATE_DIR].
    #[arg(long, value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,

    /// The index database [default: $XDG_CACHE_HOME/sstate-cache-management/NAME-HASH.sqlite,
    /// one per cache].
    #[arg(long, value_name = "PATH", global = true)]
    pub index: Option<PathBuf>,

    /// Threads for scanning, reading siginfo files and removing [default: 8;
    /// 32 when the cache is on NFS, SMB, FUSE or another network file
    /// system, where every stat waits for the server: on a simulated NFS
    /// mount 32 ran cold scans, warm runs and removals about 3x faster
    /// than 8; see BENCHMARKS.md]. At most 256 are used.
    #[arg(short = 'j', long, value_name = "JOBS", global = true,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,

    /// List and stat every directory and entry, not only directories whose
    /// mtime or ctime changed. Cleanups need not: their plans re-stat what
    /// they depend on. It refreshes the whole index for report and query
    /// (last-use times of objects no plan looked at), and sees an mtime
    /// moved backwards in place (cp -p onto a file) and, for a dry run, a
    /// file of an object without an archive changed in place by something
    /// other than BitBake (which renames a new siginfo into place); slower.
    #[arg(long, global = true)]
    pub full_rescan: bool,

    /// Explain what is being done (on stderr); with -d, also which object
    /// of each group is kept and why.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Say less: no progress display, no warnings and not the line on
    /// stderr with what a cleanup frees (errors still print and set the
    /// exit code). Progress shows only when stderr is a terminal, and
    /// never with --format json.
    #[arg(short, long, conflicts_with = "verbose", global = true)]
    pub quiet: bool,

    /// When another run holds the index or the cache, wait up to SECONDS
    /// for it, then give up (exit code 75).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, global = true)]
    pub wait: u64,

    /// For a cache on an object store (--cache-dir s3://BUCKET/PREFIX): the
    /// URL of an S3-compatible store (MinIO, Ceph RGW, Garage, ...), e.g.
    /// http://minio.lan:9000 [default: $AWS_ENDPOINT_URL_S3, else
    /// $AWS_ENDPOINT_URL, else AWS S3]. Credentials and region come from
    /// the AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN, AWS_REGION, AWS_PROFILE) or ~/.aws/credentials.
    #[arg(long, value_name = "URL", global = true)]
    pub s3_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Remove the duplicated sstate objects of one recipe and task: only the
    /// newest is kept (--keep-per-group N keeps N). Objects of different
    /// architectures, EXTRAPATH dirs or SSTATE_VERSIONs are not duplicates;
    /// populate_lic is never touched.
    #[arg(short = 'd', long, conflicts_with = "stamps_dir")]
    pub remove_duplicated: bool,

    /// Remove every object that has no archive (orphan siginfo, .sig and
    /// .done files).
    #[arg(long)]
    pub remove_orphans: bool,

    /// A build's stamps directory (tmp/stamps): the objects it USES are
    /// KEPT, every other object in the cache is removed. Repeat for several
    /// builds.
    #[arg(long, value_name = "DIR", action = clap::ArgAction::Append)]
    pub stamps_dir: Vec<PathBuf>,

    /// Remove objects not used for DURATION (30d, 36h, 2w): last use is
    /// the newest mtime of an object's files, which builds update when
    /// they reuse it. Keeps the dependencies of what stays (see --keep-deps).
    #[arg(long, value_name = "DURATION", value_parser = duration,
          help_heading = "Policies beyond the reference tool")]
    pub older_than: Option<Written<u64>>,

    /// Remove the least recently used objects until the cache holds at most
    /// SIZE on disk (500G, 800M, 1.5T; powers of 1024; as du counts). Applied
    /// after the other policies; keeps the dependencies of what stays.
    #[arg(long, value_name = "SIZE", value_parser = size,
          help_heading = "Policies beyond the reference tool")]
    pub max_size: Option<Written<u64>>,

    /// With -d: keep the N newest objects of each group instead of one (for
    /// caches that several branches build into).
    #[arg(long, value_name = "N", requires = "remove_duplicated", value_parser = clap::value_parser!(u32).range(1..),
          help_heading = "Policies beyond the reference tool")]
    pub keep_per_group: Option<u32>,

    /// Remove the objects a read-only SQL query selects: FILE holds one
    /// SELECT over the public views (objects, entries, groups, deps) that
    /// returns an object_id column.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Policies beyond the reference tool"
    )]
    pub select_sql: Option<PathBuf>,

    /// Remove the objects matching an SQL condition over the objects view,
    /// e.g. "pn = 'linux-yocto' AND last_used < unixepoch('now','-14 days')".
    #[arg(
        long = "where",
        value_name = "EXPR",
        help_heading = "Policies beyond the reference tool"
    )]
    pub where_: Option<String>,

    /// Never remove objects used within DURATION (for caches that running
    /// builds write into). Applies to every policy.
    #[arg(long, value_name = "DURATION", value_parser = duration, help_heading = "Protections")]
    pub keep_newer_than: Option<Written<u64>>,

    /// Keep every object that a kept object depends on (read from the
    /// siginfo files), for every policy. On by default for --older-than and
    /// --max-size only.
    #[arg(long, overrides_with = "no_keep_deps", help_heading = "Protections")]
    pub keep_deps: bool,

    /// Do not keep dependencies (not even for --older-than and --max-size).
    #[arg(long, overrides_with = "keep_deps", help_heading = "Protections")]
    pub no_keep_deps: bool,

    /// Go on even if a --stamps-dir names no object of the cache (almost
    /// always the wrong stamps dir: every object would be removed).
    #[arg(long, help_heading = "Protections")]
    pub allow_unmatched_stamps: bool,

    /// Move the selected objects into the cache's trash
    /// (.sstate-cache-management/trash/RUN, one rename each; on an object
    /// store, a server-side copy under that prefix, then a delete) instead
    /// of removing them; `trash restore RUN` undoes it, `trash empty` frees
    /// the space.
    #[arg(long)]
    pub trash: bool,

    /// Do not remove anything: plan and report only.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Show debug info; -D lists every path to be removed.
    #[arg(short = 'D', long, action = clap::ArgAction::Count)]
    pub debug: u8,

    /// Accepted for compatibility with the shell script; has no effect.
    #[arg(long, value_name = "ARCHS", hide_short_help = true)]
    pub extra_archs: Option<String>,

    /// Accepted for compatibility with the shell script; has no effect.
    #[arg(long, value_name = "LAYERS", hide_short_help = true)]
    pub extra_layer: Option<String>,

    /// Also remove the target of a selected symlink entry (a file in a local
    /// sstate mirror) when the target has the same sstate file name; the
    /// target is checked again just before, like every file.
    #[arg(short = 'L', long)]
    pub follow_symlink: bool,

    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Also report what these builds' stamps leave unreferenced (repeatable).
    #[arg(long, value_name = "DIR", action = clap::ArgAction::Append)]
    pub stamps_dir: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,

    /// Also write the report as one self-contained HTML page (SVG charts,
    /// no scripts or network needed; its figures embedded as JSON) to FILE.
    /// The report is still printed in --format.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "After each CI build that uses the mirror, e.g.:
  sstate-cache-management touch --cache-dir s3://ci-sstate/poky --stamps-dir build/tmp/stamps")]
pub struct TouchArgs {
    /// A build's stamps directory (tmp/stamps); repeat for several builds.
    #[arg(long, value_name = "DIR", required = true)]
    pub stamps_dir: Vec<PathBuf>,

    /// Only say how many files would be touched.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,

    /// The SQL statement, e.g. "SELECT pn, sum(disk_bytes) FROM objects GROUP BY pn ORDER BY 2 DESC LIMIT 10".
    #[arg(value_name = "SQL")]
    pub sql: String,
}

/// Output format of tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Csv,
}

/// Output format of a scan or a cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The arguments with the global options given *before* a subcommand moved
/// after it: `--cache-dir X report` is `report --cache-dir X` (clap would
/// refuse it, since cleanup options and subcommands exclude each other).
/// Only when every argument before the subcommand is a global option (or
/// an unambiguous prefix of one, as `--cache=X`); anything else is left
/// for clap to judge.
pub fn hoist_global_options(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .flat_map(|s| {
            std::iter::once(s.get_name().to_string()).chain(s.get_all_aliases().map(String::from))
        })
        .chain(["help".to_string()])
        .collect();
    let longs: Vec<(String, bool, bool)> = cmd
        .get_arguments()
        .filter_map(|a| {
            a.get_long().map(|l| {
                (
                    l.to_string(),
                    a.is_global_set(),
                    a.get_action().takes_values(),
                )
            })
        })
        .collect();
    let shorts: Vec<(char, bool)> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_short().map(|s| (s, a.get_action().takes_values())))
        .collect();
    let mut i = 1;
    while i < args.len() {
        let Some(tok) = args[i].to_str() else {
            return args;
        };
        if let Some(long) = tok.strip_prefix("--") {
            let (name, has_value) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let exact = longs.iter().find(|(l, ..)| l == name);
            let mut prefixed = longs.iter().filter(|(l, ..)| l.starts_with(name));
            let found = match exact {
                Some(e) => Some(e),
                None => match (prefixed.next(), prefixed.next()) {
                    (Some(one), None) if !name.is_empty() => Some(one),
                    _ => None,
                },
            };
            match found {
                Some((_, true, takes)) => i += if *takes && !has_value { 2 } else { 1 },
                _ => return args,
            }
        } else if let Some(cluster) = tok.strip_prefix('-').filter(|c| !c.is_empty()) {
            let mut chars = cluster.chars();
            let Some(first) = chars.next() else {
                return args;
            };
            match shorts.iter().find(|(s, _)| *s == first) {
                Some((_, true)) => i += if cluster.len() > 1 { 1 } else { 2 },
                Some((_, false)) if chars.all(|c| shorts.iter().any(|(s, t)| *s == c && !t)) => {
                    i += 1
                }
                _ => return args,
            }
        } else if i > 1 && subcommands.iter().any(|s| s == tok) {
            let mut out = Vec::with_capacity(args.len());
            out.push(args[0].clone());
            out.push(args[i].clone());
            out.extend(args[1..i].iter().cloned());
            out.extend(args[i + 1..].iter().cloned());
            return out;
        } else {
            return args;
        }
    }
    args
}
