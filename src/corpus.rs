//! Deterministic, realistic sstate cache corpus generator.
//!
//! Used by the integration tests (small corpora), the README demo and the
//! benchmarks (10^5..10^6 objects). The same [`CorpusSpec`] produces a
//! byte-identical tree (names, contents, sizes, mtimes) on every machine: all
//! randomness comes from a seeded SplitMix64, all arithmetic is integer.
//!
//! # What a corpus holds
//!
//! A corpus is a list of *recipes* ("plans"), each built in one to six
//! *generations* (successive builds of the same recipe with new PV/PR/unihash,
//! mtimes increasing with the generation). The newest generation of every
//! recipe is "the latest build"; the stamps written under `stamps_dir` refer to
//! it only. The first fourteen recipes are a fixed showcase (busybox,
//! openssl-native, gcc-source, a host-specific `ubuntu-22.04/` twin,
//! gcc-cross-x86_64, linux-yocto, os-release, a recipe whose names are
//! truncated to exactly 254 characters, zlib with a legacy `.tgz` and an SSVER
//! 13 generation, ...), so every feature is present from about 300 objects on;
//! the rest are drawn at random. Recipes are generated in a fixed order, so a
//! smaller corpus is a prefix (in recipes) of a bigger one with the same seed.
//!
//! Layout, names and stamps follow `SSTATE.md` sections 2-3:
//! `[EXTRAPATH/]HH/hh/sstate:PN:PKGTARGET:PV:PR:PKGARCH:SSVER:UNIHASH_TASK.EXT`,
//! `SSTATE_SWSPEC` names (`sstate:PN::PV:PR::SSVER:`, top level) for
//! `populate_lic` and the siginfo of `fetch`/`unpack`/`patch`/`preconfigure`,
//! stamps `STAMPS/SYS/PN/PV-PR.do_TASK.sigdata.H`,
//! `…do_TASK_setscene.H[.EXTRAINFO]`, plain `…do_TASK.H`, and
//! `STAMPS/work-shared/gcc-13.2.0-r0.do_TASK.sigdata.H` for shared-workdir
//! recipes.
//!
//! Things a consumer must tolerate (on purpose):
//! - siginfo of the legacy `.tgz` generation (SSVER 3, 32-hex md5 unihashes) is
//!   *not* zstd JSON (BitBake of that era wrote pickles);
//! - with `odd_files`, a few archives are dangling symlinks (relative target
//!   `../../../sstate-mirror/...` that does not exist), and temp files, lock
//!   files, `README`, `lost+found/`, `.nfs…` and unparseable `sstate:` names
//!   sit next to the entries;
//! - host-specific `ubuntu-22.04/` recipes are not part of the latest build, so
//!   no stamp names them (see [`CorpusSummary::stamped_objects`]).

use anyhow::{Context, Result, bail};
use filetime::FileTime;
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// 2026-01-01T00:00:00Z. Every file mtime is at most this; every directory
/// mtime is exactly this.
pub const BASE_EPOCH: i64 = 1_767_225_600;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusSpec {
    /// Number of sstate objects (an object = archive and/or companions sharing one stem).
    pub objects: usize,
    pub seed: u64,
    /// Sprinkle temp files, `*.lock`, non-sstate files, unparseable `sstate:`
    /// names, `lost+found/` and dangling-symlink archives.
    pub odd_files: bool,
    /// Archives as sparse files of a realistic size (10 KB - 50 MB) via `set_len`
    /// instead of a few hundred bytes to a few KB of real data.
    pub sparse: bool,
}

impl CorpusSpec {
    pub fn new(objects: usize, seed: u64) -> Self {
        Self {
            objects,
            seed,
            odd_files: true,
            sparse: false,
        }
    }
}

/// What was generated. Counts are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusSummary {
    /// Distinct stems (= `CorpusSpec::objects`).
    pub objects: usize,
    /// Files whose names parse as sstate entries: archives (also symlinks),
    /// `.siginfo`, `.sig`, `.done`.
    pub entries: usize,
    /// Sum of the `lstat` sizes of the entries (apparent size; sparse archives
    /// count with their full length, symlinks with their target's length).
    pub bytes: u64,
    /// Non-entries in the cache: temp files, locks, README, `.nfs…`,
    /// unparseable names, and the `lost+found` directory.
    pub odd_files: usize,
    /// Directories below the cache dir (not counting the cache dir itself).
    pub dirs: usize,
    /// Files written below the stamps dir.
    pub stamps_files: usize,
    /// Recipes (plans) the objects belong to.
    pub recipes: usize,
    /// Objects that have an archive (regular file or symlink).
    pub archives: usize,
    /// Objects without an archive (siginfo-only tasks plus archive tasks whose
    /// archive is gone): what `--remove-orphans` selects.
    pub orphan_objects: usize,
    /// Objects of archive tasks whose archive is missing (subset of `orphan_objects`).
    pub missing_archives: usize,
    /// Objects belonging to the newest generation of their recipe.
    pub newest_objects: usize,
    /// Objects whose unihash a `.sigdata.`/`_setscene.` stamp names (0 without
    /// a stamps dir): newest generation of every recipe of the latest build.
    pub stamped_objects: usize,
    /// Archive entries that are (dangling) symlinks.
    pub symlinks: usize,
    /// Entries whose name was shortened by the 254-character rule.
    pub truncated_names: usize,
}

impl CorpusSummary {
    fn add(&mut self, o: &CorpusSummary) {
        self.objects += o.objects;
        self.entries += o.entries;
        self.bytes += o.bytes;
        self.odd_files += o.odd_files;
        self.dirs += o.dirs;
        self.stamps_files += o.stamps_files;
        self.recipes += o.recipes;
        self.archives += o.archives;
        self.orphan_objects += o.orphan_objects;
        self.missing_archives += o.missing_archives;
        self.newest_objects += o.newest_objects;
        self.stamped_objects += o.stamped_objects;
        self.symlinks += o.symlinks;
        self.truncated_names += o.truncated_names;
    }
}

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// SplitMix64: tiny, seedable, identical output on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

fn fmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one independent stream, derived from `seed` and a key path.
    pub fn keyed(seed: u64, parts: &[u64]) -> Self {
        let mut h = fmix64(seed ^ 0x5353_5441_5445_2d21);
        for &p in parts {
            h = fmix64(h ^ fmix64(p.wrapping_add(0x9E37_79B9_7F4A_7C15)));
        }
        Self::new(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        fmix64(self.state)
    }

    /// Uniform in `0..n` (0 when n == 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `len` lowercase hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            let mut v = self.next_u64();
            for _ in 0..16 {
                s.push(HEX[(v & 15) as usize] as char);
                v >>= 4;
            }
        }
        s.truncate(len);
        s
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// Integer log-uniform size in `lo..=hi` (power-of-two buckets).
    fn log_size(&mut self, lo: u64, hi: u64) -> u64 {
        let blo = 63 - lo.max(1).leading_zeros();
        let bhi = 63 - hi.max(2).leading_zeros();
        let b = self.range(u64::from(blo), u64::from(bhi.max(blo)));
        let v = (1u64 << b) + self.below(1u64 << b);
        v.clamp(lo, hi)
    }
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// The fields of an sstate file name. `file_name` implements OE-Core's
/// `generate_sstatefn` including its 254-character truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameParts {
    pub pn: String,
    pub pkgtarget: String,
    pub pv: String,
    pub pr: String,
    pub pkgarch: String,
    pub ssver: String,
    pub unihash: String,
    /// Task name without `do_`.
    pub task: String,
}

/// Python's `s[:n]` for ASCII strings (negative n cuts from the end).
fn py_prefix(s: &str, n: i64) -> &str {
    let len = s.len() as i64;
    let end = if n >= 0 { n.min(len) } else { (len + n).max(0) };
    s.get(..end as usize).unwrap_or(s)
}

impl NameParts {
    /// An `SSTATE_SWSPEC` name: `sstate:PN::PV:PR::SSVER:` (PKGTARGET and
    /// PKGARCH empty). Such entries live at the top level (no EXTRAPATH).
    pub fn swspec(pn: &str, pv: &str, pr: &str, ssver: &str, unihash: &str, task: &str) -> Self {
        Self {
            pn: pn.into(),
            pkgtarget: String::new(),
            pv: pv.into(),
            pr: pr.into(),
            pkgarch: String::new(),
            ssver: ssver.into(),
            unihash: unihash.into(),
            task: task.into(),
        }
    }

    /// `sstate:PN:PKGTARGET:PV:PR:PKGARCH:SSVER:` (untruncated).
    pub fn spec(&self) -> String {
        format!(
            "sstate:{}:{}:{}:{}:{}:{}:",
            self.pn, self.pkgtarget, self.pv, self.pr, self.pkgarch, self.ssver
        )
    }

    /// The file name for extension `ext` (`.tar.zst`, `.tar.zst.siginfo`,
    /// `.tar.zst.sig`, `.tar.zst.done`, `.tgz`, ...).
    ///
    /// As in OE-Core: the archive name (`.tar.zst`/`.tgz`) is limited to
    /// 254 - 8 characters, and companions are the archive name plus their
    /// suffix, so a `.siginfo` is at most 254 characters. When the name is too
    /// long, PKGTARGET, PV and PR are each cut to
    /// `avail = (limit - len(hash + "_" + task + ext) - len("sstate") - len(pn) -
    /// len(pkgarch) - len(ssver) - 7) // 3`. (For `.tar.zst.siginfo` this is
    /// identical to `generate_sstatefn(..., siginfo=True)`.) Other extensions
    /// are treated as a whole with the 254 limit.
    pub fn file_name(&self, ext: &str) -> String {
        self.name_and_truncated(ext).0
    }

    /// Whether `file_name(ext)` had to shorten the name.
    pub fn is_truncated(&self, ext: &str) -> bool {
        self.name_and_truncated(ext).1
    }

