//! What reading dependency edges costs per siginfo file, on one thread:
//! the floor under any cold run that needs them (BENCHMARKS.md, "Reading
//! siginfo").
//!
//! Usage: siginfo_cost CACHE_DIR [MAX_FILES]
//!
//! Reads every `*.siginfo` under CACHE_DIR into memory first (not timed
//! with the rest), then times, each over all files: zstd decompression
//! alone (a reused context, as the tool does), and the tool's whole
//! decoding (decompression, the key search and the parse of
//! `runtaskhashes`). Prints microseconds per file and CPU-seconds in all.

use sstate_cache_management::siginfo::Reader;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let root = args
        .get(1)
        .ok_or("usage: siginfo_cost CACHE_DIR [MAX_FILES]")?;
    let max: usize = args
        .get(2)
        .map(|m| m.parse())
        .transpose()?
        .unwrap_or(usize::MAX);
    let t = Instant::now();
    let mut files: Vec<Vec<u8>> = Vec::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry?;
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().ends_with(".siginfo")
        {
            files.push(std::fs::read(entry.path())?);
            if files.len() >= max {
                break;
            }
        }
    }
    let read_s = t.elapsed().as_secs_f64();
    let compressed: usize = files.iter().map(Vec::len).sum();

    let mut dctx = zstd::bulk::Decompressor::new()?;
    let mut out = Vec::with_capacity(1 << 20);
    let (mut decompressed, mut failed) = (0usize, 0usize);
    let t = Instant::now();
    for f in &files {
        out.clear();
        match dctx.decompress_to_buffer(f, &mut out) {
            Ok(n) => decompressed += n,
            Err(_) => failed += 1,
        }
    }
    let zstd_s = t.elapsed().as_secs_f64();

    let mut reader = Reader::default();
    let (mut edges, mut unreadable) = (0usize, 0usize);
    let t = Instant::now();
    for f in &files {
        match reader.deps_of_bytes(f) {
            Ok(d) => edges += d.len(),
            Err(_) => unreadable += 1,
        }
    }
    let whole_s = t.elapsed().as_secs_f64();

    let n = files.len().max(1) as f64;
    println!(
        "files={} compressed_mb={:.1} decompressed_mb={:.1} zstd_failed={failed} unreadable={unreadable} edges={edges}",
        files.len(),
        compressed as f64 / 1e6,
        decompressed as f64 / 1e6
    );
    println!("read (walk + read into memory): {:.2} s", read_s);
    println!(
        "zstd alone: {:.1} us/file, {:.2} CPU-s in all, {:.0} MB/s decompressed",
        zstd_s / n * 1e6,
        zstd_s,
        decompressed as f64 / 1e6 / zstd_s
    );
    println!(
        "the tool's decoding (zstd + key search + parse): {:.1} us/file, {:.2} CPU-s in all",
        whole_s / n * 1e6,
        whole_s
    );
    Ok(())
}
