//! Drawing the recipes (plans) of a corpus: the showcase, then random ones.

use crate::model::{Generation, Kind, Plan, Task};
use crate::pools::*;
use crate::rng::SplitMix64;
use crate::{BASE_EPOCH, CorpusSpec, DAY, HOUR};
use std::collections::HashSet;

#[derive(Clone, Copy)]
pub(crate) struct Arch {
    pub(crate) tune: &'static str,
    pub(crate) machine: &'static str,
    pub(crate) write: Task,
}
pub(crate) const X86: Arch = Arch {
    tune: "core2-64",
    machine: "qemux86_64",
    write: Task::PackageWriteIpk,
};
pub(crate) const ARM: Arch = Arch {
    tune: "cortexa57",
    machine: "qemuarm64",
    write: Task::PackageWriteRpm,
};

#[derive(Debug, Clone)]
pub(crate) enum PvStyle {
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
    pub(crate) fn random(r: &mut SplitMix64) -> Self {
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

    pub(crate) fn render(&self, seed: u64, plan: usize, n: u64) -> String {
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
pub(crate) struct Knobs {
    pub(crate) pn: String,
    pub(crate) kind: Kind,
    pub(crate) arch: Arch,
    pub(crate) gens: usize,
    pub(crate) style: Option<PvStyle>,
    pub(crate) legacy: bool,
    pub(crate) ssver13: bool,
    pub(crate) deploy: bool,
    pub(crate) preconfigure: bool,
    pub(crate) long_pr: bool,
    pub(crate) exact_arch: bool,
    /// Every new generation bumps PV (busybox: shows SWSPEC duplicates).
    pub(crate) bump: bool,
    pub(crate) force_orphans: bool,
    pub(crate) force_odd: bool,
    pub(crate) force_symlink: bool,
}

impl Knobs {
    pub(crate) fn new(pn: &str, kind: Kind, arch: Arch, gens: usize) -> Self {
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
pub(crate) const SHARED: &[(&str, &str, &[&str])] = &[
    ("gcc-source", "gcc", &["12.3.0", "13.2.0"]),
    ("llvm-project-source", "llvm-project-source", &["17.0.6"]),
    ("rust-source", "rust-source", &["1.74.1", "1.75.0"]),
];

/// PR of the recipe whose names are truncated to exactly 254 characters.
pub(crate) const LONG_PR: &str = "r0.bsp-vendor-release-2024q1-lts-kernel-abi-compat-7";

pub(crate) fn showcase() -> Vec<Knobs> {
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

pub(crate) struct Planner {
    pub(crate) seed: u64,
    pub(crate) r: SplitMix64,
    pub(crate) used: HashSet<String>,
    pub(crate) natives: Vec<String>,
    pub(crate) twinned: HashSet<String>,
    pub(crate) depable: Vec<usize>,
}

impl Planner {
    pub(crate) fn new(seed: u64) -> Self {
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

    pub(crate) fn synthetic(&mut self, native: bool) -> String {
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

    pub(crate) fn known(&mut self, pool: &[&str], suffix: &str) -> Option<String> {
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

    pub(crate) fn random_knobs(&mut self) -> Knobs {
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

    pub(crate) fn plan(&mut self, idx: usize, k: Knobs) -> Plan {
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

pub(crate) fn build_plans(spec: &CorpusSpec) -> Vec<Plan> {
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
