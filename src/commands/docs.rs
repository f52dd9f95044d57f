//! `completions` and `man`: the command line described for shells and for
//! man(1), generated from the same clap definitions that parse it.

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

const NAME: &str = "sstate-cache-management";

/// Print the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let mut cmd = Cli::command();
    // Generated into memory first: clap_complete panics on a failed write,
    // and a closed pipe must end the command quietly.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, NAME, &mut script);
    write_stdout(&script)?;
    Ok(0)
}

/// Print the main man page on stdout, or write the main page and one per
/// subcommand (`sstate-cache-management-report.1`, ...) into `dir`.
pub fn man(dir: Option<&Path>) -> Result<i32> {
    let cmd = Cli::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .context("rendering the man page")?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
    }
    Ok(0)
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing to stdout")
}
