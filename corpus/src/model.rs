//! The recipe model: tasks, generations, plans and the objects they make.

use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
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
    pub(crate) fn name(self) -> &'static str {
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

    pub(crate) fn id(self) -> u64 {
        self as u64 + 1
    }

    /// Uses `SSTATE_SWSPEC` (`sstate:PN::PV:PR::SSVER:`, top level).
    pub(crate) fn swspec(self) -> bool {
        matches!(
            self,
            Task::Fetch | Task::Unpack | Task::Patch | Task::Preconfigure | Task::PopulateLic
        )
    }

    pub(crate) fn has_archive(self) -> bool {
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

    pub(crate) fn intra_deps(self) -> &'static [Task] {
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
    pub(crate) fn sizes(self) -> ((u64, u64), (u64, u64)) {
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
pub(crate) enum Kind {
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
pub(crate) struct Generation {
    pub(crate) pv: String,
    pub(crate) pr: String,
    pub(crate) ssver: &'static str,
    /// thud-era: `.tgz`, SSVER 3, md5 (32 hex) hashes, pickle siginfo.
    pub(crate) legacy: bool,
    /// Start of this generation's build (unix seconds).
    pub(crate) time: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) idx: usize,
    /// Recipe name (stamps dir name).
    pub(crate) pn: String,
    /// PN in the sstate file names (`gcc` for gcc-source-13.2.0).
    pub(crate) file_pn: String,
    /// Base name for recipe files and work-shared stamps.
    pub(crate) bpn: String,
    pub(crate) kind: Kind,
    pub(crate) pkgtarget: String,
    pub(crate) pkgarch: String,
    pub(crate) extrapath: &'static str,
    /// `MULTIMACH_TARGET_SYS`, or `work-shared`.
    pub(crate) stamp_sys: String,
    /// `MACHINE` for stamp-extra-info, if machine specific.
    pub(crate) machine: Option<&'static str>,
    pub(crate) recipe_dir: String,
    pub(crate) virt: &'static str,
    pub(crate) tasks: Vec<Task>,
    pub(crate) gens: Vec<Generation>,
    /// Earlier plans whose `populate_sysroot` this recipe's `configure` uses.
    pub(crate) deps: Vec<usize>,
    /// Part of the latest build (stamps name its newest generation).
    pub(crate) in_latest: bool,
    /// The latest build ran its tasks (vs restored them from sstate).
    pub(crate) ran: bool,
    /// Objects actually written (≤ total).
    pub(crate) cap: usize,
    pub(crate) force_orphans: bool,
    pub(crate) force_odd: bool,
    pub(crate) force_symlink: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjRef {
    pub(crate) task: Task,
    /// Generation whose signature made the object (its hash).
    pub(crate) hash_gen: usize,
    /// Newest generation that used (touched) it.
    pub(crate) use_gen: usize,
}

impl Plan {
    pub(crate) fn newest(&self) -> usize {
        self.gens.len() - 1
    }

    pub(crate) fn gen_has(&self, g: usize, t: Task) -> bool {
        self.tasks.contains(&t) && (!self.gens[g].legacy || t.has_archive())
    }

    pub(crate) fn same_src(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.gens[a], &self.gens[b]);
        x.pv == y.pv && x.pr == y.pr && x.ssver == y.ssver && x.legacy == y.legacy
    }

    /// The generation that produced the object of `t` used by generation `g`.
    /// SWSPEC tasks (fetch, unpack, patch, preconfigure, populate_lic) only
    /// depend on PV/PR, so a rebuild with the same PV/PR reuses their object.
    pub(crate) fn hash_gen(&self, g: usize, t: Task) -> usize {
        let mut k = g;
        if t.swspec() {
            while k > 0 && self.same_src(k - 1, k) {
                k -= 1;
            }
        }
        k
    }

    pub(crate) fn last_use_gen(&self, g: usize, t: Task) -> usize {
        let mut k = g;
        if t.swspec() {
            while k + 1 < self.gens.len() && self.same_src(k, k + 1) {
                k += 1;
            }
        }
        k
    }

    /// All objects, newest generation first (the order `cap` cuts).
    pub(crate) fn objects(&self) -> Vec<ObjRef> {
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

    pub(crate) fn recipe_key(&self, g: usize, t: Task) -> String {
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
    pub(crate) fn task_offset(&self, seed: u64, g: usize, t: Task) -> i64 {
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

pub(crate) fn obj_hash(seed: u64, plan: usize, g: usize, task: Task, legacy: bool) -> String {
    let mut r = SplitMix64::keyed(seed, &[plan as u64, g as u64, task.id(), 0x4a5b]);
    r.hex(if legacy { 32 } else { 64 })
}
