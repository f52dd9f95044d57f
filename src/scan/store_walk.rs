//! The "walk" of an object store: one listing of every key, cut into the
//! directories a local cache would have, sent to the writer as the
//! filesystem walk sends them. Every directory counts as listed (a store
//! has no directory mtimes to skip by); the writer applies the difference
//! with what the index holds in the scan's one transaction.

use super::walk::{DirStamp, Event, RawEntry};
use crate::name;
use crate::store::Store;
use crossbeam_channel::Sender;
use std::collections::BTreeMap;

/// List `store` and send one `Listed` event per directory (ancestors
/// included, so that the index's directory tree matches a local one).
pub fn walk(store: &Store, tx: Sender<Event>) -> anyhow::Result<()> {
    let listed = store.list()?;
    let mut dirs: BTreeMap<String, Vec<RawEntry>> = BTreeMap::new();
    dirs.insert(String::new(), Vec::new());
    for key in listed {
        let (dir, file) = key.rel.rsplit_once('/').unwrap_or(("", key.rel.as_str()));
        // The tool's own prefix (trash) is never part of the cache; nor
        // are "directory marker" keys ending in '/'.
        if file.is_empty() || dir.split('/').next() == Some(crate::TOOL_DIR) {
            continue;
        }
        let mut parent = dir;
        while !parent.is_empty() && !dirs.contains_key(parent) {
            dirs.insert(parent.to_string(), Vec::new());
            parent = parent.rsplit_once('/').map_or("", |(p, _)| p);
        }
        let Some(spans) = name::parse(file).map(|n| n.spans(file)) else {
            continue;
        };
        let entry = RawEntry {
            name: file.to_string(),
            spans,
            size: key.size,
            blocks: key.size.div_ceil(512),
            mtime_ns: key.mtime_ns,
            ino: key.etag_id,
            is_symlink: false,
        };
        if let Some(v) = dirs.get_mut(dir) {
            v.push(entry);
        }
    }
    for (rel, mut entries) in dirs {
        // Sorted as the filesystem walk sorts: an object's entries adjacent.
        entries.sort_unstable_by(|a, b| {
            let (sa, sb) = (a.spans.name(&a.name).stem, b.spans.name(&b.name).stem);
            sa.cmp(sb).then_with(|| a.name.cmp(&b.name))
        });
        let event = Event::Listed {
            rel,
            stamp: DirStamp {
                mtime_ns: 0,
                ctime_ns: 0,
            },
            entries,
            relist: false,
        };
        if tx.send(event).is_err() {
            break;
        }
    }
    Ok(())
}
