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
//!
//! The budget runs after the other policies and their protections, over
//! every object they left, including one that dependency retention kept
//! for them: when the budget also takes everything that needed it, it
//! goes. What the budget reached that an object left in the cache still
//! needs (ties and cycles of the order) is taken back over the same graph
//! ([`retain_dependencies`]), even if the budget is then missed.

use crate::index::ids::{IdSet, each_pair, id_set, max_object_id};
use anyhow::{Context, Result};

/// What the budget selected.
#[derive(Debug, Clone, Default)]
pub struct SizeSelection {
    pub selected: Vec<i64>,
    /// Of the objects the budget reached, those an object that stays
    /// needs (only with dependency retention): they stay too. Empty
    /// unless the order had ties or cycles (see `retain_dependencies`).
    pub kept_for_deps: Vec<i64>,
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
///
/// Everything is read from covering indexes (never the wide object rows)
/// into arrays sorted by object id, joined by merging and a dense map
/// from id to position: at 300k objects the hash maps and the second
/// read of every edge (by `deps::protect`) this replaced took 1.9 s, this
/// takes 0.5 s.
pub fn select(
    conn: &rusqlite::Connection,
    budget: u64,
    pin_from_ns: Option<i64>,
    with_deps: bool,
    any_unreadable: bool,
) -> Result<SizeSelection> {
    // Only sequential reads from here on, into arrays of ~100 bytes an
    // object: the page cache makes room for them.
    let _small = crate::index::small_cache(conn, 8192).context("--max-size")?;
    let max_id = max_object_id(conn).context("--max-size")?;
    let selected = id_set(
        conn,
        "SELECT id FROM temp.selected",
        "the selection",
        max_id,
    )
    .context("--max-size")?;
    // Objects in directories that could not be read: kept, not counted.
    let unseen = if any_unreadable {
        id_set(
            conn,
            "SELECT o.id FROM object o WHERE o.dir_id IN (SELECT id FROM dir WHERE unreadable <> 0)",
            "objects of unreadable directories",
            max_id,
        )
        .context("--max-size")?
    } else {
        IdSet::with_max(0)
    };
    let mut objs: Vec<Obj> = Vec::new();
    {
        let what = "--max-size: reading the objects";
        let mut stmt = conn
            .prepare("SELECT id, last_used_ns, disk_bytes FROM object")
            .context(what)?;
        let mut rows = stmt.query([]).context(what)?;
        while let Some(r) = rows.next().context(what)? {
            let id: i64 = r.get(0).context(what)?;
            if selected.contains(id) {
                continue;
            }
            let last_used: i64 = r.get(1).context(what)?;
            let seen = !unseen.contains(id);
            objs.push(Obj {
                id,
                last_used,
                disk: r.get::<_, i64>(2).context(what)?.max(0) as u64,
                key: 0,
                pinned: !seen || pin_from_ns.is_some_and(|c| last_used >= c),
                seen,
            });
        }
    }
    objs.sort_unstable_by_key(|o| o.id);
    let positions = Positions::new(&objs);
    // (key, object) for every object, in key order.
    let mut by_key: Vec<(i64, u32)> = Vec::with_capacity(objs.len());
    each_pair(
        conn,
        "SELECT id, hash_key FROM object ORDER BY hash_key",
        "--max-size: the object keys",
        |id, key| {
            if let Some(i) = positions.get(&objs, id) {
                objs[i as usize].key = key;
                by_key.push((key, i));
            }
        },
    )?;
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
    let graph = if with_deps {
        Some(Graph::read(conn, &objs, &positions, &by_key)?)
    } else {
        None
    };
    drop((by_key, positions));
    let (eff, depth) = match &graph {
        Some(graph) => effective_last_use(&objs, graph),
        None => (
            objs.iter().map(|o| o.last_used).collect(),
            vec![0; objs.len()],
        ),
    };
    // (The sort keys side by side: comparing through the arrays cost
    // more than the rest of the policy at 300k objects. The last key is
    // the position, which orders as the id does: `objs` is sorted by id.
    // 32 bytes an object: 32 MB at 1M.)
    let mut order: Vec<(i64, u32, i64, i64, u32)> = (0..objs.len())
        .filter(|&i| !objs[i].pinned && eff[i] != i64::MAX)
        .map(|i| {
            let o = &objs[i];
            (eff[i], depth[i], o.last_used, o.key, i as u32)
        })
        .collect();
    drop((eff, depth));
    order.sort_unstable();
    let mut chosen = vec![false; objs.len()];
    for &(.., i) in &order {
        if out.freed >= need {
            break;
        }
        chosen[i as usize] = true;
        out.freed += objs[i as usize].disk;
    }
    drop(order);
    let taken = match &graph {
        Some(graph) => retain_dependencies(graph, &chosen),
        None => Vec::new(),
    };
    for &i in &taken {
        chosen[i as usize] = false;
        out.freed -= objs[i as usize].disk;
        out.kept_for_deps.push(objs[i as usize].id);
    }
    for (i, o) in objs.iter().enumerate() {
        if chosen[i] {
            out.selected.push(o.id);
        }
    }
    out.met = out.freed >= need;
    Ok(out)
}

/// What each object depends on, as positions in the id-sorted object
/// list (CSR layout: the dependencies of `i` are
/// `deps[start[i]..start[i + 1]]`, in position order).
struct Graph {
    start: Vec<u32>,
    deps: Vec<u32>,
}

impl Graph {
    /// The edges out of `objs` (sorted by id), matched on keys through
    /// `by_key` (sorted by key). The edges are read in key order and
    /// merged with `by_key`; their dependents are found through a map
    /// from id to position.
    fn read(
        conn: &rusqlite::Connection,
        objs: &[Obj],
        positions: &Positions,
        by_key: &[(i64, u32)],
    ) -> Result<Graph> {
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let mut cursor = 0usize;
        let (mut key_now, mut lo, mut hi) = (None::<i64>, 0usize, 0usize);
        each_pair(
            conn,
            "SELECT hash_key, object_id FROM dep ORDER BY hash_key, object_id",
            "--max-size: the dependency edges",
            |key, from| {
                if key_now != Some(key) {
                    key_now = Some(key);
                    while cursor < by_key.len() && by_key[cursor].0 < key {
                        cursor += 1;
                    }
                    lo = cursor;
                    hi = lo;
                    while hi < by_key.len() && by_key[hi].0 == key {
                        hi += 1;
                    }
                }
                if lo == hi {
                    return; // no object has that hash
                }
                // (None: selected already, or not an object.)
                if let Some(f) = positions.get(objs, from) {
                    pairs.extend(
                        by_key[lo..hi]
                            .iter()
                            .map(|&(_, t)| (f, t))
                            .filter(|&(f, t)| f != t),
                    );
                }
            },
        )?;
        // CSR by dependent (a counting sort), then each one's
        // dependencies in position order.
        let mut start = vec![0u32; objs.len() + 1];
        for &(f, _) in &pairs {
            start[f as usize + 1] += 1;
        }
        for i in 0..objs.len() {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut deps = vec![0u32; pairs.len()];
        for (f, t) in pairs {
            deps[fill[f as usize] as usize] = t;
            fill[f as usize] += 1;
        }
        for i in 0..objs.len() {
            deps[start[i] as usize..start[i + 1] as usize].sort_unstable();
        }
        Ok(Graph { start, deps })
    }

    fn of(&self, i: usize) -> &[u32] {
        &self.deps[self.start[i] as usize..self.start[i + 1] as usize]
    }
}

/// Of the `chosen` objects, those that an object not chosen needs,
/// directly or through other such objects (positions). The order the
/// budget follows puts every dependency after what needs it, so this is
/// empty but for cycles (and keys two objects share); it is the same
/// closure as `deps::protect`, over the graph already in memory.
fn retain_dependencies(graph: &Graph, chosen: &[bool]) -> Vec<u32> {
    let mut taken = vec![false; chosen.len()];
    let mut todo: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let reach = |v: u32, taken: &mut Vec<bool>, todo: &mut Vec<u32>| {
        if chosen[v as usize] && !taken[v as usize] {
            taken[v as usize] = true;
            todo.push(v);
        }
    };
    for u in (0..chosen.len()).filter(|&u| !chosen[u]) {
        for &v in graph.of(u) {
            reach(v, &mut taken, &mut todo);
        }
    }
    while let Some(p) = todo.pop() {
        out.push(p);
        for &v in graph.of(p as usize) {
            reach(v, &mut taken, &mut todo);
        }
    }
    out
}

/// Object id → position in the id-sorted object list: a dense array
/// over the ids when they are not too sparse (4 bytes per id), else a
/// binary search.
enum Positions {
    Dense(Vec<u32>),
    Sorted,
}

impl Positions {
    fn new(objs: &[Obj]) -> Self {
        let max = objs.last().map_or(0, |o| o.id.max(0) as usize);
        if max <= 8 * objs.len() + (1 << 20) {
            let mut dense = vec![u32::MAX; max + 1];
            for (i, o) in objs.iter().enumerate() {
                if o.id >= 0 {
                    dense[o.id as usize] = i as u32;
                }
            }
            Positions::Dense(dense)
        } else {
            Positions::Sorted
        }
    }

