//! Generate a deterministic, realistic sstate cache (and the stamps of its
//! latest build) for demos, tests and benchmarks.
//!
//! ```text
//! cargo run --release --example gencache -- --objects 100000 [--seed 1] \
//!     [--stamps DIR] [--sparse] [--no-odd-files] [--analyze] CACHE_DIR
//! ```
//!
//! Prints `objects=N entries=N bytes=N dirs=N odd_files=N stamps=N`; with
//! `--analyze`, a second line from an independent scan of the result (groups,
//! duplicates, orphans, objects the stamps reference).

use anyhow::{Context, Result, bail};
use clap::Parser;
use sstate_corpus::{CorpusSpec, generate};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Generate a deterministic sstate cache corpus")]
struct Args {
    /// Number of sstate objects (distinct stems).
    #[arg(long)]
    objects: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the stamps of the latest build here (must be empty or absent).
    #[arg(long, value_name = "DIR")]
    stamps: Option<PathBuf>,
    /// Archives as sparse files of realistic sizes (10 KB - 50 MB).
    #[arg(long)]
    sparse: bool,
    /// No temp/lock/odd files, no symlink archives.
    #[arg(long)]
    no_odd_files: bool,
    /// Scan the result and print group/duplicate/orphan/stamp statistics.
    #[arg(long)]
    analyze: bool,
    /// Print the generation time on stderr.
    #[arg(long)]
    time: bool,
    /// Where to write the cache (must be empty or absent).
    cache_dir: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.cache_dir.exists()
        && fs::read_dir(&args.cache_dir)
            .with_context(|| format!("reading {}", args.cache_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "refusing to write into non-empty {}",
            args.cache_dir.display()
        );
    }
    let spec = CorpusSpec {
        objects: args.objects,
        seed: args.seed,
        odd_files: !args.no_odd_files,
        sparse: args.sparse,
    };
    let start = Instant::now();
    let s = generate(&args.cache_dir, args.stamps.as_deref(), &spec)?;
    if args.time {
        eprintln!("generated in {:.2?}", start.elapsed());
    }
    println!(
        "objects={} entries={} bytes={} dirs={} odd_files={} stamps={}",
        s.objects, s.entries, s.bytes, s.dirs, s.odd_files, s.stamps_files
    );
    if args.analyze {
        println!(
            "generator: recipes={} archives={} orphan_objects={} missing_archives={} \
             newest_objects={} stamped_objects={} symlinks={} truncated_names={}",
            s.recipes,
            s.archives,
            s.orphan_objects,
            s.missing_archives,
            s.newest_objects,
            s.stamped_objects,
            s.symlinks,
            s.truncated_names
        );
        analyze(&args.cache_dir, args.stamps.as_deref())?;
    }
    Ok(())
}

const EXTS: &[&str] = &[
    ".tar.zst.siginfo",
    ".tar.zst.sig",
    ".tar.zst.done",
    ".tar.zst",
    ".tgz.siginfo",
    ".tgz.sig",
    ".tgz.done",
    ".tgz",
];

#[derive(Default)]
struct Obj {
    group: String,
    hash: String,
    archive_mtime: Option<i64>,
    newest_mtime: i64,
    files: usize,
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, fs::Metadata)>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let m = fs::symlink_metadata(&p).with_context(|| format!("lstat {}", p.display()))?;
        if m.is_dir() {
            walk(&p, out)?;
        } else {
            out.push((p, m));
        }
    }
    Ok(())
}

