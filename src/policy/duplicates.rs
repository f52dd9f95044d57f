//! `-d` and `--keep-per-group N`: per group, keep the N objects whose
//! archives are newest and select every other object of the group (with or
//! without an archive). A group with no archive at all keeps the N objects
//! whose newest entry is newest. Objects tied at the boundary are all kept,
//! and reported as ties: their mtimes decide the plan, so the planner
//! re-stats them too.
//!
//! One ordered pass over the covering index (`duplicates.sql`), with the
//! decision made per group as the rows stream by: at 100k objects this
//! took a quarter of the time of the same rule as one SQL statement (a
//! correlated lookup of the N-th and N+1-th time of every group), and a
//! warm plan that sees reuse runs it once per pass.

use super::Count;
use anyhow::{Context, Result};

/// One object of a group: id, archive mtime (None: no archive), last use,
/// and what it holds (for the plan's counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub archive_mtime_ns: Option<i64>,
    pub last_used_ns: i64,
    pub n_entries: u64,
    pub disk_bytes: u64,
}

/// What the rule selected, in all and per group: a pass that judges some
/// groups again replaces theirs (see [`Tally::rejudge`]).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub total: Count,
    by_group: rustc_hash::FxHashMap<i64, Count>,
}

impl Tally {
    fn record(&mut self, group_id: i64, sums: Count) {
        if sums.objects > 0 {
            self.total.add(&sums);
            self.by_group.insert(group_id, sums);
        }
    }

    /// This tally after `groups` were judged again, with `again` the
    /// tally of that run (over those groups only): what they selected
    /// before is replaced by what they select now.
    pub fn rejudge(&mut self, groups: &[i64], again: Tally) {
        for g in groups {
            if let Some(old) = self.by_group.remove(g) {
                self.total.sub(&old);
            }
        }
        for (g, sums) in again.by_group {
            if let Some(old) = self.by_group.insert(g, sums) {
                // (Never: `again` covers only `groups`.)
                self.total.sub(&old);
            }
            self.total.add(&sums);
        }
    }
}

/// What the rule decides for one group: the ids to select and the kept
/// ids tied at the boundary.
pub fn judge(
    group: &[Member],
    keep: usize,
    selected: &mut Vec<i64>,
    ties: &mut Vec<i64>,
    sums: &mut Count,
) {
    let keep = keep.max(1);
    if group.len() <= keep {
        return;
    }
    let has_archive = group.iter().any(|m| m.archive_mtime_ns.is_some());
    let mut times: Vec<i64> = if has_archive {
        group.iter().filter_map(|m| m.archive_mtime_ns).collect()
    } else {
        group.iter().map(|m| m.last_used_ns).collect()
    };
    times.sort_unstable_by(|a, b| b.cmp(a));
    // The N-th newest time, and the one after it (None: fewer than that).
    let (t, next_t) = (times.get(keep - 1).copied(), times.get(keep).copied());
    let tied = t.is_some() && t == next_t;
    for m in group {
        let goes = if has_archive {
            match m.archive_mtime_ns {
                None => true,
                Some(a) => t.is_some_and(|t| a < t),
            }
        } else {
            t.is_some_and(|t| m.last_used_ns < t)
        };
        if goes {
            selected.push(m.id);
            sums.objects += 1;
            sums.files += m.n_entries;
            sums.disk_bytes += m.disk_bytes;
        } else if tied {
            ties.push(m.id);
        }
    }
}

/// Run the rule over the index (with `regroup`, over the groups in
/// `temp.regroup` only): the selected ids go to `temp.selection(policy,
/// id)`, the tied kept ones to `temp.dup_ties`. Returns how many were
/// selected, in all and per group.
///
/// `beside`: read-only connections to the same index (see
/// `Index::side_readers`); over the whole index, the groups are then split
/// into as many more ranges of ids, each read and judged on its own
/// thread beside this one (reading 300k rows of the covering index was
/// 70 ms on one core while the other idled).
pub fn select(
    conn: &rusqlite::Connection,
    keep: u32,
    policy: i64,
    regroup: bool,
    beside: Vec<rusqlite::Connection>,
) -> Result<Tally> {
    let lic: Vec<i64> = conn
        .prepare_cached(include_str!("lic_groups.sql"))
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .context("reading the populate_lic groups")?;
    let keep = keep as usize;
    let judged = if regroup || beside.is_empty() {
        let groups = if regroup {
            "AND o.group_id IN (SELECT group_id FROM temp.regroup)"
        } else {
            ""
        };
        judge_groups(conn, groups, &lic, keep)?
    } else {
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT min(id), max(id) FROM grp", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .context("reading the range of groups")?;
        let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(0));
        let parts = beside.len() as i64 + 1;
        let step = (hi - lo) / parts + 1;
        let range = |k: i64| {
            let from = lo + k * step;
            format!("AND o.group_id >= {from} AND o.group_id < {}", from + step)
        };
        let lic = &lic;
        std::thread::scope(|s| -> Result<Judged> {
            let others: Vec<_> = beside
                .into_iter()
                .enumerate()
                .map(|(k, side)| {
                    let groups = range(k as i64 + 1);
                    s.spawn(move || judge_groups(&side, &groups, lic, keep))
                })
                .collect();
            let mut all = judge_groups(conn, &range(0), lic, keep)?;
            for t in others {
                let part = t
                    .join()
                    .map_err(|_| anyhow::anyhow!("a duplicates thread panicked"))??;
                all.merge(part);
            }
            Ok(all)
        })?
    };
    let array = crate::index::id_array;
    conn.execute(
        "INSERT INTO temp.selection(policy, id) SELECT ?1, value FROM rarray(?2)",
        rusqlite::params![policy, array(judged.selected)],
    )
    .context("recording the duplicates policy")?;
    conn.execute(
        "INSERT OR IGNORE INTO temp.dup_ties(id) SELECT value FROM rarray(?1)",
        [array(judged.ties)],
    )
    .context("recording the duplicates policy")?;
    Ok(judged.tally)
}

