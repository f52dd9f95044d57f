//! Siginfo files: zstd-compressed JSON as BitBake's `dump_sigtask` writes it.
//!
//! `dump_sigtask` (`lib/bb/siggen.py`) writes
//! `json.dump(data, f, sort_keys=True, separators=(",", ":"), cls=SetEncoder)`
//! through `zstd -c -3`, where `data` holds `basehash`,
//! `basehash_ignore_vars`, `file_checksum_values`, `gendeps`, `runtaskdeps`,
//! `runtaskhashes`, `taint` (only when the task is tainted), `task`,
//! `taskdeps`, `taskhash`, `taskhash_ignore_tasks`, `unihash` and `varvals`.
//! `SetEncoder` writes sets (`basehash_ignore_vars`, `taskdeps`, each
//! `gendeps` value) as `{"_set_object":[sorted members]}`. The file is
//! written here in that exact shape and key order; the bulk (`gendeps`,
//! `varvals`, `taskdeps`) comes from [`crate::metadata::Universe`], and its
//! size is drawn per task type and recipe so that compressed sizes follow a
//! real cache's (median about 9 KB, p90 about 16 KB, at most about 40 KB).
//! Like the `zstd` command fed from a pipe, frames carry a checksum and no
//! content size.

use crate::metadata::{BuildSys, RecipeInfo, Universe, build_sys_for, fnv, json_str};
use crate::rng::SplitMix64;
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::fs;
use std::path::Path;

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

pub(crate) fn zstd_compress(data: &[u8]) -> Result<Vec<u8>> {
    use zstd::zstd_safe::CParameter;
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            // BitBake pipes the JSON through `zstd -c -3`: level 3, a content
            // checksum, and no content size in the frame header.
            let mut c = zstd::bulk::Compressor::new(3).context("creating zstd compressor")?;
            c.set_parameter(CParameter::ChecksumFlag(true))
                .context("zstd checksum flag")?;
            c.set_parameter(CParameter::ContentSizeFlag(false))
                .context("zstd content size flag")?;
            *slot = Some(c);
        }
        let Some(c) = slot.as_mut() else {
            bail!("zstd compressor unavailable")
        };
        c.compress(data).context("zstd compression")
    })
}

/// The task name (without `do_`) of an sstate file name, if it has one.
pub(crate) fn task_of_file_name(name: &str) -> Option<&str> {
    let last = name.rsplit(':').next()?;
    let (_, task_ext) = last.split_once('_')?;
    Some(task_ext.split('.').next().unwrap_or(task_ext))
}

/// Piecewise-linear quantile function: `(u in 0..=10000, value)` knots.
fn quantile(r: &mut SplitMix64, knots: &[(u64, u64)]) -> u64 {
    let u = r.below(10_001);
    for w in knots.windows(2) {
        let ((u0, v0), (u1, v1)) = (w[0], w[1]);
        if u <= u1 {
            return if v1 >= v0 {
                v0 + (v1 - v0) * (u - u0) / (u1 - u0).max(1)
            } else {
                v0 - (v0 - v1) * (u - u0) / (u1 - u0).max(1)
            };
        }
    }
    knots.last().map_or(1000, |k| k.1)
}

/// Size factor of a recipe (permille): big recipes are big in every task.
const RECIPE_FACTOR: &[(u64, u64)] = &[
    (0, 250),
    (1000, 400),
    (2500, 600),
    (5000, 1000),
    (7500, 1700),
    (9000, 3000),
    (9700, 4300),
    (10_000, 5500),
];
/// Per-object variation around the recipe's size (permille).
const JITTER: &[(u64, u64)] = &[
    (0, 750),
    (2500, 900),
    (5000, 1000),
    (7500, 1120),
    (10_000, 1400),
];
/// Upper bound of a body (bytes of JSON): about 40 KB compressed.
const MAX_RAW: u64 = 150_000;

/// The siginfo of one task.
pub(crate) struct SigTask<'a> {
    /// `do_TASK`.
    pub(crate) task: &'a str,
    pub(crate) taskhash: &'a str,
    pub(crate) unihash: &'a str,
    /// `runtaskhashes`: dependency task id -> unihash, sorted by id.
    pub(crate) deps: &'a [(String, String)],
}

