//! The `sstate-cache-management` binary: parse, run, map errors to exit codes.

mod cli;
mod commands;
mod config;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use config::{CacheConfig, CleanConfig, cache_dir_from};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            // EX_TEMPFAIL: another run holds the lock; try again later.
            if e.downcast_ref::<sstate_cache_management::lock::Busy>()
                .is_some()
            {
                return ExitCode::from(75);
            }
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Scan(args)) => {
            let Some(cfg) = resolve(&args.cache)? else {
                return no_cache_dir();
            };
            commands::scan::run(&cfg, args.format)
        }
        Some(Command::Report(args)) => {
            let Some(cfg) = resolve(&args.cache)? else {
                return no_cache_dir();
            };
            commands::report::run(&cfg, &args.stamps_dir, args.format, args.html.as_deref())
        }
        Some(Command::Trash(args)) => {
            let Some(cfg) = resolve(&args.cache)? else {
                return no_cache_dir();
            };
            commands::trash::run(&cfg, args.action)
        }
        Some(Command::Completions(args)) => commands::docs::completions(args.shell),
        Some(Command::Man(args)) => commands::docs::man(args.dir.as_deref()),
        Some(Command::Query(args)) => {
            let Some(cfg) = resolve(&args.cache)? else {
                return no_cache_dir();
            };
            commands::query::run(&cfg, &args.sql, args.format)
        }
        None => {
            let a = cli.clean;
            // Usage errors first (as the reference tool), then the dir itself.
            let Some(dir) = cache_dir_from(&a.cache) else {
                return no_cache_dir();
            };
            if !CleanConfig::has_policy(&a) {
                return usage(
                    "no cleanup policy: pass -d, --stamps-dir DIR, --remove-orphans, --older-than, \
                     --max-size, --where or --select-sql",
                );
            }
            if a.extra_archs.is_some() {
                commands::warn(
                    "--extra-archs has no effect (the index knows every architecture in the cache)",
                );
            }
            if a.extra_layer.is_some() {
                commands::warn(
                    "--extra-layer has no effect (the index knows every architecture in the cache)",
                );
            }
            let cache = CacheConfig::resolve(&a.cache, dir)?;
            let cfg = CleanConfig::resolve(a, cache)?;
            commands::clean::run(&cfg)
        }
    }
}

/// The cache configuration, or None when no cache dir was given anywhere.
fn resolve(args: &cli::CacheArgs) -> anyhow::Result<Option<CacheConfig>> {
    cache_dir_from(args)
        .map(|dir| CacheConfig::resolve(args, dir))
        .transpose()
}

fn no_cache_dir() -> anyhow::Result<i32> {
    usage("no cache dir: pass --cache-dir DIR or set SSTATE_CACHE_DIR")
}

/// As the reference tool: print the usage and exit 1, with the reason on
/// stderr.
fn usage(why: &str) -> anyhow::Result<i32> {
    print!("{}", Cli::command().render_usage());
    println!();
    eprintln!("error: {why}");
    Ok(1)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
