//! `completions SHELL` and `man`: generated from the command line the
//! binary parses, printed on stdout (man pages also into a directory).

use crate::common::*;
use std::fs;
use std::process::Command;

fn run(args: &[&str]) -> Run {
    Cache::new().run_raw(args, None)
}

#[test]
fn completions_for_every_shell_name_the_options_and_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        out.expect_code(0);
        // fish spells a long option `-l cache-dir`.
        let long = |name: &str| match shell {
            "fish" => format!("-l {name}"),
            _ => format!("--{name}"),
        };
        // Options of subcommands (report --html) too.
        for name in ["cache-dir", "remove-duplicated", "older-than", "html"] {
            assert!(out.stdout.contains(&long(name)), "{shell}: no --{name}");
        }
        for word in ["report", "trash", "query"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("tcsh"), "{}", out.stderr);
}

#[test]
fn bash_completion_is_valid_bash_and_completes() {
    let out = run(&["completions", "bash"]);
    out.expect_code(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("sscm.bash");
    fs::write(&script, &out.stdout).expect("writing the script");
    let Ok(check) = Command::new("bash").arg("-n").arg(&script).output() else {
        eprintln!("no bash: syntax not checked");
        return;
    };
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Source it and ask for the completions of `sstate-cache-management --cache-`.
    let probe = format!(
        "source {}; COMP_WORDS=(sstate-cache-management --cache-); COMP_CWORD=1; \
         COMP_LINE='sstate-cache-management --cache-'; COMP_POINT=${{#COMP_LINE}}; \
         fn=$(complete -p sstate-cache-management | sed 's/.* -F \\([^ ]*\\).*/\\1/'); \
         $fn sstate-cache-management --cache- sstate-cache-management; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let done = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("running bash");
    let words = String::from_utf8_lossy(&done.stdout);
    assert!(
        words.lines().any(|w| w == "--cache-dir"),
        "completions of --cache-: {words:?} {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

#[test]
fn man_page_is_roff_with_the_options() {
    let out = run(&["man"]);
    out.expect_code(0);
    let th = out
        .stdout
        .lines()
        .find(|l| l.starts_with(".TH"))
        .unwrap_or_else(|| panic!("no .TH header:\n{}", out.stdout));
    assert!(th.starts_with(".TH sstate-cache-management 1"), "{th}");
    // Nothing but roff requests and comments before the header.
    for line in out.stdout.lines().take_while(|l| !l.starts_with(".TH")) {
        assert!(line.starts_with('.') || line.starts_with("'\\\""), "{line}");
    }
    for word in [
        "cache\\-dir",
        "remove\\-duplicated",
        "older\\-than",
        ".SH NAME",
        ".SH SUBCOMMANDS",
    ] {
        assert!(out.stdout.contains(word), "no {word}");
    }
}

#[test]
fn man_dir_writes_a_page_per_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let man_dir = dir.path().join("man1");
    let out = run(&["man", "--dir", man_dir.to_str().expect("UTF-8")]);
    out.expect_code(0);
    assert_eq!(out.stdout, "");
    for page in [
        "sstate-cache-management.1",
        "sstate-cache-management-report.1",
        "sstate-cache-management-completions.1",
        "sstate-cache-management-trash.1",
    ] {
        let text = fs::read_to_string(man_dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}");
    }
    let report =
        fs::read_to_string(man_dir.join("sstate-cache-management-report.1")).expect("report page");
    assert!(report.contains("html"), "report page names --html");
}