/// The recipe's size factor (permille), stable for all its tasks.
pub(crate) fn recipe_factor(key: u64) -> u64 {
    quantile(&mut SplitMix64::keyed(key, &[0x51e]), RECIPE_FACTOR)
}

fn set_bit(bits: &mut [u64], i: u32) {
    bits[i as usize / 64] |= 1 << (i % 64);
}

fn has_bit(bits: &[u64], i: u32) -> bool {
    bits[i as usize / 64] & (1 << (i % 64)) != 0
}

fn for_each_bit(bits: &[u64], mut f: impl FnMut(usize)) {
    for (w, &x) in bits.iter().enumerate() {
        let mut x = x;
        while x != 0 {
            f(w * 64 + x.trailing_zeros() as usize);
            x &= x - 1;
        }
    }
}

/// sha256-looking checksum of a file of the recipe.
fn file_checksum(key: u64, name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    SplitMix64::keyed(key, &[h, 0xf11e]).hex(64)
}

/// `file_checksum_values`: (name, checksum or None), sorted.
fn file_checksums(task: &str, recipe: &RecipeInfo<'_>) -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> = Vec::new();
    match (task, recipe.build) {
        ("do_fetch", _) => {
            for (f, present) in recipe.local_files() {
                let cs = present.then(|| file_checksum(recipe.key, &f));
                v.push((f, cs));
            }
            for f in recipe.license_files() {
                let base = f.rsplit('/').next().unwrap_or(&f).to_string();
                let cs = file_checksum(recipe.key, &f);
                v.push((base, Some(cs)));
            }
        }
        ("do_configure", BuildSys::Autotools) => {
            // Site files (`siteinfo_get_files`): the same for every recipe.
            for f in [
                "common",
                "common-linux",
                "common-glibc",
                "endian-little",
                "bit-64",
                "x86_64-linux",
            ] {
                v.push((f.to_string(), Some(file_checksum(0x5173, f))));
            }
        }
        ("do_configure", BuildSys::Kernel) | ("do_kernel_configme", _) => {
            for (f, present) in recipe.local_files() {
                if f == "defconfig" || f.ends_with(".conf") {
                    let cs = present.then(|| file_checksum(recipe.key, &f));
                    v.push((f, cs));
                }
            }
        }
        _ => {}
    }
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// The JSON `dump_sigtask` writes for `t` (sorted keys, compact), into `s`
/// (cleared first). `body` drives every random choice of the body.
pub(crate) fn siginfo_json(
    t: &SigTask<'_>,
    recipe: &RecipeInfo<'_>,
    body: &mut SplitMix64,
    s: &mut String,
) {
    let u = Universe::get();
    let prof = u.profile(t.task);
    let basehash = body.hex(64);
    let jitter = quantile(body, JITTER);
    let tainted = body.chance(4) && matches!(t.task, "do_configure" | "do_compile" | "do_install");
    let taint = {
        let h = body.hex(32);
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            ["8", "9", "a", "b"][body.below(4) as usize],
            &h[17..20],
            &h[20..32]
        )
    };
    // Selection: the task's roots (closure), then fill up to the target.
    let tf = prof.task_fn(recipe.build);
    let mut sel = tf.bits.clone();
    let mut weight = u64::from(tf.weight);
    let extra = u64::from(prof.extra) * recipe_factor(recipe.key) / 1000 * jitter / 1000;
    let target = (weight + extra).min(MAX_RAW);
    let cands = &prof.candidates;
    let (mut misses, mut tries) = (0, 0);
    while weight < target && misses < 24 && tries < 600 && !cands.is_empty() {
        tries += 1;
        let c = cands[body.below(cands.len() as u64) as usize];
        if has_bit(&sel, c) {
            continue;
        }
        let closure = &u.entries[c as usize].closure;
        let add: u64 = closure
            .iter()
            .filter(|&&i| !has_bit(&sel, i))
            .map(|&i| u64::from(u.entries[i as usize].weight))
            .sum();
        if weight + add > target + target / 8 {
            misses += 1;
            continue;
        }
        for &i in closure {
            set_bit(&mut sel, i);
        }
        weight += add;
    }

    s.clear();
    s.reserve(weight as usize + 4096);
    s.push_str("{\"basehash\":\"");
    s.push_str(&basehash);
    s.push_str("\",\"basehash_ignore_vars\":");
    s.push_str(&u.ignore_json);
    s.push_str(",\"file_checksum_values\":[");
    for (k, (f, cs)) in file_checksums(t.task, recipe).iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push('[');
        s.push_str(&json_str(f));
        match cs {
            Some(c) => {
                s.push_str(",\"");
                s.push_str(c);
                s.push_str("\"]");
            }
            None => s.push_str(",null]"),
        }
    }
    s.push_str("],\"gendeps\":{");
    let mut first = true;
    for_each_bit(&sel, |i| {
        let e = &u.entries[i];
        if e.name != t.task {
            if !first {
                s.push(',');
            }
            first = false;
            s.push_str(&e.j_gendeps);
        }
    });
    s.push_str("},\"runtaskdeps\":[");
    for (k, (id, _)) in t.deps.iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&json_str(id));
    }
    s.push_str("],\"runtaskhashes\":{");
    for (k, (id, h)) in t.deps.iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&json_str(id));
        s.push(':');
        s.push_str(&json_str(h));
    }
    s.push('}');
    if tainted {
        s.push_str(",\"taint\":\"");
        s.push_str(&taint);
        s.push('"');
    }
    s.push_str(",\"task\":");
    let j_task = json_str(t.task);
    s.push_str(&j_task);
    s.push_str(",\"taskdeps\":{\"_set_object\":[");
    let mut first = true;
    for_each_bit(&sel, |i| {
        let e = &u.entries[i];
        if e.name != t.task {
            if !first {
                s.push(',');
            }
            first = false;
            s.push_str(&e.j_name);
        }
    });
    s.push_str("]},\"taskhash\":");
    s.push_str(&json_str(t.taskhash));
    s.push_str(",\"taskhash_ignore_tasks\":null,\"unihash\":");
    s.push_str(&json_str(t.unihash));
    s.push_str(",\"varvals\":{");
    // The task's own body sits among its dependencies in sorted order.
    let mut task_done = false;
    let mut first = true;
    let mut dynval = String::new();
    for_each_bit(&sel, |i| {
        let e = &u.entries[i];
        if e.name == t.task {
            return;
        }
        if !task_done && t.task.as_bytes() < e.name.as_bytes() {
            if !first {
                s.push(',');
            }
            first = false;
            s.push_str(&j_task);
            s.push(':');
            s.push_str(&tf.j_value);
            task_done = true;
        }
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&e.j_varval);
        if let Some(d) = e.dynamic {
            dynval.clear();
            if recipe.render(d, &mut dynval) {
                s.push_str(&json_str(&dynval));
            } else {
                s.push_str("null");
            }
        }
    });
    if !task_done {
        if !first {
            s.push(',');
        }
        s.push_str(&j_task);
        s.push(':');
        s.push_str(&tf.j_value);
    }
    s.push_str("}}");
}

