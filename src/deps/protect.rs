//! Dependency retention: take back from `temp.selected` every object that
//! an object left in the cache depends on, transitively.
//!
//! `temp.deps_scope` holds the selected objects protection may take back
//! (by default those selected only by `--older-than` or `--max-size`). An
//! object that stays selected is removed, so it protects nothing: the
//! closure runs through kept and protected objects only.
//!
//! This ran as one recursive SQL query. Its first step looked up the
//! dependents of every object in the index (a `dep` seek each): 200 ms at
//! 100k objects, most of a warm `--older-than`. Here the edges and the
//! keys are read once, in index order, and the closure is a walk over
//! sorted arrays: a few bytes per edge, no hash maps (at 1M objects the
//! run must stay under 200 MB).

use crate::index::ids::{IdSet, each_pair, id_set, max_object_id};
use anyhow::{Context, Result};

/// The objects to take back (in no particular order), from the edges
/// `(dependency key, dependent)` and the keys of the objects in scope.
/// `kept(id)`: the object stays (not selected).
fn closure(
    edges: &mut [(i64, i64)],
    scope_keys: &mut [(i64, i64)],
    kept: impl Fn(i64) -> bool,
    max_id: i64,
) -> Vec<i64> {
    // Objects in scope by key, and the keys each object depends on.
    scope_keys.sort_unstable();
    let in_scope = |key: i64| {
        let from = scope_keys.partition_point(|&(k, _)| k < key);
        scope_keys[from..]
            .iter()
            .take_while(move |&&(k, _)| k == key)
            .map(|&(_, id)| id)
    };
    let mut protected = IdSet::with_max(max_id);
    let mut todo = Vec::new();
    for &(key, dependent) in edges.iter() {
        if kept(dependent) {
            for id in in_scope(key) {
                if protected.insert(id) {
                    todo.push(id);
                }
            }
        }
    }
    edges.sort_unstable_by_key(|&(key, dependent)| (dependent, key));
    let mut out = Vec::new();
    while let Some(p) = todo.pop() {
        out.push(p);
        let from = edges.partition_point(|&(_, d)| d < p);
        for &(key, _) in edges[from..].iter().take_while(|&&(_, d)| d == p) {
            for id in in_scope(key) {
                if protected.insert(id) {
                    todo.push(id);
                }
            }
        }
    }
    out
}

/// Every edge of the index, as `(dependency key, dependent)`.
fn read_edges(conn: &rusqlite::Connection) -> Result<Vec<(i64, i64)>> {
    let mut edges = Vec::new();
    each_pair(
        conn,
        "SELECT hash_key, object_id FROM dep",
        "the edges",
        |key, dependent| edges.push((key, dependent)),
    )
    .context("dependency retention")?;
    Ok(edges)
}

/// Record in `temp.protected` (why = 'deps') every object of
/// `temp.deps_scope` that an object outside `temp.selected` needs,
/// directly or through other such objects. With `beside` (a read-only
/// connection to the same index, nothing uncommitted on `conn`), the
/// edges are read on it, on another thread, while `conn` reads the
/// temp tables and the keys: at 300k objects these were 238k and 300k
/// rows, read one after the other.
pub fn protect(conn: &rusqlite::Connection, beside: Option<rusqlite::Connection>) -> Result<()> {
    let max_id = max_object_id(conn).context("dependency retention")?;
    let scope = id_set(conn, "SELECT id FROM temp.deps_scope", "the scope", max_id)
        .context("dependency retention")?;
    if scope.is_empty() {
        return Ok(());
    }
    std::thread::scope(|s| {
        let edges = beside.map(|side| s.spawn(move || read_edges(&side)));
        let rest = protect_with(conn, &scope, max_id);
        let edges = match edges {
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow::anyhow!("dependency retention: a reading thread panicked"))?,
            None => read_edges(conn),
        };
        let (selected, mut scope_keys) = rest?;
        let mut edges = edges?;
        let taken = closure(
            &mut edges,
            &mut scope_keys,
            |id| !selected.contains(id),
            max_id,
        );
        drop(edges);
        conn.execute(
            "INSERT OR IGNORE INTO temp.protected(id, why) SELECT value, 'deps' FROM rarray(?1)",
            [crate::index::id_array(taken)],
        )
        .context("dependency retention: recording what it keeps")?;
        Ok(())
    })
}

/// The selection and the keys of the objects in `scope`.
type SetsAndKeys = (IdSet, Vec<(i64, i64)>);

fn protect_with(conn: &rusqlite::Connection, scope: &IdSet, max_id: i64) -> Result<SetsAndKeys> {
    let selected = id_set(
        conn,
        "SELECT id FROM temp.selected",
        "the selection",
        max_id,
    )
    .context("dependency retention")?;
    // (From the covering index on hash_key: no object rows are read.)
    let mut scope_keys = Vec::new();
    each_pair(
        conn,
        "SELECT hash_key, id FROM object",
        "the keys",
        |key, id| {
            if scope.contains(id) {
                scope_keys.push((key, id));
            }
        },
    )
    .context("dependency retention")?;
    Ok((selected, scope_keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects 1..: `keys[i]` is the key of object i+1.
    fn run(keys: &[i64], edges: &[(i64, i64)], scope: &[i64], selected: &[i64]) -> Vec<i64> {
        let mut scope_keys: Vec<(i64, i64)> = scope
            .iter()
            .map(|&id| (keys[id as usize - 1], id))
            .collect();
        let mut edges = edges.to_vec();
        let mut out = closure(
            &mut edges,
            &mut scope_keys,
            |id| !selected.contains(&id),
            keys.len() as i64,
        );
        out.sort_unstable();
        out
    }

    #[test]
    fn a_kept_object_keeps_its_dependencies_transitively() {
        // 1 (kept) needs key 20 (object 2), which needs key 30 (object 3);
        // 4 is needed by nothing.
        let keys = [10, 20, 30, 40];
        let edges = [(20, 1), (30, 2)];
        assert_eq!(run(&keys, &edges, &[2, 3, 4], &[2, 3, 4]), vec![2, 3]);
    }

    #[test]
    fn a_selected_dependent_protects_nothing() {
        // 1 needs 2, but 1 goes too (selected, out of scope).
        let keys = [10, 20];
        assert_eq!(run(&keys, &[(20, 1)], &[2], &[1, 2]), Vec::<i64>::new());
    }

    #[test]
    fn only_objects_in_scope_are_taken_back() {
        // 1 (kept) needs 2 and 3; 3 is selected by a policy protection
        // does not apply to (out of scope), and what 3 needs is not kept
        // through it.
        let keys = [10, 20, 30, 40];
        let edges = [(20, 1), (30, 1), (40, 3)];
        assert_eq!(run(&keys, &edges, &[2, 4], &[2, 3, 4]), vec![2]);
    }

    #[test]
    fn shared_keys_and_cycles_end() {
        // Two objects share key 20 (a 64-bit prefix collision keeps both);
        // 2 and 3 need each other.
        let keys = [10, 20, 20, 50];
        let edges = [(20, 1), (20, 2), (20, 3), (50, 3)];
        assert_eq!(run(&keys, &edges, &[2, 3, 4], &[2, 3, 4]), vec![2, 3, 4]);
    }
}
