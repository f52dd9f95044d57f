//! The trash of a mirror on an object store: `--trash` copies each key
//! (server-side, nothing downloaded) to
//! `PREFIX/.sstate-cache-management/trash/RUN/<its relative key>` and then
//! deletes it; `RUN/run.json` is the manifest, as on disk. `restore`
//! copies a run's keys back, never over a key that exists again; `empty`
//! deletes runs.
//!
//! (A copy sets the key's last-modified to now: a restored object counts
//! as just used, and a trashed one's age in the trash runs from the
//! cleanup.)

use super::{Manifest, Restored, TrashRun, rel_dir};
use crate::store::Store;
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;

/// Write the run's manifest; returns the run's prefix relative to the
/// location (what [`crate::remove::Mode::Trash`] takes).
pub fn begin(store: &Store, name: &str, manifest: &Manifest) -> Result<String> {
    let rel = format!("{}/{name}", rel_dir());
    let bytes = serde_json::to_vec_pretty(manifest).context("encoding the trash manifest")?;
    store.put(&format!("{rel}/run.json"), bytes).map_err(|e| {
        anyhow!(
            "{}: writing the trash manifest {rel}/run.json: {e}",
            store.url
        )
    })?;
    Ok(rel)
}

/// Every key of the trash, by run: (key relative to the location, size).
fn keys_by_run(store: &Store) -> Result<BTreeMap<String, Vec<(String, u64)>>> {
    let trash = rel_dir();
    let listed = store
        .list_under(std::slice::from_ref(&trash))
        .pop()
        .unwrap_or_else(|| Ok(Vec::new()))
        .map_err(|e| anyhow!("{}: listing the trash: {e}", store.url))?;
    let mut runs: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for k in listed {
        let Some(rest) = k.rel.strip_prefix(&format!("{trash}/")) else {
            continue;
        };
        if let Some((run, _)) = rest.split_once('/') {
            runs.entry(run.to_string())
                .or_default()
                .push((k.rel.clone(), k.size));
        }
    }
    Ok(runs)
}

/// The runs in the trash, oldest first.
pub fn list(store: &Store) -> Result<Vec<TrashRun>> {
    let runs = keys_by_run(store)?;
    let manifests: Vec<String> = runs
        .keys()
        .map(|run| format!("{}/{run}/run.json", rel_dir()))
        .collect();
    let got = store.get_many(&manifests, 1 << 20);
    Ok(runs
        .into_iter()
        .zip(got)
        .map(|((name, keys), manifest)| {
            let manifest: Option<Manifest> =
                manifest.ok().and_then(|b| serde_json::from_slice(&b).ok());
            let files: Vec<&(String, u64)> = keys
                .iter()
                .filter(|(k, _)| !k.ends_with(&format!("{name}/run.json")))
                .collect();
            TrashRun {
                started_at: manifest
                    .as_ref()
                    .map(|m| m.started_at.clone())
                    .unwrap_or_else(|| name.clone()),
                name,
                manifest,
                files: files.len() as u64,
                disk_bytes: files.iter().map(|(_, s)| s.div_ceil(512) * 512).sum(),
            }
        })
        .collect())
}

/// Copy a run's keys back where they were, unless a key of that name
/// exists again (a build uploaded it since): that one stays in the trash.
/// The run goes once every key is back.
pub fn restore(store: &Store, run: &str) -> Result<Restored> {
    let runs = keys_by_run(store)?;
    let keys = runs.get(run).cloned().unwrap_or_default();
    let run_prefix = format!("{}/{run}/", rel_dir());
    let manifest = format!("{run_prefix}run.json");
    let pairs: Vec<(String, String)> = keys
        .iter()
        .filter(|(k, _)| *k != manifest)
        .filter_map(|(k, _)| Some((k.clone(), k.strip_prefix(&run_prefix)?.to_string())))
        .collect();
    let targets: Vec<String> = pairs.iter().map(|(_, to)| to.clone()).collect();
    let mut out = Restored::default();
    let mut to_copy = Vec::new();
    for (pair, now) in pairs.into_iter().zip(store.head_many(&targets)) {
        match now {
            Ok(None) => to_copy.push(pair),
            Ok(Some(_)) => out.kept_newer.push(pair.1),
            Err(e) => out.failed.push((pair.1, e)),
        }
    }
    let mut copied = Vec::new();
    for ((from, to), r) in to_copy.iter().zip(store.copy_many(&to_copy)) {
        match r {
            Ok(()) => copied.push(from.clone()),
            Err(e) => out.failed.push((to.clone(), e)),
        }
    }
    for (from, r) in copied.iter().zip(store.delete(&copied)) {
        match r {
            Ok(()) => out.restored += 1,
            // Back in the cache, but also still in the trash.
            Err(e) => out.failed.push((
                from.clone(),
                format!("restored, but not removed from the trash: {e}"),
            )),
        }
    }
    if out.kept_newer.is_empty() && out.failed.is_empty() {
        let _ = store.delete(&[manifest]);
    }
    Ok(out)
}

/// Delete runs: all, or those trashed before `before` (RFC 3339).
pub fn empty(store: &Store, before: Option<&str>) -> Result<Vec<TrashRun>> {
    let by_run = keys_by_run(store)?;
    let mut gone = Vec::new();
    for run in list(store)? {
        if before.is_some_and(|b| run.started_at.as_str() >= b) {
            continue;
        }
        let keys: Vec<String> = by_run
            .get(&run.name)
            .map(|k| k.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        let failed: Vec<String> = keys
            .iter()
            .zip(store.delete(&keys))
            .filter_map(|(k, r)| r.err().map(|e| format!("{k}: {e}")))
            .collect();
        if let Some(first) = failed.first() {
            return Err(anyhow!(
                "{}: deleting the trash run {} ({} keys failed, e.g. {first})",
                store.url,
                run.name,
                failed.len()
            ));
        }
        gone.push(run);
    }
    Ok(gone)
}
