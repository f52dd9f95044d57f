//! Applying a plan to an object store: the same whole-object rules as on
//! disk, with requests instead of system calls.
//!
//! - Objects are taken in batches of about 1,000 keys, in plan order.
//! - Every key of a batch is checked again, by listing its parent
//!   directory (`HH/`: a request per 1,000 keys) where several planned
//!   keys share one, else by a HEAD of each (`jobs` at a time); an object
//!   any of whose keys changed (size, last-modified or ETag: a build
//!   uploaded it again, or `touch` refreshed it) keeps every key and is
//!   reported as skipped; a key already gone is skipped as gone.
//! - The archives of the batch are deleted first, in one multi-object
//!   delete; then the other keys of the objects whose archive went (or
//!   had none). An archive that could not be deleted keeps its object.
//! - With `--trash`, each key is first copied (server-side) under the
//!   run's trash prefix; only keys copied are deleted.
//! - An interrupt stops the work at a batch boundary.
//!
//! (S3 has no conditional multi-object delete: between the HEAD and the
//! delete, a few milliseconds, a key rewritten by a build would go. A
//! build that finds its object gone rebuilds it; nothing is half-removed
//! by this tool.)

use super::{Exception, Mode, Options, PlannedObject, Totals, stream_plan};
use crate::store::{Listed, Store};
use anyhow::Result;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Keys re-checked and deleted together.
const BATCH_KEYS: usize = 1000;

/// Planned keys under one parent directory from which that directory is
/// listed again rather than its keys HEAD-ed.
const LIST_AT: usize = 4;

/// The parent of an object's directory: `00` for `00/1a`,
/// `universal/00` for `universal/00/1a`.
fn parent(rel_dir: &str) -> &str {
    rel_dir.rsplit_once('/').map_or("", |(p, _)| p)
}

struct Object {
    rel_dir: String,
    planned: PlannedObject,
}

/// Apply the plan in `temp.selected` to `store`; the exceptions are
/// returned for `temp.outcome`.
pub(super) fn apply(
    conn: &rusqlite::Connection,
    store: &Store,
    opts: &Options<'_>,
) -> Result<(Totals, Vec<(i64, Exception)>)> {
    let mut totals = Totals::default();
    let mut exceptions = Vec::new();
    let mut batch: Vec<Object> = Vec::new();
    let mut keys = 0usize;
    stream_plan(conn, |unit| {
        for planned in unit.objects {
            keys += planned.entries.len();
            batch.push(Object {
                rel_dir: unit.rel.clone(),
                planned,
            });
            if keys >= BATCH_KEYS {
                run_batch(
                    store,
                    std::mem::take(&mut batch),
                    opts,
                    &mut totals,
                    &mut exceptions,
                );
                keys = 0;
            }
        }
        Ok(())
    })?;
    run_batch(store, batch, opts, &mut totals, &mut exceptions);
    Ok((totals, exceptions))
}

fn rel(o: &Object, name: &str) -> String {
    if o.rel_dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", o.rel_dir)
    }
}

/// Delete `keys`, or with a trash, copy each into it first (server-side)
/// and delete those copied; one result per key.
fn take(store: &Store, trash: Option<&str>, keys: &[String]) -> Vec<Result<(), String>> {
    let Some(t) = trash else {
        return store.delete(keys);
    };
    let pairs: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.clone(), format!("{t}/{k}")))
        .collect();
    let copied = store.copy_many(&pairs);
    let ok: Vec<String> = keys
        .iter()
        .zip(&copied)
        .filter(|(_, r)| r.is_ok())
        .map(|(k, _)| k.clone())
        .collect();
    let mut deleted = store.delete(&ok).into_iter();
    copied
        .into_iter()
        .map(|c| match c {
            Ok(()) => deleted
                .next()
                .unwrap_or_else(|| Err("no answer to the delete".into())),
            Err(e) => Err(format!("cannot copy it into the trash: {e}")),
        })
        .collect()
}

