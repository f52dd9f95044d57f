//! A fixed, synthetic BitBake metadata universe for siginfo bodies.
//!
//! Most of a real siginfo file is the task's variable data: `taskdeps` (every
//! variable and function the task depends on, transitively), `gendeps` (the
//! direct references of each of them) and `varvals` (their unexpanded values
//! and shell or python bodies). Shell functions depend on every exported
//! variable (BitBake's `shelldeps`), so shell tasks share a large common set.
//!
//! [`Universe`] is built once per process from a fixed seed (it is the same
//! for every corpus): about 1,700 variables and functions in themed clusters
//! (toolchain exports, fetch, configure, packaging, sstate, ...), named and
//! valued in the style of OE-Core but written from templates here, each with
//! its dependencies (acyclic), its transitive closure and its JSON fragments
//! pre-serialised. A siginfo body is then a selection (a task's roots plus
//! random fill from the task's clusters up to a drawn size) copied out in
//! sorted order, so writing one costs little more than the compression.

use crate::rng::SplitMix64;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

mod known;
mod names;
mod recipe;
mod tasks;
mod text;

use known::*;
use names::*;
pub(crate) use recipe::*;
use tasks::*;
use text::*;

/// Variable and function themes; a task draws its fill from a few of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cluster {
    Common,
    Export,
    Fetch,
    Source,
    Configure,
    Compile,
    Install,
    License,
    Sysroot,
    Sstate,
    Package,
    PackageWrite,
    Qa,
    Deploy,
    Image,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Var,
    Shell,
    Python,
}

/// Variables whose value is the recipe's own (rendered per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dyn {
    Pr,
    SrcUri,
    SrcSha256,
    Srcrev,
    LicFilesChksum,
    License,
    Depends,
    Packageconfig,
    ExtraOeconf,
}

/// How the recipe builds: picks the `do_configure`/`do_compile`/`do_install`
/// bodies and their roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildSys {
    Autotools,
    Cmake,
    Meson,
    Make,
    Python,
    Kernel,
    Data,
}

/// One variable or function, with its JSON fragments ready to copy.
pub(crate) struct Entry {
    pub(crate) name: String,
    kind: Kind,
    pub(crate) dynamic: Option<Dyn>,
    /// Sorted indices of the entry and everything it depends on.
    pub(crate) closure: Vec<u32>,
    /// `"NAME"` (a `taskdeps` member).
    pub(crate) j_name: String,
    /// `"NAME":{"_set_object":[...]}` (a `gendeps` member).
    pub(crate) j_gendeps: String,
    /// `"NAME":VALUE` (a `varvals` member); `"NAME":` for dynamic entries.
    pub(crate) j_varval: String,
    /// Bytes the entry adds to a siginfo (an estimate for dynamic ones).
    pub(crate) weight: u32,
}

/// The function of a task (`varvals[task]`), per build system where it matters.
pub(crate) struct TaskFn {
    /// The JSON value of `varvals["do_TASK"]`.
    pub(crate) j_value: String,
    /// Bitset over the universe: the closure of the task's roots.
    pub(crate) bits: Vec<u64>,
    pub(crate) weight: u32,
}

/// Per task type: its function(s), what fills it and by how much.
pub(crate) struct Profile {
    /// Median bytes of fill beyond the task function's closure.
    pub(crate) extra: u32,
    /// Per build system (`None`: any other).
    pub(crate) fns: Vec<(Option<BuildSys>, TaskFn)>,
    /// Fill candidates (entry indices): the task's clusters and the common one.
    pub(crate) candidates: Vec<u32>,
}

pub(crate) struct Universe {
    pub(crate) entries: Vec<Entry>,
    /// `{"_set_object":[...]}` of `BB_BASEHASH_IGNORE_VARS`.
    pub(crate) ignore_json: String,
    pub(crate) profiles: HashMap<&'static str, Profile>,
    /// For task names the model does not know.
    pub(crate) generic: Profile,
    /// Forced dependencies that could not be resolved (a test keeps it empty).
    pub(crate) unresolved: Vec<String>,
}

impl Universe {
    pub(crate) fn get() -> &'static Universe {
        static U: OnceLock<Universe> = OnceLock::new();
        let u = U.get_or_init(build);
        debug_assert!(u.unresolved.is_empty(), "{:?}", u.unresolved);
        u
    }

    pub(crate) fn profile(&self, task: &str) -> &Profile {
        self.profiles.get(task).unwrap_or(&self.generic)
    }
}

