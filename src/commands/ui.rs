//! How the commands talk to a person: colour (only on a terminal, never
//! with `NO_COLOR`), `-q`, and figures a person reads (sizes, durations).
//! Pipes get plain text, byte for byte what the reference tool prints.

use anstyle::{AnsiColor, Style};
use sstate_cache_management::units::human_duration;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: set once, before anything is printed.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
/// The summary line.
pub const EMPHASIS: Style = Style::new().bold();
/// What a cleanup frees.
pub const FREED: Style = AnsiColor::Green.on_default().bold();

/// Whether to colour stdout: anstream's rules (a terminal that takes
/// colour; `NO_COLOR` turns it off, `CLICOLOR_FORCE` on).
pub fn stdout_color() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
    })
}

/// Whether to colour stderr (the same rules).
pub fn stderr_color() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
    })
}

/// Whether stderr is a terminal that can redraw a line (progress bars).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// `text` in `style` when `on`, else as it is.
pub fn paint(on: bool, style: Style, text: impl std::fmt::Display) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// `warning: MSG` on stderr (nothing with `-q`).
pub fn warning(msg: &str) {
    if !quiet() {
        eprintln!("{}: {msg}", paint(stderr_color(), WARNING, "warning"));
    }
}

/// `error: MSG` on stderr (also with `-q`).
pub fn error(msg: &str) {
    eprintln!("{}: {msg}", paint(stderr_color(), ERROR, "error"));
}

/// Milliseconds as a person reads them: `840 ms`, `12.3 s`, `4m 12s`.
pub fn millis(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        human_duration(ms / 1000)
    }
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(millis(840), "840 ms");
        assert_eq!(millis(12_345), "12.3 s");
        assert_eq!(millis(252_000), "4m 12s");
    }

    #[test]
    fn paint_is_plain_when_off() {
        assert_eq!(paint(false, ERROR, "error"), "error");
        assert_ne!(paint(true, ERROR, "error"), "error");
    }
}
