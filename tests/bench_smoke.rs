//! The benchmark script at a tiny size, so that it does not rot: it must
//! generate caches, run every measured command successfully and print the
//! table. (The real benchmark is `python3 bench/run.py`, see BENCHMARKS.md.)

use std::path::PathBuf;
use std::process::Command;

/// Run a benchmark script with `--smoke --no-build --bin BIN` and `extra`
/// (examples, by flag name), check it succeeded, and return its stdout.
fn smoke(script: &str, examples: &[&str]) -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sstate-cache-management"));
    // `cargo test` builds the examples next to the binary's directory.
    let dir = bin
        .parent()
        .expect("binary has a parent dir")
        .join("examples");
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{}/bench/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(["--smoke", "--no-build", "--bin"])
        .arg(&bin);
    for example in examples {
        let path = dir.join(example);
        assert!(
            path.exists(),
            "examples/{example} not built at {}",
            path.display()
        );
        cmd.arg(format!("--{example}")).arg(path);
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn benchmark_script_runs_at_a_tiny_size() {
    let stdout = smoke("run.py", &["gencache"]);
    for step in [
        "| floor |",
        "| cold -d -n |",
        "| warm -d -n |",
        "| warm -d -n after 1% churn |",
        "| warm -d -n after 1% reuse + 1% churn |",
        "| cold --max-size 50% -n |",
        "| warm --max-size 50% -n after 1% churn |",
        "| cold --stamps-dir -n |",
        "| report (warm) |",
        "| remove -d -y |",
    ] {
        assert!(stdout.contains(step), "missing {step} in:\n{stdout}");
    }
    assert!(stdout.contains("files/s"), "no removal rate in:\n{stdout}");
}

/// The object-store benchmark at a tiny size (it starts the test suite's
/// S3 server, as the S3 tests do).
#[test]
fn s3_benchmark_script_runs_at_a_tiny_size() {
    let stdout = smoke("s3.py", &["gencache", "s3list"]);
    for step in [
        "| floor: parallel listing (s3list) |",
        "| cold scan |",
        "| warm scan |",
        "| -d -y |",
    ] {
        assert!(stdout.contains(step), "missing {step} in:\n{stdout}");
    }
    assert!(
        stdout.contains("POST"),
        "no multi-object delete counted:\n{stdout}"
    );
}
