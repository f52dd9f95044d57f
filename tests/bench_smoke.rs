//! The benchmark script at a tiny size, so that it does not rot: it must
//! generate caches, run every measured command successfully and print the
//! table. (The real benchmark is `python3 bench/run.py`, see BENCHMARKS.md.)

use std::path::PathBuf;
use std::process::Command;

#[test]
fn benchmark_script_runs_at_a_tiny_size() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sstate-cache-management"));
    // `cargo test` builds the examples next to the binary's directory.
    let gencache = bin
        .parent()
        .expect("binary has a parent dir")
        .join("examples")
        .join("gencache");
    assert!(
        gencache.exists(),
        "examples/gencache not built at {}",
        gencache.display()
    );
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/run.py"))
        .args(["--smoke", "--no-build", "--bin"])
        .arg(&bin)
        .arg("--gencache")
        .arg(&gencache)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
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
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sstate-cache-management"));
    let examples = bin
        .parent()
        .expect("binary has a parent dir")
        .join("examples");
    for example in ["gencache", "s3list"] {
        assert!(
            examples.join(example).exists(),
            "examples/{example} not built"
        );
    }
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/s3.py"))
        .args(["--smoke", "--no-build", "--bin"])
        .arg(&bin)
        .arg("--gencache")
        .arg(examples.join("gencache"))
        .arg("--s3list")
        .arg(examples.join("s3list"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
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
