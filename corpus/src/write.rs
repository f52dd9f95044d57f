//! Writing a corpus to disk: objects, companions, odd files, stamps.

use crate::metadata::{RecipeInfo, build_sys_for};
use crate::model::{Kind, ObjRef, Plan, Task, obj_hash};
use crate::name::NameParts;
use crate::planner::{ARM, X86, build_plans};
use crate::rng::SplitMix64;
use crate::siginfo::{SigTask, siginfo_json, zstd_compress};
use crate::{BASE_EPOCH, CorpusSpec, CorpusSummary, DAY};
use anyhow::{Context, Result, bail};
use filetime::FileTime;
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Directories created below `root`, so each is created once and all get
/// their mtime settled at the end.
pub(crate) struct DirSet {
    pub(crate) root: PathBuf,
    pub(crate) set: Mutex<HashSet<PathBuf>>,
}

impl DirSet {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            set: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn ensure(&self, dir: &Path) -> Result<()> {
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

    pub(crate) fn into_sorted(self) -> Result<Vec<PathBuf>> {
        let set = self
            .set
            .into_inner()
            .map_err(|_| anyhow::anyhow!("directory set lock poisoned"))?;
        let mut v: Vec<PathBuf> = set.into_iter().collect();
        v.sort();
        Ok(v)
    }
}

pub(crate) fn ft(t: i64) -> FileTime {
    FileTime::from_unix_time(t, 0)
}

pub(crate) fn write_file(path: &Path, data: &[u8], mtime: i64) -> Result<()> {
    let mut f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    if !data.is_empty() {
        f.write_all(data)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    filetime::set_file_handle_times(&f, Some(ft(mtime)), Some(ft(mtime)))
        .with_context(|| format!("setting mtime of {}", path.display()))
}

pub(crate) fn write_sparse(path: &Path, len: u64, mtime: i64) -> Result<()> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.set_len(len)
        .with_context(|| format!("extending {}", path.display()))?;
    filetime::set_file_handle_times(&f, Some(ft(mtime)), Some(ft(mtime)))
        .with_context(|| format!("setting mtime of {}", path.display()))
}

pub(crate) fn write_symlink(target: &str, path: &Path, mtime: i64) -> Result<()> {
    std::os::unix::fs::symlink(target, path)
        .with_context(|| format!("creating symlink {}", path.display()))?;
    filetime::set_symlink_file_times(path, ft(mtime), ft(mtime))
        .with_context(|| format!("setting mtime of {}", path.display()))
}

pub(crate) fn random_bytes(r: &mut SplitMix64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    r.fill(&mut v);
    v
}

pub(crate) struct Ctx<'a> {
    pub(crate) spec: &'a CorpusSpec,
    pub(crate) plans: &'a [Plan],
    pub(crate) cache: &'a Path,
    pub(crate) stamps: Option<&'a Path>,
    pub(crate) cache_dirs: &'a DirSet,
    pub(crate) stamp_dirs: Option<&'a DirSet>,
}

pub(crate) const TEMP_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// The name of an odd file next to an object: 0 = temp file of a build in
/// progress, 1 = siginfo lock, 2 = lock. At most 254 characters.
pub(crate) fn odd_name(archive_name: &str, has_archive: bool, kind: u64, tail: &str) -> String {
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

pub(crate) fn write_plan(cx: &Ctx<'_>, plan: &Plan) -> Result<CorpusSummary> {
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
pub(crate) fn siginfo_for(
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
    let key = SplitMix64::keyed(seed, &[plan.idx as u64, 0x5ec1]).next_u64();
    let gn = &plan.gens[hg];
    let recipe = RecipeInfo {
        bpn: &plan.bpn,
        pv: &gn.pv,
        pr: &gn.pr,
        key,
        build: build_sys_for(key, &plan.pn),
    };
    let task = format!("do_{}", t.name());
    JSON.with(|buf| {
        let mut json = buf.borrow_mut();
        siginfo_json(
            &SigTask {
                task: &task,
                taskhash,
                unihash: hash,
                deps: &deps,
            },
            &recipe,
            &mut body,
            &mut json,
        );
        zstd_compress(json.as_bytes())
    })
}

thread_local! {
    /// The JSON of the siginfo being written, reused (bodies are up to 150 KB).
    static JSON: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn default_machine(plan: &Plan) -> &'static str {
    if plan.pkgtarget.starts_with(ARM.tune) {
        ARM.machine
    } else {
        X86.machine
    }
}

/// Stamps of the newest generation: `.sigdata.H` (+ plain `.H`) for tasks that
/// ran, `_setscene.H[.EXTRAINFO]` for archives restored from sstate.
pub(crate) fn write_stamps(
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

pub(crate) fn ensure_empty_dir(dir: &Path, what: &str) -> Result<()> {
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
pub(crate) fn write_global_odd(seed: u64, cache: &Path, dirs: &DirSet) -> Result<usize> {
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
