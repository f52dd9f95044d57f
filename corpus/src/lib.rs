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
//! Siginfo files are what BitBake's `dump_sigtask` writes: zstd (level 3,
//! checksum, no content size, like `zstd -c` from a pipe) of compact JSON with
//! sorted keys, sets as `{"_set_object":[...]}`, and `runtaskhashes` naming
//! the unihash of each dependency object in the corpus (the recipe's own
//! earlier tasks, and for `configure` the `populate_sysroot` of the recipes it
//! depends on). Their bulk (`gendeps`, `taskdeps`, `varvals`) comes from a
//! fixed synthetic metadata universe (the `metadata` module) and is sized per
//! task type and recipe so that compressed sizes follow a real cache's: over a
//! corpus, median about 9 KB, p90 about 16 KB, at most about 40 KB (raw JSON
//! about 4 times that).
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

mod metadata;
mod model;
mod name;
mod planner;
mod pools;
mod rng;
mod siginfo;
mod write;

#[cfg(test)]
mod tests;

pub use name::{NameParts, sstate_name};
pub use rng::SplitMix64;
pub use siginfo::write_siginfo;
pub use write::generate;

/// 2026-01-01T00:00:00Z. Every file mtime is at most this; every directory
/// mtime is exactly this.
pub const BASE_EPOCH: i64 = 1_767_225_600;
pub(crate) const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 86_400;

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
    pub(crate) fn add(&mut self, o: &CorpusSummary) {
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
