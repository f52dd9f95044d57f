//! `--max-size`: select the least recently used objects until what stays
//! fits the budget.
//!
//! With dependency retention, an object counts as used as recently as the
//! most recent object that needs it, directly or not (its *effective* last
//! use): a build restored from sstate touches only what it unpacks, so the
//! sysroot of a dependency looks old while every build still needs it.
//! Objects go in order of effective last use, and among equals dependents
//! before their dependencies, so no object goes while one that needs it
//! stays. Objects that may not go (used within `--keep-newer-than`, or in
//! a directory that could not be read) keep what they need too.

use anyhow::{Context, Result};
use std::collections::HashMap;

/// What the budget selected.
#[derive(Debug, Clone, Default)]
pub struct SizeSelection {
    pub selected: Vec<i64>,
    /// Bytes on disk of what remained before this policy, and the budget.
    pub before: u64,
    pub budget: u64,
    /// Bytes the selection frees.
    pub freed: u64,
    /// False when what may not be removed alone exceeds the budget.
    pub met: bool,
}

struct Obj {
    id: i64,
    last_used: i64,
    disk: u64,
    key: i64,
    /// Kept whatever happens (newer than the protection, or unseen).
    pinned: bool,
    /// Counted in the budget (seen on disk).
    seen: bool,
}

/// Run the budget over the objects not in `temp.selected`; objects used
/// at or after `pin_from_ns` are kept whatever happens.
pub fn select(
    conn: &rusqlite::Connection,
    budget: u64,
    pin_from_ns: Option<i64>,
    with_deps: bool,
) -> Result<SizeSelection> {
    let mut objs: Vec<Obj> = {
        let mut stmt = conn
            .prepare(
                "SELECT o.id, o.last_used_ns, o.disk_bytes, o.hash_key, d.unreadable
                 FROM object o JOIN dir d ON d.id = o.dir_id
                 WHERE o.id NOT IN (SELECT id FROM temp.selected)",
            )
            .context("--max-size: preparing the object list")?;
        let rows = stmt
            .query_map([], |r| {
                let last_used: i64 = r.get(1)?;
                let unreadable: i64 = r.get(4)?;
                Ok(Obj {
                    id: r.get(0)?,
                    last_used,
                    disk: r.get::<_, i64>(2)? as u64,
                    key: r.get(3)?,
                    pinned: unreadable != 0 || pin_from_ns.is_some_and(|c| last_used >= c),
                    seen: unreadable == 0,
                })
            })
            .context("--max-size: reading the objects")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("--max-size: reading the objects")?
    };
    let before: u64 = objs.iter().filter(|o| o.seen).map(|o| o.disk).sum();
    let mut out = SizeSelection {
        before,
        budget,
        met: true,
        ..Default::default()
    };
    if before <= budget {
        return Ok(out);
    }
    let need = before - budget;
    // Effective last use and depth (dependents first among equals). The
    // order depends only on the cache, never on row ids, so that every
    // index of the same cache picks the same objects.
    let (eff, depth) = if with_deps {
        effective_last_use(conn, &objs)?
    } else {
        (
            objs.iter().map(|o| o.last_used).collect(),
            vec![0; objs.len()],
        )
    };
    let mut order: Vec<usize> = (0..objs.len())
        .filter(|&i| !objs[i].pinned && eff[i] != i64::MAX)
        .collect();
    order.sort_unstable_by(|&a, &b| {
        eff[a]
            .cmp(&eff[b])
            .then(depth[a].cmp(&depth[b]))
            .then(objs[a].last_used.cmp(&objs[b].last_used))
            .then(objs[a].key.cmp(&objs[b].key))
            .then(objs[a].id.cmp(&objs[b].id))
    });
    for i in order {
        if out.freed >= need {
            break;
        }
        out.freed += objs[i].disk;
        out.selected.push(objs[i].id);
    }
    out.met = out.freed >= need;
    objs.clear();
    Ok(out)
}

/// For each object: the newest last use of itself and everything that
/// depends on it (i64::MAX when a pinned object does), and its depth: the
/// longest chain of objects that depend on it (0 when none does), so that
/// an object always comes after what depends on it.
fn effective_last_use(conn: &rusqlite::Connection, objs: &[Obj]) -> Result<(Vec<i64>, Vec<u32>)> {
    let index: HashMap<i64, usize> = objs.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
    let mut by_key: HashMap<i64, Vec<usize>> = HashMap::with_capacity(objs.len());
    for (i, o) in objs.iter().enumerate() {
        by_key.entry(o.key).or_default().push(i);
    }
    // deps[i]: the objects object i depends on (CSR layout).
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT object_id, hash_key FROM dep
                 WHERE object_id NOT IN (SELECT id FROM temp.selected)",
            )
            .context("--max-size: preparing the dependency list")?;
        let mut rows = stmt.query([]).context("--max-size: reading dependencies")?;
        while let Some(r) = rows.next().context("--max-size: reading dependencies")? {
            let (from, key): (i64, i64) = (r.get(0)?, r.get(1)?);
            if let (Some(&f), Some(targets)) = (index.get(&from), by_key.get(&key)) {
                pairs.extend(targets.iter().filter(|&&t| t != f).map(|&t| (f, t)));
            }
        }
    }
    pairs.sort_unstable();
    let mut start = vec![0usize; objs.len() + 1];
    for &(f, _) in &pairs {
        start[f + 1] += 1;
    }
    for i in 0..objs.len() {
        start[i + 1] += start[i];
    }
    let deps: Vec<usize> = pairs.iter().map(|&(_, t)| t).collect();

    let mut roots: Vec<usize> = (0..objs.len()).collect();
    let time = |i: usize| {
        if objs[i].pinned {
            i64::MAX
        } else {
            objs[i].last_used
        }
    };
    roots.sort_unstable_by_key(|&i| std::cmp::Reverse(time(i)));
    let mut eff = vec![i64::MIN; objs.len()];
    let mut post = vec![0u32; objs.len()];
    let mut next_post = 0u32;
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in roots {
        if eff[root] != i64::MIN {
            continue;
        }
        let t = time(root);
        eff[root] = t;
        stack.push((root, start[root]));
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            if top.1 < start[node + 1] {
                let dep = deps[top.1];
                top.1 += 1;
                if eff[dep] == i64::MIN {
                    eff[dep] = t;
                    stack.push((dep, start[dep]));
                }
            } else {
                post[node] = next_post;
                next_post += 1;
                stack.pop();
            }
        }
    }
    // Longest chain of dependents, in reverse post-order (in a DAG every
    // dependent comes before its dependencies there).
    let mut by_post: Vec<usize> = (0..objs.len()).collect();
    by_post.sort_unstable_by_key(|&i| std::cmp::Reverse(post[i]));
    let mut depth = vec![0u32; objs.len()];
    for u in by_post {
        for &v in &deps[start[u]..start[u + 1]] {
            depth[v] = depth[v].max(depth[u] + 1);
        }
    }
    Ok((eff, depth))
}
