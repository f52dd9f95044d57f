//! The `sstate-cache-management` binary: parse, run, map errors to exit codes.

mod cli;
mod commands;
mod config;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command, Format, TableFormat};
use commands::ui;
use config::{CacheConfig, CleanConfig, cache_dir_from};
use std::process::ExitCode;

/// A fixed mmap threshold for glibc's malloc (its default, 128 KiB).
///
/// By default glibc raises the threshold to the size of each large block
/// freed (up to 32 MiB), so after the first big array is freed, the next
/// ones (the plan's id lists, `--max-size`'s arrays, report rows) come
/// from the heap, where what is freed stays resident around SQLite's
/// pages. At 1M objects that left `report` and `--max-size` at 206 and
/// 209 MB of peak RSS for 103 and 183 MB of live allocations; with the
/// threshold fixed, large blocks are mapped and unmapped whole.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before
    // any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> ExitCode {
    tune_malloc();
    sstate_cache_management::index::tune_sqlite();
    let cli = match Cli::try_parse_from(cli::hoist_global_options(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(code) = bare_path_hint(&e) {
                return ExitCode::from(code);
            }
            e.exit()
        }
    };
    ui::set_quiet(cli.cache.quiet);
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            ui::error(&format!("{e:#}"));
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
    let cache = &cli.cache;
    match cli.command {
        Some(Command::Scan(args)) => {
            let Some(cfg) = resolve(cache, args.format == Format::Json)? else {
                return no_cache_dir();
            };
            commands::scan::run(&cfg, args.format)
        }
        Some(Command::Report(args)) => {
            let Some(cfg) = resolve(cache, args.format != TableFormat::Table)? else {
                return no_cache_dir();
            };
            commands::report::run(&cfg, &args.stamps_dir, args.format, args.html.as_deref())
        }
        Some(Command::Trash(args)) => {
            let Some(cfg) = resolve(cache, false)? else {
                return no_cache_dir();
            };
            commands::trash::run(&cfg, args.action)
        }
        Some(Command::Touch(args)) => {
            let Some(cfg) = resolve(cache, args.format == Format::Json)? else {
                return no_cache_dir();
            };
            commands::touch::run(&cfg, &args.stamps_dir, args.dry_run, args.format)
        }
        Some(Command::Completions(args)) => commands::docs::completions(args.shell),
        Some(Command::Man(args)) => commands::docs::man(args.dir.as_deref()),
        Some(Command::Query(args)) => {
            let Some(cfg) = resolve(cache, args.format != TableFormat::Table)? else {
                return no_cache_dir();
            };
            commands::query::run(&cfg, &args.sql, args.format)
        }
        None => {
            let a = cli.clean;
            // Usage errors first (as the reference tool), then the dir itself.
            let Some(dir) = cache_dir_from(cache) else {
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
            let json = a.format == Format::Json;
            let cache = CacheConfig::resolve(cache, dir)?.with_json(json);
            let cfg = CleanConfig::resolve(a, cache)?;
            commands::clean::run(&cfg)
        }
    }
}

/// The cache configuration, or None when no cache dir was given anywhere.
fn resolve(args: &cli::CacheArgs, json: bool) -> anyhow::Result<Option<CacheConfig>> {
    cache_dir_from(args)
        .map(|dir| CacheConfig::resolve(args, dir).map(|c| c.with_json(json)))
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
    ui::error(why);
    Ok(1)
}

/// A bare path where clap expected a subcommand or an option
/// (`sstate-cache-management /srv/sstate-cache`): say what was probably
/// meant instead of "unrecognized subcommand". Returns the exit code (2,
/// a usage error) when it printed the hint.
fn bare_path_hint(e: &clap::Error) -> Option<u8> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let kind = match e.kind() {
        // `sstate-cache-management DIR …`
        ErrorKind::InvalidSubcommand => ContextKind::InvalidSubcommand,
        // `sstate-cache-management -d DIR`: clap takes DIR for a
        // subcommand that cannot follow options.
        ErrorKind::ArgumentConflict => ContextKind::InvalidSubcommand,
        ErrorKind::UnknownArgument => ContextKind::InvalidArg,
        _ => return None,
    };
    let Some(ContextValue::String(arg)) = e.get(kind) else {
        return None;
    };
    let path = std::path::Path::new(arg);
    let is_command = Cli::command()
        .get_subcommands()
        .any(|c| c.get_name() == arg.as_str());
    if is_command || arg.starts_with('-') || !(arg.contains('/') || path.is_dir()) {
        return None;
    }
    ui::error(&format!(
        "unexpected argument '{arg}': did you mean --cache-dir {arg}?"
    ));
    eprintln!();
    eprint!("{}", Cli::command().render_usage());
    eprintln!();
    eprintln!();
    eprintln!("For more information, try '--help'.");
    Some(2)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