    fn name_and_truncated(&self, ext: &str) -> (String, bool) {
        let (base, suffix, limit) = if let Some(rest) = ext.strip_prefix(".tar.zst") {
            (".tar.zst", rest, 254 - 8)
        } else if let Some(rest) = ext.strip_prefix(".tgz") {
            (".tgz", rest, 254 - 8)
        } else {
            (ext, "", 254)
        };
        let hash_task = format!("{}_{}", self.unihash, self.task);
        let spec = self.spec();
        if (spec.len() + hash_task.len() + base.len()) as i64 <= limit {
            return (format!("{spec}{hash_task}{base}{suffix}"), false);
        }
        let avail = (limit
            - (hash_task.len() + base.len()) as i64
            - "sstate".len() as i64
            - self.pn.len() as i64
            - self.pkgarch.len() as i64
            - self.ssver.len() as i64
            - 7)
        .div_euclid(3);
        let name = format!(
            "sstate:{}:{}:{}:{}:{}:{}:{hash_task}{base}{suffix}",
            self.pn,
            py_prefix(&self.pkgtarget, avail),
            py_prefix(&self.pv, avail),
            py_prefix(&self.pr, avail),
            self.pkgarch,
            self.ssver,
        );
        (name, true)
    }

    /// `[EXTRAPATH/]HH/hh` from the unihash.
    pub fn rel_dir(&self, extrapath: &str) -> PathBuf {
        let h = &self.unihash;
        PathBuf::from(extrapath.trim_end_matches('/'))
            .join(h.get(0..2).unwrap_or("__"))
            .join(h.get(2..4).unwrap_or("__"))
    }

    /// `[EXTRAPATH/]HH/hh/NAME`.
    pub fn rel_path(&self, extrapath: &str, ext: &str) -> PathBuf {
        self.rel_dir(extrapath).join(self.file_name(ext))
    }
}

/// Convenience: the full (possibly truncated) file name of an sstate entry.
#[allow(clippy::too_many_arguments)]
pub fn sstate_name(
    pn: &str,
    pkgtarget: &str,
    pv: &str,
    pr: &str,
    pkgarch: &str,
    ssver: &str,
    unihash: &str,
    task: &str,
    ext: &str,
) -> String {
    NameParts {
        pn: pn.into(),
        pkgtarget: pkgtarget.into(),
        pv: pv.into(),
        pr: pr.into(),
        pkgarch: pkgarch.into(),
        ssver: ssver.into(),
        unihash: unihash.into(),
        task: task.into(),
    }
    .file_name(ext)
}