    fn get(&self, objs: &[Obj], id: i64) -> Option<u32> {
        match self {
            Positions::Dense(d) => usize::try_from(id)
                .ok()
                .and_then(|i| d.get(i))
                .copied()
                .filter(|&p| p != u32::MAX),
            Positions::Sorted => objs
                .binary_search_by_key(&id, |o| o.id)
                .ok()
                .map(|p| p as u32),
        }
    }
}

/// For each object: the newest last use of itself and everything that
/// depends on it (i64::MAX when a pinned object does), and its depth: the
/// longest chain of objects that depend on it (0 when none does), so that
/// an object always comes after what depends on it.
fn effective_last_use(objs: &[Obj], graph: &Graph) -> (Vec<i64>, Vec<u32>) {
    let time = |i: usize| {
        if objs[i].pinned {
            i64::MAX
        } else {
            objs[i].last_used
        }
    };
    // Newest first; among equals, in id order.
    let mut roots: Vec<(std::cmp::Reverse<i64>, u32)> = (0..objs.len())
        .map(|i| (std::cmp::Reverse(time(i)), i as u32))
        .collect();
    roots.sort_unstable();
    let mut eff = vec![i64::MIN; objs.len()];
    // Post-order of the walks: in a DAG every dependent comes after its
    // dependencies there.
    let mut post: Vec<u32> = Vec::with_capacity(objs.len());
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for (_, root) in roots {
        let root = root as usize;
        if eff[root] != i64::MIN {
            continue;
        }
        let t = time(root);
        eff[root] = t;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if let Some(&dep) = graph.of(node).get(next) {
                top.1 += 1;
                let dep = dep as usize;
                if eff[dep] == i64::MIN {
                    eff[dep] = t;
                    stack.push((dep, 0));
                }
            } else {
                post.push(node as u32);
                stack.pop();
            }
        }
    }
    // Longest chain of dependents, in reverse post-order.
    let mut depth = vec![0u32; objs.len()];
    for &u in post.iter().rev() {
        let d = depth[u as usize] + 1;
        for &v in graph.of(u as usize) {
            depth[v as usize] = depth[v as usize].max(d);
        }
    }
    (eff, depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(id: i64, key: i64) -> Obj {
        Obj {
            id,
            last_used: 0,
            disk: 1,
            key,
            pinned: false,
            seen: true,
        }
    }

    /// The dependencies of each object (by id), read from `edges`
    /// (dependency key, dependent id) with objects `(id, key)`.
    fn graph(objects: &[(i64, i64)], edges: &[(i64, i64)]) -> Vec<(i64, Vec<i64>)> {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE dep (hash_key INTEGER NOT NULL, object_id INTEGER NOT NULL,
                 PRIMARY KEY (hash_key, object_id)) WITHOUT ROWID;",
        )
        .unwrap();
        for &(key, id) in edges {
            conn.execute("INSERT INTO dep VALUES (?1, ?2)", [key, id])
                .unwrap();
        }
        let mut objs: Vec<Obj> = objects.iter().map(|&(id, key)| obj(id, key)).collect();
        objs.sort_unstable_by_key(|o| o.id);
        let positions = Positions::new(&objs);
        let mut by_key: Vec<(i64, u32)> = objs
            .iter()
            .map(|o| (o.key, positions.get(&objs, o.id).unwrap()))
            .collect();
        by_key.sort_unstable();
        let g = Graph::read(&conn, &objs, &positions, &by_key).unwrap();
        objs.iter()
            .enumerate()
            .map(|(i, o)| (o.id, g.of(i).iter().map(|&t| objs[t as usize].id).collect()))
            .collect()
    }

