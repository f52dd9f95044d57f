//! Sets and lists of object ids, read from the index or bound to it.
//!
//! The planners hold whole selections (up to every object of a 1M-object
//! cache) in memory: as bitsets over the `object` rowids, and as sorted
//! arrays bound to SQL through `rarray(?)`, never one statement per id.

use anyhow::{Context, Result};

/// A dense set of object ids (the `object` table's rowids): one bit each,
/// up to the largest id it was made for.
pub struct IdSet(Vec<u64>);

impl IdSet {
    pub fn with_max(max: i64) -> Self {
        IdSet(vec![0; (max.max(0) as usize >> 6) + 1])
    }

    pub fn contains(&self, id: i64) -> bool {
        id >= 0
            && self
                .0
                .get(id as usize >> 6)
                .is_some_and(|w| w & (1 << (id & 63)) != 0)
    }

    /// Adds `id`; false when it was there already (or is out of range).
    pub fn insert(&mut self, id: i64) -> bool {
        if self.contains(id) || id < 0 {
            return false;
        }
        if let Some(w) = self.0.get_mut(id as usize >> 6) {
            *w |= 1 << (id & 63);
            return true;
        }
        false
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

/// The largest object id (0 for an empty index).
pub fn max_object_id(conn: &rusqlite::Connection) -> Result<i64> {
    conn.query_row("SELECT coalesce(max(id), 0) FROM object", [], |r| r.get(0))
        .context("reading the largest object id")
}

/// Run `sql` and hand each row's first two integer columns to `f`;
/// errors name `what` was being read.
pub fn each_pair(
    conn: &rusqlite::Connection,
    sql: &str,
    what: &str,
    mut f: impl FnMut(i64, i64),
) -> Result<()> {
    let what = || format!("reading {what}");
    let mut stmt = conn.prepare(sql).with_context(what)?;
    let mut rows = stmt.query([]).with_context(what)?;
    while let Some(r) = rows.next().with_context(what)? {
        f(r.get(0).with_context(what)?, r.get(1).with_context(what)?);
    }
    Ok(())
}

/// The ids `sql` returns (its first column), as a set sized for ids up to
/// `max`.
pub fn id_set(conn: &rusqlite::Connection, sql: &str, what: &str, max: i64) -> Result<IdSet> {
    let mut set = IdSet::with_max(max);
    each_pair(
        conn,
        &format!("SELECT id, 0 FROM ({sql})"),
        what,
        |id, _| {
            set.insert(id);
        },
    )?;
    Ok(set)
}

/// Ids bound as one `rarray(?)` parameter, sorted (the temp B-trees they
/// go into are then appended to, not split at random).
pub fn id_array(mut ids: Vec<i64>) -> std::rc::Rc<Vec<rusqlite::types::Value>> {
    ids.sort_unstable();
    std::rc::Rc::new(ids.into_iter().map(rusqlite::types::Value::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_sets_hold_what_was_inserted() {
        let mut s = IdSet::with_max(130);
        assert!(s.is_empty());
        assert!(s.insert(0) && s.insert(64) && s.insert(130));
        assert!(!s.insert(64), "already there");
        assert!(!s.insert(1000) && !s.insert(-1), "out of range");
        assert!(s.contains(130) && !s.contains(129) && !s.contains(-5));
        assert!(!s.is_empty());
    }
}