// ---------------------------------------------------------------------------
// Siginfo
// ---------------------------------------------------------------------------

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_compress(data: &[u8]) -> Result<Vec<u8>> {
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
fn task_of_file_name(name: &str) -> Option<&str> {
    let last = name.rsplit(':').next()?;
    let (_, task_ext) = last.split_once('_')?;
    Some(task_ext.split('.').next().unwrap_or(task_ext))
}

const VAR_POOL: &[&str] = &[
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
fn siginfo_json(
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

// ---------------------------------------------------------------------------
// Recipe model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Fetch,
    Unpack,
    Patch,
    Preconfigure,
    Configure,
    Compile,
    Install,
    PopulateLic,
    PopulateSysroot,
    Package,
    Packagedata,
    PackageWriteIpk,
    PackageWriteRpm,
    PackageQa,
    Deploy,
    Rootfs,
    Image,
    PopulateLicDeploy,
    ImageComplete,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Task::Fetch => "fetch",
            Task::Unpack => "unpack",
            Task::Patch => "patch",
            Task::Preconfigure => "preconfigure",
            Task::Configure => "configure",
            Task::Compile => "compile",
            Task::Install => "install",
            Task::PopulateLic => "populate_lic",
            Task::PopulateSysroot => "populate_sysroot",
            Task::Package => "package",
            Task::Packagedata => "packagedata",
            Task::PackageWriteIpk => "package_write_ipk",
            Task::PackageWriteRpm => "package_write_rpm",
            Task::PackageQa => "package_qa",
            Task::Deploy => "deploy",
            Task::Rootfs => "rootfs",
            Task::Image => "image",
            Task::PopulateLicDeploy => "populate_lic_deploy",
            Task::ImageComplete => "image_complete",
        }
    }

    fn id(self) -> u64 {
        self as u64 + 1
    }

    /// Uses `SSTATE_SWSPEC` (`sstate:PN::PV:PR::SSVER:`, top level).
    fn swspec(self) -> bool {
        matches!(
            self,
            Task::Fetch | Task::Unpack | Task::Patch | Task::Preconfigure | Task::PopulateLic
        )
    }

    fn has_archive(self) -> bool {
        matches!(
            self,
            Task::PopulateLic
                | Task::PopulateSysroot
                | Task::Package
                | Task::Packagedata
                | Task::PackageWriteIpk
                | Task::PackageWriteRpm
                | Task::PackageQa
                | Task::Deploy
                | Task::PopulateLicDeploy
                | Task::ImageComplete
        )
    }

    fn intra_deps(self) -> &'static [Task] {
        match self {
            Task::Fetch | Task::Rootfs => &[],
            Task::Unpack => &[Task::Fetch],
            Task::Patch => &[Task::Unpack],
            Task::Preconfigure => &[Task::Patch],
            Task::Configure => &[Task::Preconfigure, Task::Patch],
            Task::Compile => &[Task::Configure],
            Task::Install => &[Task::Compile],
            Task::PopulateLic => &[Task::Patch],
            Task::PopulateSysroot | Task::Package | Task::Deploy => &[Task::Install],
            Task::Packagedata => &[Task::Package],
            Task::PackageWriteIpk | Task::PackageWriteRpm => &[Task::Package, Task::Packagedata],
            Task::PackageQa => &[
                Task::Packagedata,
                Task::PackageWriteIpk,
                Task::PackageWriteRpm,
            ],
            Task::Image => &[Task::Rootfs],
            Task::PopulateLicDeploy | Task::ImageComplete => &[Task::Image],
        }
    }

    /// (lo, hi) archive size: real bytes, sparse length.
    fn sizes(self) -> ((u64, u64), (u64, u64)) {
        const K: u64 = 1024;
        const M: u64 = 1024 * 1024;
        match self {
            Task::PopulateLic | Task::PopulateLicDeploy => ((200, 900), (10 * K, 120 * K)),
            Task::PackageQa => ((200, 600), (10 * K, 40 * K)),
            Task::Packagedata => ((300, 1500), (10 * K, 300 * K)),
            Task::PopulateSysroot => ((400, 4000), (50 * K, 20 * M)),
            Task::Deploy | Task::ImageComplete => ((1000, 4000), (M, 50 * M)),
            _ => ((500, 4000), (100 * K, 50 * M)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Target,
    AllArch,
    Machine,
    Image,
    Native,
    /// A native recipe built on a host without uninative (`ubuntu-22.04/`).
    NativeHost,
    Cross,
    Shared,
}

#[derive(Debug, Clone)]
struct Generation {
    pv: String,
    pr: String,
    ssver: &'static str,
    /// thud-era: `.tgz`, SSVER 3, md5 (32 hex) hashes, pickle siginfo.
    legacy: bool,
    /// Start of this generation's build (unix seconds).
    time: i64,
}

#[derive(Debug, Clone)]
struct Plan {
    idx: usize,
    /// Recipe name (stamps dir name).
    pn: String,
    /// PN in the sstate file names (`gcc` for gcc-source-13.2.0).
    file_pn: String,
    /// Base name for recipe files and work-shared stamps.
    bpn: String,
    kind: Kind,
    pkgtarget: String,
    pkgarch: String,
    extrapath: &'static str,
    /// `MULTIMACH_TARGET_SYS`, or `work-shared`.
    stamp_sys: String,
    /// `MACHINE` for stamp-extra-info, if machine specific.
    machine: Option<&'static str>,
    recipe_dir: String,
    virt: &'static str,
    tasks: Vec<Task>,
    gens: Vec<Generation>,
    /// Earlier plans whose `populate_sysroot` this recipe's `configure` uses.
    deps: Vec<usize>,
    /// Part of the latest build (stamps name its newest generation).
    in_latest: bool,
    /// The latest build ran its tasks (vs restored them from sstate).
    ran: bool,
    /// Objects actually written (≤ total).
    cap: usize,
    force_orphans: bool,
    force_odd: bool,
    force_symlink: bool,
}

#[derive(Debug, Clone, Copy)]
struct ObjRef {
    task: Task,
    /// Generation whose signature made the object (its hash).
    hash_gen: usize,
    /// Newest generation that used (touched) it.
    use_gen: usize,
}

impl Plan {
    fn newest(&self) -> usize {
        self.gens.len() - 1
    }

    fn gen_has(&self, g: usize, t: Task) -> bool {
        self.tasks.contains(&t) && (!self.gens[g].legacy || t.has_archive())
    }

    fn same_src(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.gens[a], &self.gens[b]);
        x.pv == y.pv && x.pr == y.pr && x.ssver == y.ssver && x.legacy == y.legacy
    }

    /// The generation that produced the object of `t` used by generation `g`.
    /// SWSPEC tasks (fetch, unpack, patch, preconfigure, populate_lic) only
    /// depend on PV/PR, so a rebuild with the same PV/PR reuses their object.
    fn hash_gen(&self, g: usize, t: Task) -> usize {
        let mut k = g;
        if t.swspec() {
            while k > 0 && self.same_src(k - 1, k) {
                k -= 1;
            }
        }
        k
    }

    fn last_use_gen(&self, g: usize, t: Task) -> usize {
        let mut k = g;
        if t.swspec() {
            while k + 1 < self.gens.len() && self.same_src(k, k + 1) {
                k += 1;
            }
        }
        k
    }

    /// All objects, newest generation first (the order `cap` cuts).
    fn objects(&self) -> Vec<ObjRef> {
        let mut out = Vec::new();
        for g in (0..self.gens.len()).rev() {
            for &t in &self.tasks {
                if !self.gen_has(g, t) || self.last_use_gen(g, t) != g {
                    continue;
                }
                out.push(ObjRef {
                    task: t,
                    hash_gen: self.hash_gen(g, t),
                    use_gen: g,
                });
            }
        }
        out
    }

    fn recipe_key(&self, g: usize, t: Task) -> String {
        format!(
            "{}{}/{}_{}.bb:do_{}",
            self.virt,
            self.recipe_dir,
            self.bpn,
            self.gens[g].pv,
            t.name()
        )
    }

    /// Build-order offset of task `t` within generation `g` (seconds).
    fn task_offset(&self, seed: u64, g: usize, t: Task) -> i64 {
        let mut r = SplitMix64::keyed(seed, &[self.idx as u64, g as u64, 0x71e5]);
        let mut off = 0i64;
        for &x in &self.tasks {
            off += r.range(20, 600) as i64;
            if x == t {
                break;
            }
        }
        off
    }
}

fn obj_hash(seed: u64, plan: usize, g: usize, task: Task, legacy: bool) -> String {
    let mut r = SplitMix64::keyed(seed, &[plan as u64, g as u64, task.id(), 0x4a5b]);
    r.hex(if legacy { 32 } else { 64 })
}

// ---------------------------------------------------------------------------
// Recipe pools
// ---------------------------------------------------------------------------

const TARGET_NAMES: &[&str] = &[
    "glibc",
    "bash",
    "coreutils",
    "util-linux",
    "systemd",
    "dbus",
    "expat",
    "libffi",
    "ncurses",
    "readline",
    "sqlite3",
    "xz",
    "bzip2",
    "curl",
    "openssh",
    "e2fsprogs",
    "kmod",
    "shadow",
    "sed",
    "grep",
    "gawk",
    "findutils",
    "tar",
    "gzip",
    "perl",
    "python3",
    "libxml2",
    "libxslt",
    "gettext",
    "attr",
    "acl",
    "libcap",
    "libpam",
    "dropbear",
    "iproute2",
    "iptables",
    "wpa-supplicant",
    "alsa-lib",
    "mesa",
    "libdrm",
    "wayland",
    "weston",
    "gstreamer1.0",
    "gstreamer1.0-plugins-base",
    "glib-2.0",
    "gtk+3",
    "cairo",
    "pango",
    "harfbuzz",
    "freetype",
    "fontconfig",
    "libpng",
    "libjpeg-turbo",
    "tiff",
    "pixman",
    "libx11",
    "libxext",
    "elfutils",
    "gdb",
    "strace",
    "valgrind",
    "lttng-ust",
    "opkg",
    "rpm",
    "libsolv",
    "libarchive",
    "icu",
    "boost",
    "protobuf",
    "nodejs",
    "libgcc",
    "gcc-runtime",
    "gcc-sanitizers",
    "libtirpc",
    "libxcrypt",
    "bluez5",
    "connman",
    "avahi",
    "nettle",
    "gnutls",
    "libgcrypt",
    "libgpg-error",
    "json-c",
    "libyaml",
    "python3-pip",
    "python3-setuptools",
    "python3-numpy",
    "python3-requests",
    "libusb1",
    "pciutils",
    "usbutils",
    "ethtool",
    "i2c-tools",
    "mtd-utils",
    "dtc",
    "libevent",
    "lz4",
    "zstd",
    "libpcre2",
    "libidn2",
    "libunistring",
    "libseccomp",
    "libnl",
    "libmnl",
    "libnftnl",
    "nftables",
    "procps",
    "psmisc",
    "less",
    "nano",
    "vim",
    "htop",
    "tcpdump",
    "libpcap",
    "cronie",
    "rsync",
    "sudo",
];
/// Use the shared gcc source: no fetch/unpack/patch of their own.
const NO_FETCH: &[&str] = &["libgcc", "gcc-runtime", "gcc-sanitizers"];
const ALLARCH_NAMES: &[&str] = &[
    "ca-certificates",
    "tzdata",
    "iso-codes",
    "packagegroup-base",
    "packagegroup-core-ssh-dropbear",
    "ttf-bitstream-vera",
    "adwaita-icon-theme",
    "hicolor-icon-theme",
    "xkeyboard-config",
    "mobile-broadband-provider-info",
    "update-rc.d",
    "ncurses-terminfo-base",
    "python3-six",
    "source-han-sans-cn-fonts",
    "wireless-regdb",
    "bash-completion",
];
const MACHINE_NAMES: &[&str] = &[
    "u-boot",
    "base-files",
    "init-ifupdown",
    "formfactor",
    "psplash",
    "xserver-xf86-config",
    "alsa-state",
    "systemd-machine-units",
    "grub-efi",
    "systemd-boot",
    "opensbi",
    "trusted-firmware-a",
    "optee-os",
    "linux-yocto-dev",
    "kernel-devsrc",
    "linux-yocto-rt",
    "linux-yocto-tiny",
    "netbase",
    "weston-init",
    "pointercal",
];
const DEPLOYS: &[&str] = &[
    "linux-yocto",
    "linux-yocto-dev",
    "linux-yocto-rt",
    "linux-yocto-tiny",
    "u-boot",
    "grub-efi",
    "systemd-boot",
    "opensbi",
    "trusted-firmware-a",
    "optee-os",
];
const IMAGE_NAMES: &[&str] = &[
    "core-image-base",
    "core-image-sato",
    "core-image-weston",
    "core-image-full-cmdline",
    "core-image-ptest",
    "core-image-testcontroller",
    "core-image-kernel-dev",
];
const NATIVE_NAMES: &[&str] = &[
    "quilt",
    "m4",
    "autoconf",
    "automake",
    "libtool",
    "pkgconfig",
    "cmake",
    "ninja",
    "meson",
    "python3",
    "perl",
    "opkg-utils",
    "pseudo",
    "flex",
    "bison",
    "gettext",
    "texinfo-dummy",
    "gnu-config",
    "patch",
    "rpm",
    "dnf",
    "qemu",
    "qemu-system",
    "zlib",
    "xz",
    "bzip2",
    "util-linux",
    "elfutils",
    "rust",
    "cargo",
    "go",
    "nodejs",
    "glib-2.0",
    "libxml2",
    "sqlite3",
    "ncurses",
    "readline",
    "expat",
    "libffi",
    "gmp",
    "mpfr",
    "libmpc",
    "attr",
    "acl",
    "libcap",
    "file",
    "shadow",
    "makedevs",
    "dwarfsrcfiles",
    "kmod",
    "dtc",
    "u-boot-tools",
    "mtools",
    "dosfstools",
    "e2fsprogs",
    "squashfs-tools",
    "cpio",
    "zstd",
    "lz4",
    "gperf",
    "swig",
    "unzip",
    "lzop",
    "python3-setuptools",
    "python3-wheel",
    "python3-installer",
    "python3-build",
];
const CROSS_NAMES: &[&str] = &[
    "binutils-cross-x86_64",
    "gcc-cross-aarch64",
    "binutils-cross-aarch64",
    "go-cross-core2-64",
    "go-cross-cortexa57",
    "gdb-cross-x86_64",
    "gdb-cross-aarch64",
    "gcc-cross-arm",
    "binutils-cross-arm",
    "rust-cross-core2-64",
    "rust-cross-cortexa57",
];
const CATEGORIES: &[&str] = &[
    "core",
    "extended",
    "support",
    "devtools",
    "connectivity",
    "graphics",
    "multimedia",
    "kernel",
    "bsp",
    "sato",
    "gnome",
    "bitbake",
];
const SYLLABLES: &[&str] = &[
    "al", "bar", "cor", "dex", "el", "fin", "gor", "hex", "io", "jan", "kel", "lum", "mor", "nix",
    "ox", "pex", "qu", "ran", "sol", "tor", "ur", "vex", "wil", "xan", "yor", "zen", "ba", "ce",
    "di", "fo", "gu", "ha", "ki", "lo", "mu", "ne", "pi", "ro", "sa", "tu", "vi", "we", "zo",
];
const PREFIXES: &[&str] = &[
    "",
    "",
    "",
    "",
    "lib",
    "lib",
    "lib",
    "python3-",
    "perl-",
    "gst-",
    "xf86-input-",
    "kernel-module-",
    "packagegroup-",
    "font-",
    "go-",
    "rust-",
];
const SUFFIXES: &[&str] = &[
    "", "", "", "", "", "", "-utils", "-tools", "-daemon", "-plugins", "2", "3", "-ng", "-lite",
    "-core", "-data",
];

#[derive(Clone, Copy)]
struct Arch {
    tune: &'static str,
    machine: &'static str,
    write: Task,
}
const X86: Arch = Arch {
    tune: "core2-64",
    machine: "qemux86_64",
    write: Task::PackageWriteIpk,
};
const ARM: Arch = Arch {
    tune: "cortexa57",
    machine: "qemuarm64",
    write: Task::PackageWriteRpm,
};

#[derive(Debug, Clone)]
enum PvStyle {
    Semver(u64, u64, u64),
    Two(u64, u64),
    Git(u64, u64, u64),
    Rc(u64, u64, u64),
    Underscore(u64, u64, u64),
    Dash(u64, u64, u64),
    Date(u64, u64),
    Portable(u64, u64, u64),
    /// Very long git version (two full SHAs): its names get truncated.
    LongGit(u64),
    Fixed(&'static [&'static str]),
}

impl PvStyle {
    fn random(r: &mut SplitMix64) -> Self {
        let (a, b, c) = (r.range(0, 9), r.range(0, 40), r.range(0, 20));
        match r.below(100) {
            0..=39 => PvStyle::Semver(a, b, c),
            40..=51 => PvStyle::Two(a, b),
            52..=66 => PvStyle::Git(a, b, c),
            67..=72 => PvStyle::Rc(a, b, r.range(1, 4)),
            73..=78 => PvStyle::Underscore(a + 1, b + 40, c),
            79..=84 => PvStyle::Dash(a, b, c),
            85..=94 => PvStyle::Date(r.range(2019, 2025), r.range(1, 12)),
            _ => PvStyle::Portable(a + 5, b % 10, 1),
        }
    }

