//! Siginfo files: zstd-compressed JSON as BitBake's `dump_sigtask` writes it.

use crate::rng::SplitMix64;
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::fs;
use std::path::Path;

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

pub(crate) fn zstd_compress(data: &[u8]) -> Result<Vec<u8>> {
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(3).context("creating zstd compressor")?);
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

pub(crate) const VAR_POOL: &[&str] = &[
    "AR",
    "AS",
    "BUILD_CFLAGS",
    "BUILD_LDFLAGS",
    "CC",
    "CFLAGS",
    "CPP",
    "CXX",
    "CXXFLAGS",
    "DEPENDS",
    "EXTRA_OECONF",
    "EXTRA_OEMAKE",
    "FILES",
    "LDFLAGS",
    "LICENSE",
    "MACHINE_ARCH",
    "PACKAGECONFIG",
    "PACKAGES",
    "PARALLEL_MAKE",
    "PATH",
    "PKG_CONFIG_PATH",
    "PV",
    "PR",
    "RDEPENDS",
    "S",
    "B",
    "D",
    "SRC_URI",
    "SRCREV",
    "STAGING_DIR_HOST",
    "TARGET_ARCH",
    "TUNE_FEATURES",
    "WORKDIR",
    "autotools_do_configure",
    "base_do_compile",
    "oe_runmake",
    "sstate_create_package",
];

/// The JSON BitBake's `dump_sigtask` writes (sorted keys, compact), for the
/// fields a cleanup tool looks at plus a realistic body.
pub(crate) fn siginfo_json(
    task: &str,
    taskhash: &str,
    unihash: &str,
    basehash: &str,
    deps: &[(String, String)],
    body: &mut SplitMix64,
) -> Result<Vec<u8>> {
    use serde_json::{Map, Value, json};
    let mut runtaskhashes = Map::new();
    let mut runtaskdeps = Vec::new();
    for (k, v) in deps {
        runtaskhashes.insert(k.clone(), Value::String(v.clone()));
        runtaskdeps.push(Value::String(k.clone()));
    }
    let nvars = body.range(3, 9) as usize;
    let mut taskdeps: Vec<&str> = (0..nvars).map(|_| *body.pick(VAR_POOL)).collect();
    taskdeps.sort_unstable();
    taskdeps.dedup();
    let mut varvals = Map::new();
    let mut gendeps = Map::new();
    for v in &taskdeps {
        varvals.insert(
            (*v).into(),
            Value::String(format!("${{{}}} {}", v, body.hex(12))),
        );
        gendeps.insert((*v).into(), json!([]));
    }
    varvals.insert(
        task.into(),
        Value::String(format!("    bbnote {}\n", body.hex(24))),
    );
    let doc = json!({
        "basehash": basehash,
        "basehash_ignore_vars": ["BB_TASKHASH", "DATE", "DATETIME", "PWD", "TIME", "TMPDIR"],
        "file_checksum_values": [],
        "gendeps": gendeps,
        "runtaskdeps": runtaskdeps,
        "runtaskhashes": runtaskhashes,
        "taint": null,
        "task": task,
        "taskdeps": taskdeps,
        "taskhash": taskhash,
        "taskhash_ignore_tasks": null,
        "unihash": unihash,
        "varvals": varvals,
    });
    serde_json::to_vec(&doc).context("serialising siginfo JSON")
}

/// Write a real siginfo: zstd-compressed JSON as BitBake's `dump_sigtask`
/// writes it, with keys `task` (from the file name, `do_unknown` otherwise),
/// `taskhash`, `unihash`, `basehash`, `taskdeps`, `runtaskdeps`,
/// `runtaskhashes` (dependency task id -> unihash), `varvals`, ...
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
    let key: u64 = taskhash.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut r = SplitMix64::keyed(key, &[1]);
    let basehash = r.hex(64);
    let json = siginfo_json(&task, taskhash, unihash, &basehash, deps, &mut r)?;
    let data = zstd_compress(&json)?;
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}