/// Write a real siginfo: zstd-compressed JSON as BitBake's `dump_sigtask`
/// writes it, with keys `task` (from the file name, `do_unknown` otherwise),
/// `taskhash`, `unihash`, `basehash`, `taskdeps`, `runtaskdeps`,
/// `runtaskhashes` (dependency task id -> unihash), `varvals`, ... and a body
/// of realistic size for the task. PN, PV and PR come from the file name
/// when it parses.
pub fn write_siginfo(
    path: &Path,
    taskhash: &str,
    unihash: &str,
    deps: &[(String, String)],
) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let task = match task_of_file_name(name) {
        Some(t) if !t.is_empty() => format!("do_{t}"),
        _ => "do_unknown".to_string(),
    };
    let f: Vec<&str> = name.split(':').collect();
    let field = |i: usize, default: &'static str| match f.get(i) {
        Some(v) if f.len() == 8 && !v.is_empty() => *v,
        _ => default,
    };
    let (pn, pv, pr) = (field(1, "unknown"), field(3, "1.0"), field(4, "r0"));
    let key = fnv(pn);
    let recipe = RecipeInfo {
        bpn: pn,
        pv,
        pr,
        key,
        build: build_sys_for(key, pn),
    };
    let mut r = SplitMix64::keyed(fnv(taskhash), &[1]);
    let mut json = String::new();
    siginfo_json(
        &SigTask {
            task: &task,
            taskhash,
            unihash,
            deps,
        },
        &recipe,
        &mut r,
        &mut json,
    );
    let data = zstd_compress(json.as_bytes())?;
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}