    fn render(&self, seed: u64, plan: usize, n: u64) -> String {
        let sha = |len: usize| SplitMix64::keyed(seed, &[plan as u64, n, 0x6177]).hex(len);
        match *self {
            PvStyle::Semver(a, b, c) => format!("{a}.{b}.{}", c + n),
            PvStyle::Two(a, b) => format!("{a}.{}", b + n),
            PvStyle::Git(a, b, c) => format!("{a}.{b}.{c}+gitAUTOINC+{}", sha(10)),
            PvStyle::Rc(a, b, rc) => format!("{a}.{b}~rc{}", rc + n),
            PvStyle::Underscore(a, b, c) => format!("{a}_{}_{c}", b + n),
            PvStyle::Dash(a, b, c) => format!("{a}.{b}-{}", c + n),
            PvStyle::Date(y, m) => {
                let mm = m - 1 + n;
                format!("{}.{:02}", y + mm / 12, mm % 12 + 1)
            }
            PvStyle::Portable(a, b, p) => format!("{a}.{b}p{}", p + n),
            PvStyle::LongGit(y) => {
                let mut r = SplitMix64::keyed(seed, &[plan as u64, n, 0x10a6]);
                format!("{y}0312+gitAUTOINC+{}_{}", r.hex(40), r.hex(40))
            }
            PvStyle::Fixed(list) => list[(n as usize).min(list.len() - 1)].to_string(),
        }
    }
}

/// Knobs of one plan before its generations are drawn.
struct Knobs {
    pn: String,
    kind: Kind,
    arch: Arch,
    gens: usize,
    style: Option<PvStyle>,
    legacy: bool,
    ssver13: bool,
    deploy: bool,
    preconfigure: bool,
    long_pr: bool,
    exact_arch: bool,
    /// Every new generation bumps PV (busybox: shows SWSPEC duplicates).
    bump: bool,
    force_orphans: bool,
    force_odd: bool,
    force_symlink: bool,
}

impl Knobs {
    fn new(pn: &str, kind: Kind, arch: Arch, gens: usize) -> Self {
        Self {
            pn: pn.into(),
            kind,
            arch,
            gens,
            style: None,
            legacy: false,
            ssver13: false,
            deploy: false,
            preconfigure: false,
            long_pr: false,
            exact_arch: false,
            bump: false,
            force_orphans: false,
            force_odd: false,
            force_symlink: false,
        }
    }
}

/// Shared-workdir recipes: (PN prefix, PN in SSTATE_SWSPEC, PV per generation).
const SHARED: &[(&str, &str, &[&str])] = &[
    ("gcc-source", "gcc", &["12.3.0", "13.2.0"]),
    ("llvm-project-source", "llvm-project-source", &["17.0.6"]),
    ("rust-source", "rust-source", &["1.74.1", "1.75.0"]),
];

/// PR of the recipe whose names are truncated to exactly 254 characters.
const LONG_PR: &str = "r0.bsp-vendor-release-2024q1-lts-kernel-abi-compat-7";

fn showcase() -> Vec<Knobs> {
    let mut v = Vec::new();
    let mut k = Knobs::new("busybox", Kind::Target, X86, 3);
    k.style = Some(PvStyle::Semver(1, 36, 1));
    k.bump = true;
    k.force_orphans = true;
    k.force_odd = true;
    v.push(k);
    let mut k = Knobs::new("openssl-native", Kind::Native, X86, 2);
    k.style = Some(PvStyle::Semver(3, 2, 1));
    k.force_symlink = true;
    v.push(k);
    v.push(Knobs::new("gcc-source", Kind::Shared, X86, 2));
    let mut k = Knobs::new("openssl-native", Kind::NativeHost, X86, 2);
    k.style = Some(PvStyle::Semver(3, 1, 4));
    v.push(k);
    v.push(Knobs::new("gcc-cross-x86_64", Kind::Cross, X86, 2));
    let mut k = Knobs::new("linux-yocto", Kind::Machine, X86, 2);
    k.style = Some(PvStyle::Git(6, 6, 21));
    k.deploy = true;
    v.push(k);
    let mut k = Knobs::new("os-release", Kind::AllArch, X86, 2);
    k.style = Some(PvStyle::Two(1, 0));
    v.push(k);
    let mut k = Knobs::new("vendor-bsp-firmware", Kind::Target, X86, 1);
    k.style = Some(PvStyle::LongGit(2024));
    k.long_pr = true;
    k.exact_arch = true;
    v.push(k);
    let mut k = Knobs::new("zlib", Kind::Target, X86, 3);
    k.style = Some(PvStyle::Semver(1, 2, 11));
    k.legacy = true;
    k.ssver13 = true;
    v.push(k);
    let mut k = Knobs::new("openssl", Kind::Target, ARM, 2);
    k.style = Some(PvStyle::Semver(3, 2, 0));
    v.push(k);
    v.push(Knobs::new("llvm-project-source", Kind::Shared, X86, 1));
    v.push(Knobs::new("rust-source", Kind::Shared, X86, 2));
    v.push(Knobs::new("core-image-minimal", Kind::Image, X86, 2));
    let mut k = Knobs::new("linux-firmware", Kind::AllArch, X86, 1);
    k.style = Some(PvStyle::LongGit(2024));
    v.push(k);
    v
}

struct Planner {
    seed: u64,
    r: SplitMix64,
    used: HashSet<String>,
    natives: Vec<String>,
    twinned: HashSet<String>,
    depable: Vec<usize>,
}

impl Planner {
    fn new(seed: u64) -> Self {
        let mut used = HashSet::new();
        for s in showcase() {
            used.insert(s.pn);
        }
        for (pn, file_pn, _) in SHARED {
            used.insert(pn.to_string());
            used.insert(file_pn.to_string());
        }
        Self {
            seed,
            r: SplitMix64::keyed(seed, &[0x91a2]),
            used,
            natives: Vec::new(),
            twinned: HashSet::new(),
            depable: Vec::new(),
        }
    }

    fn synthetic(&mut self, native: bool) -> String {
        loop {
            let prefix = *self.r.pick(PREFIXES);
            let n = self.r.range(1, 3);
            let mut core = String::new();
            for _ in 0..n {
                let syl = *self.r.pick(SYLLABLES);
                core.push_str(syl);
            }
            let suffix = *self.r.pick(SUFFIXES);
            let mut name = format!("{prefix}{core}{suffix}");
            if native {
                name.push_str("-native");
            }
            if self.used.insert(name.clone()) {
                return name;
            }
        }
    }

    fn known(&mut self, pool: &[&str], suffix: &str) -> Option<String> {
        // Try a few random picks; fall back to the first unused one.
        for _ in 0..4 {
            let name = format!("{}{suffix}", self.r.pick(pool));
            if self.used.insert(name.clone()) {
                return Some(name);
            }
        }
        for p in pool {
            let name = format!("{p}{suffix}");
            if self.used.insert(name.clone()) {
                return Some(name);
            }
        }
        None
    }

    fn random_knobs(&mut self) -> Knobs {
        let arch = if self.r.chance(700) { X86 } else { ARM };
        let gens = match self.r.below(100) {
            0..=39 => 1,
            40..=64 => 2,
            65..=79 => 3,
            80..=89 => 4,
            90..=95 => 5,
            _ => 6,
        };
        let roll = self.r.below(1000);
        let flip = self.r.below(1000);
        let knobs = if roll < 40 {
            // Host-specific twin of a universal native recipe.
            let pn = match self.natives.is_empty() {
                true => None,
                false => Some(self.r.pick(&self.natives).clone()),
            };
            match pn {
                Some(pn) if self.twinned.insert(pn.clone()) => {
                    Some(Knobs::new(&pn, Kind::NativeHost, arch, gens))
                }
                _ => None,
            }
        } else if roll < 60 {
            self.known(CROSS_NAMES, "")
                .map(|pn| Knobs::new(&pn, Kind::Cross, arch, gens))
        } else if roll < 70 {
            self.known(IMAGE_NAMES, "")
                .map(|pn| Knobs::new(&pn, Kind::Image, arch, gens))
        } else if roll < 120 {
            let pn = match flip < 500 {
                true => self.known(MACHINE_NAMES, ""),
                false => None,
            };
            let pn = pn.unwrap_or_else(|| self.synthetic(false));
            let mut k = Knobs::new(&pn, Kind::Machine, arch, gens);
            k.deploy = DEPLOYS.contains(&pn.as_str()) || flip.is_multiple_of(10);
            Some(k)
        } else if roll < 180 {
            let pn = match flip < 400 {
                true => self.known(ALLARCH_NAMES, ""),
                false => None,
            };
            let pn = pn.unwrap_or_else(|| self.synthetic(false));
            Some(Knobs::new(&pn, Kind::AllArch, arch, gens))
        } else if roll < 430 {
            let pn = match flip < 400 {
                true => self.known(NATIVE_NAMES, "-native"),
                false => None,
            };
            let pn = pn.unwrap_or_else(|| self.synthetic(true));
            Some(Knobs::new(&pn, Kind::Native, arch, gens))
        } else {
            None
        };
        let mut k = match knobs {
            Some(k) => k,
            None => {
                let pn = match flip < 300 {
                    true => self.known(TARGET_NAMES, ""),
                    false => None,
                };
                let pn = pn.unwrap_or_else(|| self.synthetic(false));
                let mut k = Knobs::new(&pn, Kind::Target, arch, gens);
                k.deploy = flip.is_multiple_of(33);
                k
            }
        };
        let (p1, p2, p3, p4) = (
            self.r.below(1000),
            self.r.below(1000),
            self.r.below(1000),
            self.r.below(1000),
        );
        k.preconfigure = matches!(k.kind, Kind::Target | Kind::Machine) && p1 < 150;
        if k.gens >= 2 && matches!(k.kind, Kind::Target | Kind::Native | Kind::AllArch) {
            k.ssver13 = p2 < 60;
            k.legacy = k.gens >= 3 && p3 < 25;
        }
        if matches!(k.kind, Kind::Target | Kind::AllArch) && p4 < 5 {
            k.style = Some(PvStyle::LongGit(2019 + p4 % 6));
        }
        k
    }