    #[test]
    fn edges_join_dependents_to_every_object_of_the_key() {
        // 1 needs key 20 (objects 2 and 3 share it), 2 needs 30 (object
        // 4); object 9 is not in the list (selected already) and its edge
        // goes; key 99 names no object; 3 "needs" its own key.
        let objects = [(4, 30), (1, 10), (3, 20), (2, 20)];
        let edges = [(20, 1), (30, 2), (10, 9), (99, 1), (20, 3)];
        let want = vec![(1, vec![2, 3]), (2, vec![4]), (3, vec![2]), (4, vec![])];
        assert_eq!(graph(&objects, &edges), want);
    }

    #[test]
    fn sparse_ids_are_found_by_search() {
        // Ids far apart (a long-lived index after much churn): the map
        // from id to position is a search, with the same result.
        let big = 1 << 40;
        let objects = [(big, 10), (5, 20), (big + 7, 30)];
        let edges = [(20, big), (30, big), (10, big + 7)];
        let objs: Vec<Obj> = {
            let mut v: Vec<Obj> = objects.iter().map(|&(id, k)| obj(id, k)).collect();
            v.sort_unstable_by_key(|o| o.id);
            v
        };
        assert!(matches!(Positions::new(&objs), Positions::Sorted));
        assert_eq!(Positions::new(&objs).get(&objs, big + 7), Some(2));
        assert_eq!(Positions::new(&objs).get(&objs, 6), None);
        let want = vec![(5, vec![]), (big, vec![5, big + 7]), (big + 7, vec![big])];
        assert_eq!(graph(&objects, &edges), want);
    }