/// What the rule decided over some groups.
#[derive(Default)]
struct Judged {
    selected: Vec<i64>,
    ties: Vec<i64>,
    tally: Tally,
}

impl Judged {
    /// Add what was decided over other groups.
    fn merge(&mut self, other: Judged) {
        self.selected.extend(other.selected);
        self.ties.extend(other.ties);
        self.tally.total.add(&other.tally.total);
        self.tally.by_group.extend(other.tally.by_group);
    }
}

/// The rule over the groups `duplicates.sql` reads with `groups` (an SQL
/// condition on `o.group_id`, or empty for all), leaving out `lic` (the
/// populate_lic groups, sorted).
fn judge_groups(
    conn: &rusqlite::Connection,
    groups: &str,
    lic: &[i64],
    keep: usize,
) -> Result<Judged> {
    let mut out = Judged::default();
    let judge_group = |group_id: Option<i64>, group: &[Member], out: &mut Judged| {
        let mut sums = Count::default();
        judge(group, keep, &mut out.selected, &mut out.ties, &mut sums);
        if let Some(g) = group_id {
            out.tally.record(g, sums);
        }
    };
    let sql = include_str!("duplicates.sql").replace("/*groups*/", groups);
    let mut stmt = conn
        .prepare_cached(&sql)
        .context("preparing the duplicates policy")?;
    let mut rows = stmt.query([]).context("running the duplicates policy")?;
    let mut group: Vec<Member> = Vec::new();
    let mut current = None;
    let mut skip = false;
    while let Some(r) = rows.next().context("running the duplicates policy")? {
        let group_id: i64 = r.get(0).context("reading the duplicates policy")?;
        if current != Some(group_id) {
            judge_group(current, &group, &mut out);
            group.clear();
            current = Some(group_id);
            skip = lic.binary_search(&group_id).is_ok();
        }
        if skip {
            continue;
        }
        group.push(Member {
            id: r.get(1).context("reading the duplicates policy")?,
            archive_mtime_ns: r.get(2).context("reading the duplicates policy")?,
            last_used_ns: r.get(3).context("reading the duplicates policy")?,
            n_entries: r
                .get::<_, i64>(4)
                .context("reading the duplicates policy")? as u64,
            disk_bytes: r
                .get::<_, i64>(5)
                .context("reading the duplicates policy")? as u64,
        });
    }
    judge_group(current, &group, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64, archive: Option<i64>, last: i64) -> Member {
        Member {
            id,
            archive_mtime_ns: archive,
            last_used_ns: last,
            n_entries: id as u64,
            disk_bytes: 4096 * id as u64,
        }
    }

    fn run(group: &[Member], keep: usize) -> (Vec<i64>, Vec<i64>) {
        let (mut s, mut t, mut sums) = (Vec::new(), Vec::new(), Count::default());
        judge(group, keep, &mut s, &mut t, &mut sums);
        // The sums are those of the selected members.
        let expect = Count {
            objects: s.len() as u64,
            files: s.iter().map(|&id| id as u64).sum(),
            disk_bytes: s.iter().map(|&id| 4096 * id as u64).sum(),
        };
        assert_eq!(sums, expect);
        (s, t)
    }

    #[test]
    fn keeps_the_newest_archive_and_selects_the_rest() {
        let g = [
            m(1, Some(10), 10),
            m(2, Some(30), 30),
            m(3, Some(20), 40),
            m(4, None, 99),
        ];
        // Archives decide (3's newer siginfo does not), an object without
        // an archive goes whatever its times.
        assert_eq!(run(&g, 1), (vec![1, 3, 4], vec![]));
        assert_eq!(run(&g, 2), (vec![1, 4], vec![]));
        assert_eq!(run(&g, 3), (vec![4], vec![]));
        assert_eq!(run(&g, 4), (vec![], vec![]));
    }

    #[test]
    fn without_any_archive_the_newest_file_decides() {
        let g = [m(1, None, 10), m(2, None, 30), m(3, None, 20)];
        assert_eq!(run(&g, 1), (vec![1, 3], vec![]));
        assert_eq!(run(&g, 2), (vec![1], vec![]));
    }

    #[test]
    fn ties_at_the_boundary_are_kept_and_reported() {
        let g = [m(1, Some(30), 30), m(2, Some(30), 31), m(3, Some(5), 5)];
        assert_eq!(run(&g, 1), (vec![3], vec![1, 2]));
        let g = [m(1, None, 7), m(2, None, 7)];
        assert_eq!(run(&g, 1), (vec![], vec![1, 2]));
    }

    #[test]
    fn fewer_archives_than_n_keeps_them_all() {
        // keep 2 with one archive: the archive stays, the others go.
        let g = [m(1, Some(10), 10), m(2, None, 50), m(3, None, 60)];
        assert_eq!(run(&g, 2), (vec![2, 3], vec![]));
    }

    #[test]
    fn a_group_of_at_most_n_is_left_alone() {
        assert_eq!(run(&[m(1, None, 1)], 1), (vec![], vec![]));
        assert_eq!(run(&[], 1), (vec![], vec![]));
    }
}