    fn plan(&mut self, idx: usize, k: Knobs) -> Plan {
        let seed = self.seed;
        let mut r = SplitMix64::keyed(seed, &[idx as u64, 0x91a4]);
        let arch = k.arch;
        let cat = *r.pick(CATEGORIES);
        let mut file_pn = k.pn.clone();
        let mut bpn = k.pn.trim_end_matches("-native").to_string();
        let mut pkgtarget = format!("{}-poky-linux", arch.tune);
        let mut pkgarch = arch.tune.to_string();
        let mut extrapath = "";
        let mut machine = None;
        let mut virt = "";
        let mut shared_pvs: Option<&'static [&'static str]> = None;
        let mut ran = r.chance(600);
        let mut tasks: Vec<Task> = Vec::new();
        let src = [Task::Fetch, Task::Unpack, Task::Patch];
        let build = [Task::Configure, Task::Compile, Task::Install];
        match k.kind {
            Kind::Target | Kind::AllArch | Kind::Machine => {
                if !NO_FETCH.contains(&k.pn.as_str()) {
                    tasks.extend(src);
                }
                if k.preconfigure {
                    tasks.push(Task::Preconfigure);
                }
                tasks.extend(build);
                tasks.extend([
                    Task::PopulateLic,
                    Task::PopulateSysroot,
                    Task::Package,
                    Task::Packagedata,
                    arch.write,
                    Task::PackageQa,
                ]);
                if k.deploy {
                    tasks.push(Task::Deploy);
                }
                if k.kind == Kind::AllArch {
                    pkgtarget = "all-poky-linux".into();
                    pkgarch = "allarch".into();
                } else if k.kind == Kind::Machine {
                    pkgtarget = format!("{}-poky-linux", arch.machine);
                    pkgarch = arch.machine.into();
                    machine = Some(arch.machine);
                }
                if k.exact_arch {
                    pkgarch = "cortexa15t2hf-neon-vfpv4".into();
                    pkgtarget = "cortexa15t2hf-neon-vfpv4-poky-linux-gnueabi".into();
                }
            }
            Kind::Image => {
                tasks.extend([
                    Task::Rootfs,
                    Task::Image,
                    Task::PopulateLicDeploy,
                    Task::ImageComplete,
                ]);
                pkgtarget = format!("{}-poky-linux", arch.machine);
                pkgarch = arch.machine.into();
                machine = Some(arch.machine);
                ran = true;
            }
            Kind::Native | Kind::NativeHost | Kind::Cross => {
                if k.kind != Kind::NativeHost && !k.pn.starts_with("gcc-cross") {
                    tasks.extend(src);
                }
                tasks.extend(build);
                if k.kind == Kind::Native {
                    tasks.push(Task::PopulateLic);
                }
                tasks.push(Task::PopulateSysroot);
                pkgarch = "x86_64".into();
                if k.kind == Kind::Cross {
                    pkgtarget = "x86_64-poky-linux".into();
                    bpn = k.pn.split("-cross").next().unwrap_or(&k.pn).to_string() + "-cross";
                } else {
                    pkgtarget = "x86_64-linux".into();
                    virt = "virtual:native:";
                }
                extrapath = if k.kind == Kind::NativeHost {
                    "ubuntu-22.04/"
                } else {
                    "universal/"
                };
            }
            Kind::Shared => {
                let (_, fpn, pvs) = SHARED
                    .iter()
                    .find(|(pn, _, _)| *pn == k.pn)
                    .copied()
                    .unwrap_or(SHARED[0]);
                file_pn = fpn.into();
                bpn = fpn.into();
                shared_pvs = Some(pvs);
                tasks.extend(src);
                tasks.push(Task::Preconfigure);
                ran = true;
            }
        }
        let stamp_sys = match k.kind {
            Kind::Native | Kind::NativeHost | Kind::Cross => "x86_64-linux".to_string(),
            Kind::Shared => "work-shared".to_string(),
            _ => pkgtarget.clone(),
        };
        let in_latest = k.kind != Kind::NativeHost;

        // Generations: PV/PR evolution.
        let ngens = match shared_pvs {
            Some(p) => p.len(),
            None => k.gens.max(1),
        };
        let style = match (shared_pvs, k.style) {
            (Some(p), _) => PvStyle::Fixed(p),
            (None, Some(s)) => s,
            (None, None) => PvStyle::random(&mut r),
        };
        let legacy = k.legacy && ngens >= 2;
        // How many of the oldest generations are SSVER 13 (never the newest).
        let n13 = if k.ssver13 && ngens >= 2 {
            let first = usize::from(legacy);
            (ngens - 1 - first).min(2) + first
        } else {
            0
        };
        let mut counter = 0u64;
        let mut prn = if shared_pvs.is_some() { 0 } else { r.below(3) };
        let mut gens: Vec<Generation> = Vec::with_capacity(ngens);
        for g in 0..ngens {
            let ssver = if legacy && g == 0 {
                "3"
            } else if g < n13 {
                "13"
            } else {
                "14"
            };
            if g > 0 {
                let release_change = gens[g - 1].ssver != ssver;
                let roll = r.below(100);
                let pv_bump = shared_pvs.is_some() || release_change || k.bump;
                if pv_bump || roll >= 75 {
                    counter += 1;
                    prn = 0;
                } else if roll >= 50 {
                    prn += 1;
                }
            }
            let pr = if k.long_pr {
                LONG_PR.to_string()
            } else {
                format!("r{prn}")
            };
            gens.push(Generation {
                pv: style.render(seed, idx, counter),
                pr,
                ssver,
                legacy: legacy && g == 0,
                time: 0,
            });
        }

        // Generation times: oldest up to 400 days before BASE, newest = latest
        // build (hours before BASE) unless the recipe was not touched by it.
        let latest = if in_latest {
            BASE_EPOCH - 3 * HOUR - r.range(0, 72 * HOUR as u64) as i64
        } else {
            BASE_EPOCH - r.range(60, 200) as i64 * DAY
        };
        let oldest = if legacy {
            BASE_EPOCH - r.range(370, 400) as i64 * DAY
        } else {
            BASE_EPOCH - r.range(30, 400) as i64 * DAY
        }
        .min(latest - 30 * DAY);
        let stale = in_latest && r.chance(200);
        let stale_days = r.range(3, 200) as i64;
        let stale_pct = r.range(20, 80) as i64;
        if ngens == 1 {
            gens[0].time = if stale {
                BASE_EPOCH - stale_days * DAY
            } else {
                latest
            };
        } else {
            let step = (latest - oldest) / (ngens as i64 - 1);
            for (g, gn) in gens.iter_mut().enumerate() {
                let mut t = oldest + step * g as i64;
                if g > 0 && g + 1 < ngens {
                    t += r.range(0, (step / 5) as u64) as i64 - step / 10;
                }
                gn.time = t;
            }
            if stale {
                let prev = gens[ngens - 2].time;
                gens[ngens - 1].time = prev + (latest - prev) * stale_pct / 100;
            }
        }

        let mut deps = Vec::new();
        if !self.depable.is_empty() && tasks.contains(&Task::Configure) {
            for _ in 0..r.range(0, 4) {
                let d = *r.pick(&self.depable);
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
        }
        if in_latest && tasks.contains(&Task::PopulateSysroot) {
            self.depable.push(idx);
        }
        if k.kind == Kind::Native {
            self.natives.push(k.pn.clone());
        }
        let recipe_dir = format!("/srv/poky/meta/recipes-{cat}/{bpn}");
        let pn = match k.kind {
            Kind::Shared => format!("{}-{}", k.pn, gens[ngens - 1].pv),
            _ => k.pn,
        };
        Plan {
            idx,
            pn,
            file_pn,
            bpn,
            kind: k.kind,
            pkgtarget,
            pkgarch,
            extrapath,
            stamp_sys,
            machine,
            recipe_dir,
            virt,
            tasks,
            gens,
            deps,
            in_latest,
            ran,
            cap: 0,
            force_orphans: k.force_orphans,
            force_odd: k.force_odd,
            force_symlink: k.force_symlink,
        }
    }
}

fn build_plans(spec: &CorpusSpec) -> Vec<Plan> {
    let mut planner = Planner::new(spec.seed);
    let mut show = showcase().into_iter();
    let mut plans = Vec::new();
    let mut left = spec.objects;
    while left > 0 {
        let knobs = match show.next() {
            Some(k) => k,
            None => planner.random_knobs(),
        };
        let mut p = planner.plan(plans.len(), knobs);
        let n = p.objects().len();
        p.cap = n.min(left);
        left -= p.cap;
        plans.push(p);
    }
    plans
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Directories created below `root`, so each is created once and all get
/// their mtime settled at the end.
struct DirSet {
    root: PathBuf,
    set: Mutex<HashSet<PathBuf>>,
}

impl DirSet {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            set: Mutex::new(HashSet::new()),
        }
    }

    fn ensure(&self, dir: &Path) -> Result<()> {
        let mut set = self
            .set
            .lock()
            .map_err(|_| anyhow::anyhow!("directory set lock poisoned"))?;
        if set.contains(dir) {
            return Ok(());
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut p = dir;
        while p != self.root && p.starts_with(&self.root) {
            if !set.insert(p.to_path_buf()) {
                break;
            }
            match p.parent() {
                Some(q) => p = q,
                None => break,
            }
        }
        Ok(())
    }

    fn into_sorted(self) -> Result<Vec<PathBuf>> {
        let set = self
            .set
            .into_inner()
            .map_err(|_| anyhow::anyhow!("directory set lock poisoned"))?;
        let mut v: Vec<PathBuf> = set.into_iter().collect();
        v.sort();
        Ok(v)
    }
}

fn ft(t: i64) -> FileTime {
    FileTime::from_unix_time(t, 0)
}

fn write_file(path: &Path, data: &[u8], mtime: i64) -> Result<()> {
    let mut f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    if !data.is_empty() {
        f.write_all(data)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    filetime::set_file_handle_times(&f, Some(ft(mtime)), Some(ft(mtime)))
        .with_context(|| format!("setting mtime of {}", path.display()))
}

fn write_sparse(path: &Path, len: u64, mtime: i64) -> Result<()> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.set_len(len)
        .with_context(|| format!("extending {}", path.display()))?;
    filetime::set_file_handle_times(&f, Some(ft(mtime)), Some(ft(mtime)))
        .with_context(|| format!("setting mtime of {}", path.display()))
}