    #[test]
    fn effective_last_use_runs_through_dependents() {
        // 1 (used at 100) needs 2 (used at 10), which needs 3 (at 50); 4
        // (pinned) needs 3 too.
        let objects = [(1, 10), (2, 20), (3, 30), (4, 40)];
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE dep (hash_key INTEGER NOT NULL, object_id INTEGER NOT NULL,
                 PRIMARY KEY (hash_key, object_id)) WITHOUT ROWID;
             INSERT INTO dep VALUES (20, 1), (30, 2), (30, 4);",
        )
        .unwrap();
        let mut objs: Vec<Obj> = objects.iter().map(|&(id, k)| obj(id, k)).collect();
        for (o, t) in objs.iter_mut().zip([100, 10, 50, 0]) {
            o.last_used = t;
        }
        objs[3].pinned = true;
        let positions = Positions::new(&objs);
        let by_key: Vec<(i64, u32)> = vec![(10, 0), (20, 1), (30, 2), (40, 3)];
        let g = Graph::read(&conn, &objs, &positions, &by_key).unwrap();
        let (eff, depth) = effective_last_use(&objs, &g);
        assert_eq!(eff, vec![100, 100, i64::MAX, i64::MAX]);
        assert_eq!(depth, vec![0, 1, 2, 0]);
    }
}