impl Profile {
    pub(crate) fn task_fn(&self, bs: BuildSys) -> &TaskFn {
        self.fns
            .iter()
            .find(|(b, _)| *b == Some(bs))
            .or_else(|| self.fns.iter().find(|(b, _)| b.is_none()))
            .map_or(&self.fns[0].1, |(_, f)| f)
    }
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

struct Proto {
    name: String,
    kind: Kind,
    cluster: Cluster,
    dynamic: Option<Dyn>,
    fill: bool,
    deps: Vec<usize>,
    value: Option<String>,
}

/// Forced direct dependencies of some named entries (resolved by name).
const FORCED: &[(&str, &str)] = &[
    (
        "base_do_fetch",
        "SRC_URI SRCREV BB_STRICT_CHECKSUM MIRRORS PREMIRRORS BB_GENERATE_MIRROR_TARBALLS",
    ),
    ("fetcher_hashes_dummyfunc", "SRC_URI SRCREV SRCREV_FORMAT"),
    ("base_do_unpack", "SRC_URI S UNPACKDIR"),
    (
        "patch_do_patch",
        "SRC_URI PATCHTOOL PATCHRESOLVE S src_patches",
    ),
    (
        "autotools_do_configure",
        "EXTRA_OECONF PACKAGECONFIG_CONFARGS CONFIGUREOPTS oe_runconf CACHED_CONFIGUREVARS",
    ),
    ("PACKAGECONFIG_CONFARGS", "PACKAGECONFIG"),
    (
        "cmake_do_configure",
        "EXTRA_OECMAKE PACKAGECONFIG_CONFARGS OECMAKE_GENERATOR",
    ),
    (
        "meson_do_configure",
        "EXTRA_OEMESON PACKAGECONFIG_CONFARGS MESONOPTS",
    ),
    (
        "find_license_files",
        "LICENSE LIC_FILES_CHKSUM COMMON_LICENSE_DIR",
    ),
    ("PACKAGES", "PN"),
    ("SRC_URI", "BP BPN SRC_URI[sha256sum]"),
    ("EXTRA_OECONF", "prefix"),
    ("PACKAGECONFIG", "DISTRO_FEATURES"),
    ("LIC_FILES_CHKSUM", "S"),
    ("package_depchains", "DEPENDS PACKAGES"),
];

fn build() -> Universe {
    let mut r = SplitMix64::keyed(0x5349_4749_4e46_4f21, &[1]);
    let ignore: HashSet<&str> = split(IGNORE_VARS).into_iter().collect();
    let mut protos: Vec<Proto> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let exported: Vec<&str> = split(EXPORTED);

    let mut add = |protos: &mut Vec<Proto>, name: &str, kind: Kind, cluster: Cluster| {
        if ignore.contains(name) || by_name.contains_key(name) {
            return None;
        }
        by_name.insert(name.to_string(), protos.len());
        protos.push(Proto {
            name: name.to_string(),
            kind,
            cluster,
            dynamic: dyn_of(name),
            fill: true,
            deps: Vec::new(),
            value: None,
        });
        Some(protos.len() - 1)
    };

    // Random dependencies point to entries made earlier (so they form no
    // cycle): phase 1, common variables; 2, exported variables and what they
    // use; 3, common functions; 4, each theme (variables, then functions).
    let mut phases: Vec<(Cluster, Vec<usize>)> = Vec::new();
    let mut ids = Vec::new();
    for n in split(COMMON_VARS) {
        ids.extend(add(&mut protos, n, Kind::Var, Cluster::Common));
    }
    synth_vars(&mut r, Cluster::Common, 60, &mut protos, &mut add, &mut ids);
    phases.push((Cluster::Common, ids));
    let mut ids = Vec::new();
    for n in split(EXPORT_REFS) {
        ids.extend(add(&mut protos, n, Kind::Var, Cluster::Export));
    }
    let mut export_ids = Vec::new();
    for n in &exported {
        if let Some(i) = add(&mut protos, n, Kind::Var, Cluster::Export) {
            export_ids.push(i);
            ids.push(i);
        } else if let Some(i) = protos.iter().position(|p| p.name == *n) {
            export_ids.push(i);
        }
    }
    phases.push((Cluster::Export, ids));
    let mut ids = Vec::new();
    for n in split(COMMON_SHELL) {
        ids.extend(add(&mut protos, n, Kind::Shell, Cluster::Common));
    }
    for n in split(COMMON_PYTHON) {
        ids.extend(add(&mut protos, n, Kind::Python, Cluster::Common));
    }
    synth_funcs(&mut r, Cluster::Common, 30, &mut protos, &mut add, &mut ids);
    phases.push((Cluster::Common, ids));
    for &(c, vars, shell, python) in CLUSTER_NAMES {
        let mut ids = Vec::new();
        for n in split(vars) {
            ids.extend(add(&mut protos, n, Kind::Var, c));
        }
        let named_funcs = split(shell).len() + split(python).len();
        let want = cluster_size(c).saturating_sub(ids.len() + named_funcs);
        let synth_v = want * 55 / 100;
        synth_vars(&mut r, c, synth_v, &mut protos, &mut add, &mut ids);
        for n in split(shell) {
            ids.extend(add(&mut protos, n, Kind::Shell, c));
        }
        for n in split(python) {
            ids.extend(add(&mut protos, n, Kind::Python, c));
        }
        synth_funcs(&mut r, c, want - synth_v, &mut protos, &mut add, &mut ids);
        phases.push((c, ids));
    }

    // Dependencies, then values (which mention them).
    let forced: HashMap<&str, Vec<&str>> = FORCED.iter().map(|(k, v)| (*k, split(v))).collect();
    let mut unresolved = Vec::new();
    let mut shared_vars: Vec<usize> = Vec::new();
    let mut shared_funcs: Vec<usize> = Vec::new();
    for (c, ids) in &phases {
        let mut local_vars: Vec<usize> = Vec::new();
        let mut local_funcs: Vec<usize> = Vec::new();
        for &i in ids {
            let kind = protos[i].kind;
            let mut deps: Vec<usize> = Vec::new();
            let pick_var = |r: &mut SplitMix64, lv: &[usize], sv: &[usize]| -> Option<usize> {
                let own = !lv.is_empty() && (sv.is_empty() || r.chance(600));
                let pool = if own { lv } else { sv };
                (!pool.is_empty()).then(|| *r.pick(pool))
            };
            match kind {
                Kind::Var => {
                    let n = match r.below(100) {
                        _ if protos[i].dynamic.is_some() => 0,
                        0..=44 => 0,
                        45..=74 => 1,
                        75..=89 => 2,
                        _ => r.range(3, 5),
                    };
                    for _ in 0..n {
                        deps.extend(pick_var(&mut r, &local_vars, &shared_vars));
                    }
                }
                Kind::Shell | Kind::Python => {
                    let nv = r.range(1, 6);
                    for _ in 0..nv {
                        deps.extend(pick_var(&mut r, &local_vars, &shared_vars));
                    }
                    let nf = r.range(0, 2);
                    for _ in 0..nf {
                        let own = !local_funcs.is_empty() && r.chance(500);
                        let pool = if own { &local_funcs } else { &shared_funcs };
                        if !pool.is_empty() {
                            let f = *r.pick(pool);
                            // Python only calls shell through exec_func, rarely.
                            let exec_ok = matches!(
                                c,
                                Cluster::Sysroot
                                    | Cluster::Package
                                    | Cluster::PackageWrite
                                    | Cluster::Image
                                    | Cluster::Deploy
                            ) && r.chance(60);
                            if kind == Kind::Shell || protos[f].kind == Kind::Python || exec_ok {
                                deps.push(f);
                            }
                        }
                    }
                    if kind == Kind::Shell {
                        deps.extend(export_ids.iter().copied());
                    }
                }
            }
            if let Some(v) = known_value(&protos[i].name) {
                // Known values depend on exactly what they mention.
                deps.clear();
                for name in known_refs(v) {
                    if let Some(&j) = by_name.get(name) {
                        deps.push(j);
                    }
                }
                if kind == Kind::Shell {
                    deps.extend(export_ids.iter().copied());
                }
            }
            if let Some(fs) = forced.get(protos[i].name.as_str()) {
                for f in fs {
                    match by_name.get(*f) {
                        Some(&j) => deps.push(j),
                        _ => unresolved.push(format!("{} -> {f}", protos[i].name)),
                    }
                }
            }
            deps.retain(|&d| d != i);
            deps.sort_unstable();
            deps.dedup();
            protos[i].deps = deps;
            match kind {
                Kind::Var => local_vars.push(i),
                _ => local_funcs.push(i),
            }
        }
        if matches!(c, Cluster::Common | Cluster::Export) {
            shared_vars.extend(local_vars);
            shared_funcs.extend(local_funcs);
        }
    }
    let stock = Stock::new(&mut r);
    for i in 0..protos.len() {
        let dep_names: Vec<(String, Kind)> = protos[i]
            .deps
            .iter()
            .map(|&d| (protos[d].name.clone(), protos[d].kind))
            .collect();
        let p = &protos[i];
        let value = match (p.kind, p.dynamic) {
            (_, Some(_)) => None,
            (_, None) if known_value(&p.name).is_some() => known_value(&p.name).map(String::from),
            (Kind::Var, None) => var_value(&mut r, &p.name, &dep_names),
            (Kind::Shell, None) => Some(shell_body(&mut r, &dep_names, &exported, Some(&stock))),
            (Kind::Python, None) => Some(python_body(&mut r, &dep_names, Some(&stock))),
        };
        protos[i].value = value;
    }
    // Named dynamic entries are roots, not random fill.
    for p in &mut protos {
        if p.dynamic.is_some() {
            p.fill = false;
        }
    }

    // Sort by name (BitBake's sort_keys order is code-point order: bytes here).
    let mut order: Vec<usize> = (0..protos.len()).collect();
    order.sort_by(|&a, &b| protos[a].name.cmp(&protos[b].name));
    let mut rank = vec![0u32; protos.len()];
    for (k, &i) in order.iter().enumerate() {
        rank[i] = k as u32;
    }
    // Closures as bitsets over ranks. Known values may refer to later
    // entries, so this is a depth-first walk; an edge that would close a cycle
    // is dropped (so every closure is exactly what its entry reaches).
    let words = protos.len().div_ceil(64);
    let mut bits: Vec<Vec<u64>> = vec![Vec::new(); protos.len()];
    let mut state = vec![0u8; protos.len()]; // 0 new, 1 in progress, 2 done
    for start in 0..protos.len() {
        closure_dfs(start, &mut protos, &rank, words, &mut bits, &mut state);
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(protos.len());
    let mut cluster_of: Vec<(Cluster, bool)> = Vec::with_capacity(protos.len());
    for &i in &order {
        let p = &protos[i];
        let j_name = json_str(&p.name);
        let mut dep_ranks: Vec<u32> = p.deps.iter().map(|&d| rank[d]).collect();
        dep_ranks.sort_unstable();
        let mut j_gendeps = format!("{j_name}:{{\"_set_object\":[");
        for (k, &d) in dep_ranks.iter().enumerate() {
            if k > 0 {
                j_gendeps.push(',');
            }
            j_gendeps.push_str(&json_str(&protos[order[d as usize]].name));
        }
        j_gendeps.push_str("]}");
        let j_varval = match (&p.dynamic, &p.value) {
            (Some(_), _) => format!("{j_name}:"),
            (None, Some(v)) => format!("{j_name}:{}", json_str(v)),
            (None, None) => format!("{j_name}:null"),
        };
        let dyn_extra = if p.dynamic.is_some() { 160 } else { 0 };
        let weight = (j_name.len() + j_gendeps.len() + j_varval.len() + 3 + dyn_extra) as u32;
        entries.push(Entry {
            name: p.name.clone(),
            kind: p.kind,
            dynamic: p.dynamic,
            closure: bits_to_list(&bits[i]),
            j_name,
            j_gendeps,
            j_varval,
            weight,
        });
        cluster_of.push((p.cluster, p.fill));
    }
    let find = |name: &str| -> Option<usize> { by_name.get(name).map(|&i| rank[i] as usize) };

    let mut ign: Vec<&str> = ignore.iter().copied().collect();
    ign.sort_unstable();
    let ignore_json = format!(
        "{{\"_set_object\":[{}]}}",
        ign.iter()
            .map(|s| json_str(s))
            .collect::<Vec<_>>()
            .join(",")
    );

    let mut profiles = HashMap::new();
    for spec in task_specs() {
        let p = make_profile(
            &mut r,
            &stock,
            &spec,
            &entries,
            &cluster_of,
            &find,
            &mut unresolved,
        );
        profiles.insert(spec.task, p);
    }
    let generic = make_profile(
        &mut r,
        &stock,
        &generic_spec(),
        &entries,
        &cluster_of,
        &find,
        &mut unresolved,
    );
    Universe {
        entries,
        ignore_json,
        profiles,
        generic,
        unresolved,
    }
}

fn closure_dfs(
    i: usize,
    protos: &mut [Proto],
    rank: &[u32],
    words: usize,
    bits: &mut [Vec<u64>],
    state: &mut [u8],
) {
    if state[i] != 0 {
        return;
    }
    state[i] = 1;
    let deps = std::mem::take(&mut protos[i].deps);
    let mut kept = Vec::with_capacity(deps.len());
    let mut b = vec![0u64; words];
    let me = rank[i] as usize;
    b[me / 64] |= 1 << (me % 64);
    for d in deps {
        closure_dfs(d, protos, rank, words, bits, state);
        if state[d] == 1 {
            continue; // a cycle back to an entry in progress
        }
        for (w, x) in b.iter_mut().zip(&bits[d]) {
            *w |= x;
        }
        kept.push(d);
    }
    protos[i].deps = kept;
    bits[i] = b;
    state[i] = 2;
}

fn dyn_of(name: &str) -> Option<Dyn> {
    Some(match name {
        "PR" => Dyn::Pr,
        "SRC_URI" => Dyn::SrcUri,
        "SRC_URI[sha256sum]" => Dyn::SrcSha256,
        "SRCREV" => Dyn::Srcrev,
        "LIC_FILES_CHKSUM" => Dyn::LicFilesChksum,
        "LICENSE" => Dyn::License,
        "DEPENDS" => Dyn::Depends,
        "PACKAGECONFIG" => Dyn::Packageconfig,
        "EXTRA_OECONF" => Dyn::ExtraOeconf,
        _ => return None,
    })
}

type AddFn<'a> = dyn FnMut(&mut Vec<Proto>, &str, Kind, Cluster) -> Option<usize> + 'a;

fn synth_prefixes(c: Cluster) -> (Vec<&'static str>, Vec<&'static str>) {
    SYNTH
        .iter()
        .find(|(k, _, _)| *k == c)
        .map(|(_, u, l)| (split(u), split(l)))
        .unwrap_or_default()
}

fn synth_vars(
    r: &mut SplitMix64,
    c: Cluster,
    n: usize,
    protos: &mut Vec<Proto>,
    add: &mut AddFn<'_>,
    ids: &mut Vec<usize>,
) {
    let (upper, _) = synth_prefixes(c);
    let suffixes = split(UPPER_SUFFIXES);
    let words = split(WORDS);
    let mut made = 0;
    let mut tries = 0;
    while made < n && tries < n * 20 && !upper.is_empty() {
        tries += 1;
        let mut name = format!("{}_{}", r.pick(&upper), r.pick(&suffixes));
        if r.chance(400) {
            let w = r.pick(&words).to_ascii_uppercase();
            name = format!("{}_{w}_{}", r.pick(&upper), r.pick(&suffixes));
        }
        if let Some(i) = add(protos, &name, Kind::Var, c) {
            ids.push(i);
            made += 1;
        }
    }
}

fn synth_funcs(
    r: &mut SplitMix64,
    c: Cluster,
    n: usize,
    protos: &mut Vec<Proto>,
    add: &mut AddFn<'_>,
    ids: &mut Vec<usize>,
) {
    let (_, lower) = synth_prefixes(c);
    let verbs = split(LOWER_VERBS);
    let nouns = split(LOWER_NOUNS);
    let mut made = 0;
    let mut tries = 0;
    while made < n && tries < n * 20 && !lower.is_empty() {
        tries += 1;
        let name = format!("{}_{}_{}", r.pick(&lower), r.pick(&verbs), r.pick(&nouns));
        // Python-heavy themes get more python functions.
        let py = match c {
            Cluster::Package | Cluster::Qa | Cluster::License | Cluster::Fetch => r.chance(800),
            Cluster::Sstate | Cluster::Image | Cluster::PackageWrite => r.chance(550),
            _ => r.chance(250),
        };
        let kind = if py { Kind::Python } else { Kind::Shell };
        if let Some(i) = add(protos, &name, kind, c) {
            ids.push(i);
            made += 1;
        }
    }
}

fn bits_to_list(b: &[u64]) -> Vec<u32> {
    let mut out = Vec::new();
    for (w, &x) in b.iter().enumerate() {
        let mut x = x;
        while x != 0 {
            let t = x.trailing_zeros();
            out.push((w * 64) as u32 + t);
            x &= x - 1;
        }
    }
    out
}

pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}