fn write_symlink(target: &str, path: &Path, mtime: i64) -> Result<()> {
    std::os::unix::fs::symlink(target, path)
        .with_context(|| format!("creating symlink {}", path.display()))?;
    filetime::set_symlink_file_times(path, ft(mtime), ft(mtime))
        .with_context(|| format!("setting mtime of {}", path.display()))
}

fn random_bytes(r: &mut SplitMix64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    r.fill(&mut v);
    v
}

struct Ctx<'a> {
    spec: &'a CorpusSpec,
    plans: &'a [Plan],
    cache: &'a Path,
    stamps: Option<&'a Path>,
    cache_dirs: &'a DirSet,
    stamp_dirs: Option<&'a DirSet>,
}

const TEMP_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// The name of an odd file next to an object: 0 = temp file of a build in
/// progress, 1 = siginfo lock, 2 = lock. At most 254 characters.
fn odd_name(archive_name: &str, has_archive: bool, kind: u64, tail: &str) -> String {
    match kind {
        0 if has_archive => format!("{archive_name}{tail}"),
        0 => format!("sigtask.{tail}"),
        // A truncated archive name (246) leaves room for `.lock` only.
        1 if archive_name.len() + ".siginfo.lock".len() <= 254 => {
            format!("{archive_name}.siginfo.lock")
        }
        _ => format!("{archive_name}.lock"),
    }
}

fn write_plan(cx: &Ctx<'_>, plan: &Plan) -> Result<CorpusSummary> {
    let seed = cx.spec.seed;
    let mut s = CorpusSummary {
        recipes: 1,
        ..Default::default()
    };
    let newest = plan.newest();
    let mut stamp_list: Vec<(Task, String)> = Vec::new();
    for o in plan.objects().into_iter().take(plan.cap) {
        let g = o.use_gen;
        let gn = &plan.gens[g];
        let t = o.task;
        let hash = obj_hash(seed, plan.idx, o.hash_gen, t, gn.legacy);
        let parts = if t.swspec() {
            NameParts::swspec(&plan.file_pn, &gn.pv, &gn.pr, gn.ssver, &hash, t.name())
        } else {
            NameParts {
                pn: plan.file_pn.clone(),
                pkgtarget: plan.pkgtarget.clone(),
                pv: gn.pv.clone(),
                pr: gn.pr.clone(),
                pkgarch: plan.pkgarch.clone(),
                ssver: gn.ssver.into(),
                unihash: hash.clone(),
                task: t.name().into(),
            }
        };
        let extrapath = if t.swspec() { "" } else { plan.extrapath };
        let rel_dir = parts.rel_dir(extrapath);
        let dir = cx.cache.join(&rel_dir);
        cx.cache_dirs.ensure(&dir)?;
        let base = if gn.legacy { ".tgz" } else { ".tar.zst" };
        let archive_name = parts.file_name(base);
        let t0 = gn.time + plan.task_offset(seed, g, t);

        // All draws happen unconditionally so flags do not shift the stream.
        let mut r = SplitMix64::keyed(seed, &[plan.idx as u64, g as u64, t.id(), 0x0b1]);
        let roll = r.below(1000);
        let sig_roll = r.chance(100);
        let done_roll = r.chance(300);
        let link_roll = r.chance(1);
        let odd_roll = r.chance(4);
        let odd_kind = r.below(3);
        let sig_dt = r.range(0, 2) as i64;
        let siginfo_dt = r.range(1, 3) as i64;
        let ((rlo, rhi), (slo, shi)) = t.sizes();
        let real_size = r.log_size(rlo, rhi) as usize;
        let sparse_size = r.log_size(slo, shi);
        let sig_size = r.range(310, 600) as usize;
        let taskhash_differs = r.chance(100);
        let taskhash_alt = r.hex(hash.len());

        // Which entries the object has. Old generations lose some archives
        // (orphan siginfo / orphan .sig) or their siginfo.
        let (mut archive, mut siginfo, mut sig) = (t.has_archive(), true, false);
        if t.has_archive() && g != newest {
            match roll {
                0..=59 => archive = false,
                60..=74 => (archive, siginfo, sig) = (false, false, true),
                75..=94 => siginfo = false,
                _ => {}
            }
        }
        if plan.force_orphans && g == 0 && g != newest {
            match t {
                Task::PopulateSysroot => (archive, siginfo) = (false, true),
                Task::PackageQa => (archive, siginfo, sig) = (false, false, true),
                Task::Package => (archive, siginfo) = (true, true),
                _ => {}
            }
        }
        sig |= archive && sig_roll;
        let done = archive && gn.ssver == "13" && done_roll;
        let symlink = archive
            && cx.spec.odd_files
            && g == newest
            && ((plan.force_symlink && t == Task::PopulateSysroot) || link_roll);

        if archive {
            let path = dir.join(&archive_name);
            if symlink {
                let target = format!(
                    "../../../sstate-mirror/{}/{}",
                    rel_dir.display(),
                    archive_name
                );
                write_symlink(&target, &path, t0)?;
                s.bytes += target.len() as u64;
                s.symlinks += 1;
            } else if cx.spec.sparse {
                write_sparse(&path, sparse_size, t0)?;
                s.bytes += sparse_size;
            } else {
                write_file(&path, &random_bytes(&mut r, real_size), t0)?;
                s.bytes += real_size as u64;
            }
            s.entries += 1;
            s.archives += 1;
            s.truncated_names += usize::from(parts.is_truncated(base));
        } else {
            s.orphan_objects += 1;
            s.missing_archives += usize::from(t.has_archive());
        }
        if siginfo {
            let ext = format!("{base}.siginfo");
            let path = dir.join(parts.file_name(&ext));
            let data = if gn.legacy {
                // Pre-zstd BitBake wrote pickles: not zstd JSON.
                let mut d = vec![0x80, 0x04, 0x95];
                d.extend(random_bytes(&mut r, 400));
                d
            } else {
                let taskhash = if taskhash_differs {
                    taskhash_alt.as_str()
                } else {
                    hash.as_str()
                };
                siginfo_for(cx, plan, o, taskhash, &hash)?
            };
            write_file(&path, &data, t0 + siginfo_dt)?;
            s.entries += 1;
            s.bytes += data.len() as u64;
            s.truncated_names += usize::from(parts.is_truncated(&ext));
        }
        if sig {
            let ext = format!("{base}.sig");
            let path = dir.join(parts.file_name(&ext));
            write_file(&path, &random_bytes(&mut r, sig_size), t0 + sig_dt)?;
            s.entries += 1;
            s.bytes += sig_size as u64;
            s.truncated_names += usize::from(parts.is_truncated(&ext));
        }
        if done {
            let ext = format!("{base}.done");
            write_file(&dir.join(parts.file_name(&ext)), &[], t0)?;
            s.entries += 1;
            s.truncated_names += usize::from(parts.is_truncated(&ext));
        }
        // Odd files next to the object: a temp file of a build in progress
        // (`NamedTemporaryFile(prefix=archive)`, or BitBake's `sigtask.XXXXXXXX`
        // for a siginfo), or a lock file.
        let forced_odd = match (plan.force_odd && g == newest, t) {
            (true, Task::PopulateSysroot) => Some(0),
            (true, Task::Package) => Some(1),
            _ => None,
        };
        if cx.spec.odd_files && (odd_roll || forced_odd.is_some()) {
            let kind = forced_odd.unwrap_or(odd_kind);
            let tail: String = (0..8).map(|_| *r.pick(TEMP_CHARS) as char).collect();
            let name = odd_name(&archive_name, t.has_archive(), kind, &tail);
            let data = if kind == 0 {
                random_bytes(&mut r, 128)
            } else {
                Vec::new()
            };
            write_file(&dir.join(name), &data, t0)?;
            s.odd_files += 1;
        }
        s.objects += 1;
        if g == newest {
            s.newest_objects += 1;
            stamp_list.push((t, hash));
        }
    }
    if let (Some(stamps), Some(sd)) = (cx.stamps, cx.stamp_dirs)
        && plan.in_latest
        && !stamp_list.is_empty()
    {
        let (files, objs) = write_stamps(seed, stamps, sd, plan, &stamp_list)?;
        s.stamps_files += files;
        s.stamped_objects += objs;
    }
    Ok(s)
}

/// The zstd JSON siginfo of object `o`: `runtaskhashes` name the recipe's own
/// preceding tasks and, for `configure`, the `populate_sysroot` of the
/// recipes it depends on, in the matching generation.
fn siginfo_for(
    cx: &Ctx<'_>,
    plan: &Plan,
    o: ObjRef,
    taskhash: &str,
    hash: &str,
) -> Result<Vec<u8>> {
    let seed = cx.spec.seed;
    let t = o.task;
    let hg = o.hash_gen;
    let legacy = plan.gens[hg].legacy;
    let mut deps: Vec<(String, String)> = Vec::new();
    for &d in t.intra_deps() {
        if plan.gen_has(hg, d) {
            let dh = obj_hash(seed, plan.idx, plan.hash_gen(hg, d), d, legacy);
            deps.push((plan.recipe_key(hg, d), dh));
        }
    }
    if t == Task::Configure {
        let age = plan.newest() - hg;
        for &j in &plan.deps {
            let dp = &cx.plans[j];
            let gj = dp.newest() - age.min(dp.newest());
            let dh = obj_hash(seed, j, gj, Task::PopulateSysroot, dp.gens[gj].legacy);
            deps.push((dp.recipe_key(gj, Task::PopulateSysroot), dh));
        }
    }
    deps.sort();
    let mut body = SplitMix64::keyed(seed, &[plan.idx as u64, hg as u64, t.id(), 0x5e]);
    let basehash = body.hex(64);
    let json = siginfo_json(
        &format!("do_{}", t.name()),
        taskhash,
        hash,
        &basehash,
        &deps,
        &mut body,
    )?;
    zstd_compress(&json)
}

fn default_machine(plan: &Plan) -> &'static str {
    if plan.pkgtarget.starts_with(ARM.tune) {
        ARM.machine
    } else {
        X86.machine
    }
}