/// An independent look at the tree, by the rules of SSTATE.md.
fn analyze(cache: &Path, stamps: Option<&Path>) -> Result<()> {
    let mut files = Vec::new();
    walk(cache, &mut files)?;
    let mut objs: HashMap<String, Obj> = HashMap::new();
    let mut odd = 0;
    for (p, m) in &files {
        let rel = p.strip_prefix(cache).unwrap_or(p);
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(ext) = EXTS.iter().find(|e| name.ends_with(*e)) else {
            odd += 1;
            continue;
        };
        let stem = &name[..name.len() - ext.len()];
        let f: Vec<&str> = stem.split(':').collect();
        let parsed = f.len() == 8 && f[0] == "sstate" && f[7].split_once('_').is_some();
        if !parsed {
            odd += 1;
            continue;
        }
        let Some((hash, task)) = f[7].split_once('_') else {
            continue;
        };
        let comps: Vec<_> = rel.components().collect();
        let extrapath: Vec<String> = comps[..comps.len().saturating_sub(3)]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let group = format!(
            "{}|{}|{}|{}|{}|{}",
            extrapath.join("/"),
            f[1],
            f[2],
            f[5],
            f[6],
            task
        );
        let key = format!("{}/{}", extrapath.join("/"), stem);
        let o = objs.entry(key).or_default();
        o.group = group;
        o.hash = hash.to_string();
        o.newest_mtime = o.newest_mtime.max(m.mtime());
        o.files += 1;
        if *ext == ".tar.zst" || *ext == ".tgz" {
            o.archive_mtime = Some(m.mtime());
        }
    }
    let mut groups: HashMap<&str, Vec<&Obj>> = HashMap::new();
    for o in objs.values() {
        groups.entry(o.group.as_str()).or_default().push(o);
    }
    let dup_groups: Vec<(&&str, &Vec<&Obj>)> = groups.iter().filter(|(_, v)| v.len() > 1).collect();
    let lic_dups = dup_groups
        .iter()
        .filter(|(g, _)| g.ends_with("|populate_lic"))
        .count();
    // -d per the contract: keep the newest archive (or newest entry if none).
    let (mut dup_selected, mut dup_selected_files) = (0, 0);
    for (g, v) in &dup_groups {
        if g.ends_with("|populate_lic") {
            continue;
        }
        let with_archive: Vec<i64> = v.iter().filter_map(|o| o.archive_mtime).collect();
        let keep = |o: &Obj| match with_archive.iter().max() {
            Some(&m) => o.archive_mtime == Some(m),
            None => o.newest_mtime == v.iter().map(|o| o.newest_mtime).max().unwrap_or(0),
        };
        for o in v.iter().filter(|o| !keep(o)) {
            dup_selected += 1;
            dup_selected_files += o.files;
        }
    }
    let orphans = objs.values().filter(|o| o.archive_mtime.is_none()).count();
    let orphan_files: usize = objs
        .values()
        .filter(|o| o.archive_mtime.is_none())
        .map(|o| o.files)
        .sum();
    let archive_groups: HashSet<&str> = objs
        .values()
        .filter(|o| o.archive_mtime.is_some())
        .map(|o| o.group.as_str())
        .collect();
    let orphans_in_archive_groups = objs
        .values()
        .filter(|o| o.archive_mtime.is_none() && archive_groups.contains(o.group.as_str()))
        .count();
    let groups_without_archive = groups.len() - archive_groups.len();
    print!(
        "scan: objects={} odd={} groups={} dup_groups={} dup_groups_populate_lic={} \
         dup_selected={} ({} files) orphans={} ({} files) orphans_in_archive_groups={} \
         groups_without_archive={}",
        objs.len(),
        odd,
        groups.len(),
        dup_groups.len(),
        lic_dups,
        dup_selected,
        dup_selected_files,
        orphans,
        orphan_files,
        orphans_in_archive_groups,
        groups_without_archive
    );
    if let Some(st) = stamps {
        let mut sfiles = Vec::new();
        walk(st, &mut sfiles)?;
        let mut hashes = HashSet::new();
        for (p, _) in &sfiles {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some((_, h)) = name.split_once(".sigdata.") {
                hashes.insert(h.to_string());
            } else if let Some(i) = name.find("_setscene.")
                && let Some(h) = name[i + 10..].split('.').next()
            {
                hashes.insert(h.to_string());
            }
        }
        let used = objs.values().filter(|o| hashes.contains(&o.hash)).count();
        let unused_files: usize = objs
            .values()
            .filter(|o| !hashes.contains(&o.hash))
            .map(|o| o.files)
            .sum();
        print!(
            " stamp_hashes={} stamped_objects={} unstamped_objects={} ({} files)",
            hashes.len(),
            used,
            objs.len() - used,
            unused_files
        );
    }
    println!();
    Ok(())
}