fn run_batch(
    store: &Store,
    batch: Vec<Object>,
    opts: &Options<'_>,
    totals: &mut Totals,
    exceptions: &mut Vec<(i64, Exception)>,
) {
    if batch.is_empty() {
        return;
    }
    let mut note = |totals: &mut Totals, id: i64, x: Exception| {
        match &x {
            Exception::SkippedGone => totals.skipped_gone += 1,
            Exception::Failed(_) => totals.failed += 1,
            Exception::SkippedChanged(_) => totals.skipped_changed += 1,
            Exception::NotAttempted => totals.not_attempted += 1,
        }
        exceptions.push((id, x));
    };
    if opts.interrupt.load(Ordering::Relaxed) != 0 {
        for o in &batch {
            for e in &o.planned.entries {
                note(totals, e.entry_id, Exception::NotAttempted);
            }
        }
        return;
    }
    // Re-check every key of the batch: listed again where several of its
    // keys share a parent directory (`HH` of `HH/hh`: one request per
    // 1,000 keys), HEAD-ed one by one elsewhere.
    let all: Vec<String> = batch
        .iter()
        .flat_map(|o| o.planned.entries.iter().map(move |e| rel(o, &e.name)))
        .collect();
    let mut per_parent: HashMap<&str, usize> = HashMap::new();
    for o in &batch {
        *per_parent.entry(parent(&o.rel_dir)).or_default() += o.planned.entries.len();
    }
    let listed_parents: Vec<String> = per_parent
        .iter()
        .filter(|(p, n)| **n >= LIST_AT && !p.is_empty())
        .map(|(p, _)| p.to_string())
        .collect();
    let mut now: HashMap<String, Result<Option<Listed>, String>> = HashMap::new();
    for (p, listed) in listed_parents.iter().zip(store.list_under(&listed_parents)) {
        match listed {
            Ok(keys) => {
                // Every planned key under it: present as listed, or gone.
                for o in batch.iter().filter(|o| parent(&o.rel_dir) == p) {
                    for e in &o.planned.entries {
                        now.insert(rel(o, &e.name), Ok(None));
                    }
                }
                for k in keys {
                    if let Some(slot) = now.get_mut(&k.rel) {
                        *slot = Ok(Some(k));
                    }
                }
            }
            Err(why) => {
                for o in batch.iter().filter(|o| parent(&o.rel_dir) == p) {
                    for e in &o.planned.entries {
                        now.insert(rel(o, &e.name), Err(why.clone()));
                    }
                }
            }
        }
    }
    let to_head: Vec<String> = all
        .iter()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    for (k, h) in to_head.iter().zip(store.head_many(&to_head)) {
        now.insert(k.clone(), h);
    }
    let answers: Vec<Result<Option<Listed>, String>> = all
        .iter()
        .map(|k| {
            now.remove(k)
                .unwrap_or_else(|| Err("no answer to the re-check".into()))
        })
        .collect();
    let mut heads = answers.into_iter();
    // Per object: which of its keys are still there, or why it stays.
    let mut go: Vec<(usize, Vec<bool>)> = Vec::new();
    for (i, o) in batch.iter().enumerate() {
        let now: Vec<_> = o.planned.entries.iter().map(|_| heads.next()).collect();
        let mut present = Vec::with_capacity(now.len());
        let mut verdict: Option<Exception> = None;
        for (e, h) in o.planned.entries.iter().zip(now) {
            match h {
                Some(Ok(None)) => present.push(false),
                Some(Ok(Some(k)))
                    if k.size == e.size && k.mtime_ns == e.mtime_ns && k.etag_id == e.ino =>
                {
                    present.push(true)
                }
                Some(Ok(Some(_))) => {
                    verdict = Some(Exception::SkippedChanged("used-since-scan"));
                    break;
                }
                Some(Err(why)) => {
                    verdict = Some(Exception::Failed(format!("cannot check it: {why}")));
                    break;
                }
                None => {
                    verdict = Some(Exception::Failed("no answer to the re-check".into()));
                    break;
                }
            }
        }
        match verdict {
            Some(x) => {
                if matches!(x, Exception::SkippedChanged(_)) {
                    totals.skipped_objects += 1;
                }
                for e in &o.planned.entries {
                    note(totals, e.entry_id, x.clone());
                }
            }
            None if !present.iter().any(|p| *p) => {
                for e in &o.planned.entries {
                    note(totals, e.entry_id, Exception::SkippedGone);
                }
            }
            None => go.push((i, present)),
        }
    }
    // Archives first (stream_plan puts an object's archive first).
    let mut archives: Vec<(usize, usize)> = Vec::new();
    for (i, present) in &go {
        let o = &batch[*i];
        if o.planned.entries[0].kind == "archive" && present[0] {
            archives.push((*i, 0));
        }
    }
    let archive_keys: Vec<String> = archives
        .iter()
        .map(|(i, j)| rel(&batch[*i], &batch[*i].planned.entries[*j].name))
        .collect();
    let mut archive_failed: std::collections::HashMap<usize, String> = Default::default();
    let mut removed_here: Vec<(usize, usize)> = Vec::new();
    let trash = match &opts.mode {
        Mode::Unlink => None,
        Mode::Trash { rel_dir } => Some(rel_dir.as_str()),
    };
    for ((i, j), r) in archives.iter().zip(take(store, trash, &archive_keys)) {
        match r {
            Ok(()) => removed_here.push((*i, *j)),
            Err(why) => {
                archive_failed.insert(*i, why);
            }
        }
    }
    // Then the rest of the objects whose archive went (or had none).
    let mut rest: Vec<(usize, usize)> = Vec::new();
    for (i, present) in &go {
        let o = &batch[*i];
        for (j, e) in o.planned.entries.iter().enumerate() {
            if j == 0 && e.kind == "archive" {
                if !present[0] {
                    note(totals, e.entry_id, Exception::SkippedGone);
                } else if let Some(why) = archive_failed.get(i) {
                    note(totals, e.entry_id, Exception::Failed(why.clone()));
                }
                continue;
            }
            if !present[j] {
                note(totals, e.entry_id, Exception::SkippedGone);
            } else if archive_failed.contains_key(i) {
                let why = "kept because the archive could not be removed".to_string();
                note(totals, e.entry_id, Exception::Failed(why));
            } else {
                rest.push((*i, j));
            }
        }
    }
    let rest_keys: Vec<String> = rest
        .iter()
        .map(|(i, j)| rel(&batch[*i], &batch[*i].planned.entries[*j].name))
        .collect();
    for ((i, j), r) in rest.iter().zip(take(store, trash, &rest_keys)) {
        match r {
            Ok(()) => removed_here.push((*i, *j)),
            Err(why) => {
                let e = &batch[*i].planned.entries[*j];
                note(totals, e.entry_id, Exception::Failed(why));
            }
        }
    }
    let mut objects = std::collections::HashSet::new();
    for (i, j) in removed_here {
        let e = &batch[i].planned.entries[j];
        totals.removed_files += 1;
        totals.removed_bytes += e.disk_bytes;
        opts.progress.files.fetch_add(1, Ordering::Relaxed);
        opts.progress
            .bytes
            .fetch_add(e.disk_bytes, Ordering::Relaxed);
        if objects.insert(i) {
            totals.removed_objects += 1;
            opts.progress.objects.fetch_add(1, Ordering::Relaxed);
        }
    }
}