/// Stamps of the newest generation: `.sigdata.H` (+ plain `.H`) for tasks that
/// ran, `_setscene.H[.EXTRAINFO]` for archives restored from sstate.
fn write_stamps(
    seed: u64,
    stamps: &Path,
    dirs: &DirSet,
    plan: &Plan,
    list: &[(Task, String)],
) -> Result<(usize, usize)> {
    let g = plan.newest();
    let gn = &plan.gens[g];
    let (dir, prefix) = if plan.kind == Kind::Shared {
        (
            stamps.join("work-shared"),
            format!("{}-{}-{}", plan.bpn, gn.pv, gn.pr),
        )
    } else {
        (
            stamps.join(&plan.stamp_sys).join(&plan.pn),
            format!("{}-{}", gn.pv, gn.pr),
        )
    };
    dirs.ensure(&dir)?;
    let mut r = SplitMix64::keyed(seed, &[plan.idx as u64, 0x57a3]);
    let (mut files, mut objs) = (0, 0);
    for (t, h) in list {
        let when = gn.time + plan.task_offset(seed, g, *t) + 5;
        // stamp-extra-info: the machine, for machine-specific recipes and deploy.
        let machine = match (plan.machine, *t) {
            (Some(m), _) => Some(m),
            (None, Task::Deploy) => Some(default_machine(plan)),
            _ => None,
        };
        let extra_roll = r.chance(700);
        let extra = match machine {
            Some(m) if extra_roll => format!(".{m}"),
            _ => String::new(),
        };
        let path = |s: &str| dir.join(format!("{prefix}.do_{}{s}", t.name()));
        if plan.ran || !t.has_archive() {
            write_file(&path(&format!(".sigdata.{h}")), &[], when)?;
            files += 1;
            if plan.ran {
                write_file(&path(&format!(".{h}{extra}")), &[], when)?;
                files += 1;
            }
        } else {
            write_file(&path(&format!("_setscene.{h}{extra}")), &[], when)?;
            files += 1;
        }
        objs += 1;
    }
    if plan.ran && plan.kind != Kind::Shared {
        // Tasks that have no sstate object: hashes not in the cache.
        let when = gn.time + 10;
        for task in ["prepare_recipe_sysroot", "build"] {
            let h = r.hex(64);
            let n = if task == "build" {
                format!("{prefix}.do_{task}.{h}")
            } else {
                format!("{prefix}.do_{task}.sigdata.{h}")
            };
            write_file(&dir.join(n), &[], when)?;
            files += 1;
        }
    }
    Ok((files, objs))
}

fn ensure_empty_dir(dir: &Path, what: &str) -> Result<()> {
    if dir.exists() {
        let mut it = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if it.next().is_some() {
            bail!("{what} {} is not empty", dir.display());
        }
    } else {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// README, lost+found/, `sstate:foo`, `sstate:foo:bar.tar.zst`, `.nfs…`.
fn write_global_odd(seed: u64, cache: &Path, dirs: &DirSet) -> Result<usize> {
    let mut r = SplitMix64::keyed(seed, &[0x0dd]);
    let when = BASE_EPOCH - 40 * DAY;
    write_file(
        &cache.join("README"),
        b"Shared state cache of the nightly builds. Do not remove files by hand.\n",
        when,
    )?;
    dirs.ensure(&cache.join("lost+found"))?;
    write_file(&cache.join("sstate:foo"), &[], when)?;
    let h = r.hex(4);
    let d = cache.join(&h[0..2]).join(&h[2..4]);
    dirs.ensure(&d)?;
    write_file(&d.join("sstate:foo:bar.tar.zst"), b"x", when)?;
    write_file(
        &d.join(format!(".nfs{}{}", r.hex(16), r.hex(8))),
        &random_bytes(&mut r, 64),
        when,
    )?;
    Ok(5)
}

/// Lay out a cache under `cache_dir` and the stamps of a "latest build" under
/// `stamps_dir` (if Some). Both must be empty or absent (they are created).
/// Deterministic: the same `spec` gives the same tree on every machine.
pub fn generate(
    cache_dir: &Path,
    stamps_dir: Option<&Path>,
    spec: &CorpusSpec,
) -> Result<CorpusSummary> {
    ensure_empty_dir(cache_dir, "cache dir")?;
    if let Some(st) = stamps_dir {
        if st.starts_with(cache_dir) {
            bail!(
                "stamps dir {} must not be inside the cache dir {}",
                st.display(),
                cache_dir.display()
            );
        }
        ensure_empty_dir(st, "stamps dir")?;
    }
    let plans = build_plans(spec);
    let cache_dirs = DirSet::new(cache_dir);
    let stamp_dirs = stamps_dir.map(DirSet::new);
    let cx = Ctx {
        spec,
        plans: &plans,
        cache: cache_dir,
        stamps: stamps_dir,
        cache_dirs: &cache_dirs,
        stamp_dirs: stamp_dirs.as_ref(),
    };
    let parts: Vec<CorpusSummary> = plans
        .par_iter()
        .map(|p| write_plan(&cx, p))
        .collect::<Result<_>>()?;
    let mut total = CorpusSummary::default();
    for p in &parts {
        total.add(p);
    }
    if spec.odd_files {
        total.odd_files += write_global_odd(spec.seed, cache_dir, &cache_dirs)?;
    }

    // Settle every directory's mtime (after all files are written).
    let mut all: Vec<PathBuf> = cache_dirs.into_sorted()?;
    total.dirs = all.len();
    all.push(cache_dir.to_path_buf());
    if let (Some(sd), Some(root)) = (stamp_dirs, stamps_dir) {
        all.extend(sd.into_sorted()?);
        all.push(root.to_path_buf());
    }
    all.par_iter().try_for_each(|d| {
        filetime::set_file_times(d, ft(BASE_EPOCH), ft(BASE_EPOCH))
            .with_context(|| format!("setting mtime of {}", d.display()))
    })?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};
    use std::os::unix::fs::MetadataExt;

    struct TmpDir(PathBuf);
    impl TmpDir {
        fn new(name: &str) -> Self {
            let d = std::env::temp_dir().join(format!(
                "corpus-test-{name}-{}-{}",
                std::process::id(),
                SplitMix64::keyed(BASE_EPOCH as u64, &[name.len() as u64]).hex(6)
            ));
            let _ = fs::remove_dir_all(&d);
            Self(d)
        }
    }
    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// rel path -> (lstat size, mtime, is_dir)
    fn listing(root: &Path) -> BTreeMap<String, (u64, i64, bool)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                let m = fs::symlink_metadata(&p).expect("lstat");
                let rel = p.strip_prefix(root).expect("prefix").display().to_string();
                out.insert(rel, (m.len(), m.mtime(), m.is_dir()));
                if m.is_dir() {
                    stack.push(p);
                }
            }
        }
        out
    }

    /// Minimal independent parser: (extrapath, stem, ext, fields) of an entry.
    fn parse(rel: &str) -> Option<(String, String, &'static str, Vec<String>)> {
        let (dir, name) = rel.rsplit_once('/')?;
        if !name.starts_with("sstate:") {
            return None;
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
        let ext = EXTS.iter().find(|e| name.ends_with(*e))?;
        let stem = &name[..name.len() - ext.len()];
        let f: Vec<String> = stem.split(':').map(String::from).collect();
        if f.len() != 8 {
            return None;
        }
        let (h, _task) = f[7].split_once('_')?;
        if !(h.len() == 64 || h.len() == 32) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let parts: Vec<&str> = dir.split('/').collect();
        let extrapath = parts[..parts.len().saturating_sub(2)].join("/");
        Some((extrapath, format!("{dir}/{stem}"), ext, f))
    }

    #[test]
    fn prng_is_stable() {
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        let a = SplitMix64::keyed(1, &[2, 3]).hex(70);
        assert_eq!(a.len(), 70);
        assert_eq!(a, SplitMix64::keyed(1, &[2, 3]).hex(70));
        assert_ne!(a, SplitMix64::keyed(1, &[3, 2]).hex(70));
    }

    #[test]
    fn name_format_and_dir() {
        let p = NameParts {
            pn: "busybox".into(),
            pkgtarget: "core2-64-poky-linux".into(),
            pv: "1.36.1".into(),
            pr: "r0".into(),
            pkgarch: "core2-64".into(),
            ssver: "14".into(),
            unihash: "ab".repeat(32),
            task: "populate_sysroot".into(),
        };
        assert_eq!(
            p.file_name(".tar.zst.siginfo"),
            format!(
                "sstate:busybox:core2-64-poky-linux:1.36.1:r0:core2-64:14:{}_populate_sysroot.tar.zst.siginfo",
                "ab".repeat(32)
            )
        );
        assert_eq!(p.rel_dir("universal/"), PathBuf::from("universal/ab/ab"));
        assert_eq!(p.rel_dir(""), PathBuf::from("ab/ab"));
        let sw = NameParts::swspec("gcc", "13.2.0", "r0", "14", &"cd".repeat(32), "unpack");
        assert!(
            sw.file_name(".tar.zst.siginfo")
                .starts_with("sstate:gcc::13.2.0:r0::14:cdcd")
        );
    }

    #[test]
    fn truncation_matches_generate_sstatefn() {
        let p = NameParts {
            pn: "vendor-bsp-firmware".into(),
            pkgtarget: "cortexa15t2hf-neon-vfpv4-poky-linux-gnueabi".into(),
            pv: format!("20240312+gitAUTOINC+{}_{}", "a".repeat(40), "b".repeat(40)),
            pr: LONG_PR.into(),
            pkgarch: "cortexa15t2hf-neon-vfpv4".into(),
            ssver: "14".into(),
            unihash: "0".repeat(64),
            task: "package".into(),
        };
        let archive = p.file_name(".tar.zst");
        let siginfo = p.file_name(".tar.zst.siginfo");
        assert!(p.is_truncated(".tar.zst"));
        assert_eq!(archive.len(), 246);
        assert_eq!(siginfo.len(), 254);
        assert_eq!(siginfo, format!("{archive}.siginfo"));
        // Python: avail = (246 - len(hash_task + ".tar.zst") - 6 - 19 - 24 - 2 - 7) // 3
        let avail = (246 - (64 + 1 + 7 + 8) - 6 - 19 - 24 - 2 - 7) / 3;
        let f: Vec<&str> = archive.split(':').collect();
        assert_eq!((f[2].len(), f[3].len(), f[4].len()), (avail, avail, avail));
        // A siginfo-only task: same as generate_sstatefn(siginfo=True).
        let only = NameParts {
            task: "compile".into(),
            ..p.clone()
        };
        assert_eq!(only.file_name(".tar.zst.siginfo").len(), 254);
        // A long PV with a short PR is cut but ends up shorter than the limit.
        let natural = NameParts {
            pr: "r0".into(),
            ..p.clone()
        };
        assert!(natural.is_truncated(".tar.zst.siginfo"));
        assert!(natural.file_name(".tar.zst.siginfo").len() < 254);
        // Short names are untouched.
        let short = NameParts {
            pv: "1.0".into(),
            pr: "r0".into(),
            ..p
        };
        assert!(!short.is_truncated(".tar.zst.siginfo"));
        assert_eq!(py_prefix("abcdef", -2), "abcd");
        for kind in 0..3 {
            for has_archive in [true, false] {
                let n = odd_name(&archive, has_archive, kind, "abcd1234");
                assert!(n.len() <= 254, "{kind} {n}");
            }
        }
        assert_eq!(py_prefix("abc", 10), "abc");
    }

    #[test]
    fn same_seed_same_tree() {
        let a = TmpDir::new("det-a");
        let b = TmpDir::new("det-bb");
        let spec = CorpusSpec::new(700, 42);
        let sa = generate(&a.0.join("cache"), Some(&a.0.join("stamps")), &spec).expect("generate");
        let sb = generate(&b.0.join("cache"), Some(&b.0.join("stamps")), &spec).expect("generate");
        assert_eq!(sa, sb);
        assert_eq!(sa.objects, 700);
        let la = listing(&a.0);
        assert_eq!(la, listing(&b.0));
        for (rel, (_, _, is_dir)) in &la {
            if !is_dir
                && !fs::symlink_metadata(a.0.join(rel))
                    .expect("lstat")
                    .is_symlink()
            {
                assert_eq!(
                    fs::read(a.0.join(rel)).expect("read a"),
                    fs::read(b.0.join(rel)).expect("read b"),
                    "{rel}"
                );
            }
        }
        // A different seed gives a different tree.
        let c = TmpDir::new("det-ccc");
        generate(&c.0.join("cache"), None, &CorpusSpec::new(700, 43)).expect("generate");
        assert_ne!(listing(&a.0.join("cache")), listing(&c.0.join("cache")));
        // Refuses a non-empty cache dir.
        assert!(generate(&a.0.join("cache"), None, &spec).is_err());
    }

    #[test]
    fn counts_match_an_independent_scan() {
        for objects in [1, 13, 1000] {
            let d = TmpDir::new(&format!("scan{objects}"));
            let cache = d.0.join("cache");
            let stamps = d.0.join("stamps");
            let s = generate(&cache, Some(&stamps), &CorpusSpec::new(objects, 1)).expect("gen");
            let list = listing(&cache);
            let mut stems: HashMap<String, bool> = HashMap::new();
            let (mut entries, mut bytes, mut odd, mut dirs, mut names_254) = (0, 0u64, 0, 0, 0);
            for (rel, (len, mtime, is_dir)) in &list {
                assert!(*mtime <= BASE_EPOCH, "{rel} in the future");
                let name_len = rel.rsplit('/').next().map_or(0, str::len);
                assert!(name_len <= 254, "{rel}");
                if *is_dir {
                    dirs += 1;
                    assert_eq!(*mtime, BASE_EPOCH);
                    continue;
                }
                match parse(rel) {
                    Some((_, stem, ext, _)) => {
                        entries += 1;
                        bytes += len;
                        *stems.entry(stem).or_default() |= ext == ".tar.zst" || ext == ".tgz";
                        if rel.rsplit('/').next().map(str::len) == Some(254) {
                            names_254 += 1;
                        }
                    }
                    None => odd += 1,
                }
            }
            assert_eq!(stems.len(), objects);
            assert_eq!(s.objects, objects);
            assert_eq!(s.entries, entries);
            assert_eq!(s.bytes, bytes);
            assert_eq!(s.dirs, dirs);
            assert_eq!(s.odd_files, odd + 1, "lost+found counts as odd");
            assert_eq!(s.archives, stems.values().filter(|v| **v).count());
            assert_eq!(s.orphan_objects, stems.values().filter(|v| !**v).count());
            if objects < 1000 {
                continue;
            }
            assert!(s.missing_archives > 0 && s.symlinks > 0 && s.truncated_names > 0);
            assert!(names_254 > 0, "an entry name of exactly 254 characters");
            let has = |f: &dyn Fn(&str) -> bool| list.keys().any(|k| f(k));
            assert!(has(&|k| k.starts_with("ubuntu-22.04/")));
            assert!(has(&|k| k.starts_with("universal/")));
            assert!(has(&|k| k.ends_with(".tgz")));
            assert!(has(&|k| k.ends_with(".tar.zst.sig")));
            assert!(has(&|k| k.ends_with(".tar.zst.done")));
            assert!(has(&|k| k.contains(":13:")));
            assert!(has(&|k| k.contains("/sstate:gcc::13.2.0:r0::14:")));
            assert!(has(&|k| k.contains("_populate_lic.tar.zst")));
            assert!(has(&|k| k.ends_with(".lock")));
            assert!(has(&|k| k == "lost+found"));
            assert!(has(&|k| k.contains("~rc") || k.contains("+git")));
        }
    }

    #[test]
    fn siginfo_is_zstd_json_with_its_unihash() {
        let d = TmpDir::new("sig");
        let cache = d.0.join("cache");
        generate(&cache, None, &CorpusSpec::new(300, 7)).expect("generate");
        let (mut checked, mut with_deps) = (0, 0);
        for (rel, (_, _, is_dir)) in listing(&cache) {
            if is_dir || !rel.ends_with(".tar.zst.siginfo") || parse(&rel).is_none() {
                continue;
            }
            let data = fs::read(cache.join(&rel)).expect("read");
            let json = zstd::decode_all(&data[..]).expect("zstd");
            let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
            let name = rel.rsplit('/').next().expect("name");
            let hash = name.rsplit(':').next().and_then(|x| x.split('_').next());
            assert_eq!(v["unihash"].as_str(), hash, "{rel}");
            let task = v["task"].as_str().map(|t| t.trim_start_matches("do_"));
            assert_eq!(task, task_of_file_name(name));
            assert!(v["taskhash"].is_string() && v["basehash"].is_string());
            assert!(v["taskdeps"].is_array() && v["runtaskhashes"].is_object());
            with_deps += usize::from(!v["runtaskhashes"].as_object().expect("map").is_empty());
            checked += 1;
        }
        assert!(checked > 100 && with_deps > 50, "{checked} {with_deps}");

        let p = d.0.join(format!(
            "sstate:x:y:1:r0:z:14:{}_compile.tar.zst.siginfo",
            "e".repeat(64)
        ));
        let deps = vec![("a.bb:do_install".to_string(), "f".repeat(64))];
        write_siginfo(&p, &"1".repeat(64), &"e".repeat(64), &deps).expect("write");
        let raw = zstd::decode_all(&fs::read(&p).expect("read")[..]).expect("zstd");
        let v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(v["task"], "do_compile");
        assert_eq!(v["unihash"], "e".repeat(64));
        assert_eq!(v["taskhash"], "1".repeat(64));
        assert_eq!(v["runtaskhashes"]["a.bb:do_install"], "f".repeat(64));
    }

    #[test]
    fn stamps_reference_only_the_newest_generation() {
        let d = TmpDir::new("stamps");
        let cache = d.0.join("cache");
        let stamps = d.0.join("stamps");
        let spec = CorpusSpec::new(1500, 3);
        let s = generate(&cache, Some(&stamps), &spec).expect("generate");
        // Hashes named by sigdata / setscene stamps, at any depth.
        let mut stamped: HashSet<String> = HashSet::new();
        let mut depth2 = 0;
        for (rel, (_, _, is_dir)) in listing(&stamps) {
            if is_dir {
                continue;
            }
            let name = rel.rsplit('/').next().expect("name");
            if let Some((_, h)) = name.split_once(".sigdata.") {
                stamped.insert(h.to_string());
            } else if let Some(i) = name.find("_setscene.") {
                let h = name[i + 10..].split('.').next().expect("hash");
                stamped.insert(h.to_string());
            }
            depth2 += usize::from(rel.starts_with("work-shared/"));
        }
        assert!(depth2 > 0);
        // Every object's hash is stamped iff it belongs to the newest
        // generation of a recipe of the latest build.
        let plans = build_plans(&spec);
        let mut hits = 0;
        for p in &plans {
            for o in p.objects().into_iter().take(p.cap) {
                let h = obj_hash(
                    spec.seed,
                    p.idx,
                    o.hash_gen,
                    o.task,
                    p.gens[o.use_gen].legacy,
                );
                let newest = o.use_gen == p.newest();
                assert_eq!(stamped.contains(&h), newest && p.in_latest, "{} {h}", p.pn);
                hits += usize::from(stamped.contains(&h));
            }
            let times: Vec<i64> = p.gens.iter().map(|g| g.time).collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]), "{}: {times:?}", p.pn);
        }
        assert_eq!(hits, s.stamped_objects);
        assert!(s.stamped_objects < s.newest_objects);
    }

    #[test]
    fn sparse_archives_are_big_but_cheap() {
        let d = TmpDir::new("sparse");
        let mut spec = CorpusSpec::new(200, 5);
        spec.sparse = true;
        spec.odd_files = false;
        let s = generate(&d.0.join("cache"), None, &spec).expect("generate");
        assert!(s.bytes > 100 * 1024 * 1024, "{}", s.bytes);
        assert_eq!((s.odd_files, s.symlinks), (0, 0));
    }
}
