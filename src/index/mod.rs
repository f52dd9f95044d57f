//! The index: an SQLite database that mirrors one sstate cache.
//!
//! What it tracks: every directory under the cache root with the mtime it had
//! when it was last listed, and every parsed entry with its `lstat` (size,
//! blocks, mtime, inode, symlink). Entries are grouped into objects (same
//! stem in one directory) and objects into groups (SSTATE.md section 2).
//!
//! How it is kept honest:
//! - The database records the canonical path of the cache it mirrors; opening
//!   it for another cache is an error, never a silent rebuild.
//! - `PRAGMA application_id` marks the file as ours. A file that is some other
//!   SQLite database is refused and left untouched; a file that is not a
//!   database at all (or is corrupt) is moved aside to `PATH.corrupt` and a
//!   new index is built, with a warning.
//! - Schema changes are numbered SQL files in `migrations/`, applied in order
//!   and counted in `PRAGMA user_version`; an index written by a newer version
//!   of this tool is refused.
//! - A scan or a removal is one transaction: an interrupted run leaves the
//!   previous state, and the next scan reconciles it with the disk.
//!
//! Locking: one writer at a time is the job of `lock.rs` (a run holds
//! `INDEX.lock` while it writes). The database is in WAL mode, so that
//! readers (`query`, `report`) and the writer never block each other; on a
//! network file system, where WAL's shared memory is not safe, it falls
//! back to a rollback journal and says so.

pub mod ids;
mod record;

pub use record::{RunRecord, record_run};

/// Recompute the aggregates of the objects in `temp.touched` and drop
/// those left empty (after a removal or a re-stat).
pub const REFRESH_OBJECTS_SQL: &str = include_str!("refresh_objects.sql");

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ffi::ErrorCode};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ids::id_array;

/// "SSCM" in ASCII: marks an SQLite file as an index of this tool.
pub const APPLICATION_ID: i32 = 0x5353_434d;

/// The migrations, in order. Never edit or remove one once released.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (
        "0002_last_use",
        include_str!("../../migrations/0002_last_use.sql"),
    ),
    (
        "0003_droppable_keys",
        include_str!("../../migrations/0003_droppable_keys.sql"),
    ),
];

/// An open index for one cache.
pub struct Index {
    pub conn: Connection,
    pub path: PathBuf,
    /// The canonical cache root this index mirrors.
    pub cache_root: PathBuf,
    /// A new index is built in this file beside `path` (no journal: nothing
    /// else can see it) and takes its name when `publish` is called, so a
    /// first scan cut short never leaves a half-built index at `path`.
    staging: Option<PathBuf>,
    /// The object store the cache is on (`s3://...`), else `None`: the
    /// cache is the directory `cache_root`.
    pub store: Option<std::sync::Arc<crate::store::Store>>,
    /// Directory id → path (relative to the cache root) as this process's
    /// last scan left the `dir` table, so that a re-stat need not join
    /// `dir` for every entry. `None` until a scan (or the first re-stat)
    /// fills it; only scans change the `dir` table.
    pub dir_paths: Option<rustc_hash::FxHashMap<i64, String>>,
    /// Writing a new index's pages to disk, started by its first scan
    /// before it builds the secondary indexes (CPU) so that the I/O
    /// overlaps with them; `publish` waits for it, then syncs what is left.
    pub writeback: Option<std::thread::JoinHandle<()>>,
    /// This process's last scan listed every directory that holds objects
    /// (a first scan, or a full rescan that could read everything): every
    /// stat in the index is fresh, so a plan has nothing to re-stat (and
    /// needs no `temp.fresh_dir`, which such a scan leaves empty).
    pub listed_all: bool,
    /// What this process's last scan counted in the index, as it committed
    /// it; taken by the next plan, which trusts it unless its re-stats
    /// changed something (one pass over every object saved).
    pub scan_totals: Option<Totals>,
    /// A checkpoint running on its own connection (see
    /// `checkpoint_in_background`), waited for before this one closes.
    checkpointer: Option<std::thread::JoinHandle<()>>,
}

/// Commit a transaction that wrote much (a scan's, a re-stat's) with
/// SQLite's automatic checkpoint off when `later`: the commit then only
/// appends to the log, and [`Index::after_big_commit`] (which the caller
/// runs next, whatever this returned) leaves copying it into the
/// database to another thread.
pub fn commit_big(tx: rusqlite::Transaction<'_>, later: bool) -> Result<()> {
    if later {
        tx.execute_batch("PRAGMA wal_autocheckpoint = 0")
            .context("configuring the commit")?;
    }
    tx.commit().map_err(anyhow::Error::from)
}

/// SQLite's automatic checkpoint threshold, in WAL frames (its default).
const AUTOCHECKPOINT_FRAMES: u64 = 1000;

impl Drop for Index {
    /// A new index never published (its first scan failed) is removed:
    /// the next run starts again from scratch. A background checkpoint
    /// is waited for (the connection's close then checkpoints the rest).
    fn drop(&mut self) {
        if let Some(ckpt) = self.checkpointer.take() {
            let _ = ckpt.join();
        }
        if let Some(staging) = self.staging.take() {
            let _ = std::fs::remove_file(side_file(&staging, "-journal"));
            let _ = std::fs::remove_file(staging);
        }
    }
}

/// How opening went, for the command layer to report.
#[derive(Debug, Default)]
pub struct OpenNotes {
    /// The index did not exist (or was rebuilt): the next scan is cold.
    pub created: bool,
    /// Warnings to show the user (e.g. a corrupt index moved aside).
    pub warnings: Vec<String>,
}

/// The default index file for a cache: one file per canonical cache path in
/// the per-user cache dir, named after the cache dir with a hash of its full
/// path so that two caches never share an index.
pub fn default_path(cache_root: &Path) -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache"),
            None => bail!(
                "cannot choose an index location: neither XDG_CACHE_HOME nor HOME is set; pass --index PATH"
            ),
        },
    };
    let full = cache_root.to_string_lossy();
    // Readable, and short enough that the whole file name stays within
    // the 255 bytes file systems allow, however long the cache's name is.
    let base_name: String = cache_root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_string())
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(base.join("sstate-cache-management").join(format!(
        "{base_name}-{:016x}.sqlite",
        fnv1a(full.as_bytes())
    )))
}

/// FNV-1a, 64 bits: stable across releases and platforms (unlike std's
/// hasher), which matters because it names files on disk.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Whether an error chain contains an SQLite error meaning "this file is not
/// a sound database": such an index is rebuilt rather than trusted.
pub fn is_corruption(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        )
    })
}

/// What a file at the index path is, read from its header alone: opening
/// it with SQLite could create files beside it or rewrite its header.
enum Probe {
    Missing,
    /// Zero bytes, or an SQLite database with no schema and no application id.
    Empty,
    Ours,
    /// Ours, left without its application id by an interrupted first run
    /// of an earlier version (it has our tables).
    HalfCreated,
    Foreign(String),
    NotADatabase,
}

fn probe(path: &Path) -> Result<Probe> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::Missing),
        Err(e) => return Err(e).with_context(|| format!("opening index {}", path.display())),
    };
    let mut header = Vec::with_capacity(100);
    file.by_ref()
        .take(100)
        .read_to_end(&mut header)
        .with_context(|| format!("reading index {}", path.display()))?;
    if header.is_empty() {
        return Ok(Probe::Empty);
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return Ok(Probe::NotADatabase);
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let app_id = be32(68) as i32;
    let pages = be32(28);
    // Bytes 18-19: 1 = rollback journal, 2 = WAL. Opening a WAL database,
    // even read-only, may create files beside it: foreign ones never are.
    let wal = header[18] == 2;
    Ok(if app_id == APPLICATION_ID {
        Probe::Ours
    } else if app_id == 0 && pages <= 1 {
        Probe::Empty
    } else if app_id == 0 && !wal && has_our_tables(path) {
        Probe::HalfCreated
    } else {
        Probe::Foreign(format!("application_id {app_id:#x}, {pages} pages"))
    })
}

/// The schema, the application id and the cache path, in one transaction.
fn init_schema(conn: &mut Connection, path: &Path, cache_root: &Path) -> Result<()> {
    let root = cache_root
        .to_str()
        .with_context(|| format!("cache path {} is not valid UTF-8", cache_root.display()))?;
    let tx = conn
        .transaction()
        .with_context(|| format!("starting to create index {}", path.display()))?;
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
        .with_context(|| format!("marking index {}", path.display()))?;
    apply_migrations(&tx, 0, path)?;
    tx.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('cache_root', ?1), ('created_at', ?2), ('created_by', ?3)",
        (root, now_rfc3339(), concat!("sstate-cache-management ", env!("CARGO_PKG_VERSION"))),
    )
    .with_context(|| format!("writing index metadata to {}", path.display()))?;
    tx.commit()
        .with_context(|| format!("committing the new index {}", path.display()))
}

/// Copy the WAL into the database file, so that its header (application
/// id, schema version) is there for readers that probe the file itself.
fn checkpoint(conn: &Connection, path: &Path) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .with_context(|| format!("checkpointing index {}", path.display()))
}

/// Apply the migrations after `from` inside `tx`, counting them in
/// `user_version`.
fn apply_migrations(tx: &rusqlite::Transaction<'_>, from: usize, path: &Path) -> Result<()> {
    for (n, (name, sql)) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {name} to index {}", path.display()))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", n + 1))
            .with_context(|| format!("recording migration {name}"))?;
    }
    Ok(())
}

/// Whether an SQLite file without an application id holds this tool's
/// tables (read-only: a rollback-journal database opened so creates
/// nothing).
fn has_our_tables(path: &Path) -> bool {
    let Ok(conn) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return false;
    };
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'dir', 'grp', 'object', 'entry')",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n >= 3)
}

/// Refuse, before anything is created beside it, a file at the index path
/// that is not an index of ours.
pub fn precheck(path: &Path) -> Result<()> {
    match probe(path)? {
        Probe::NotADatabase => bail!(not_a_database(path)),
        Probe::Foreign(what) => bail!(foreign(path, &what)),
        _ => Ok(()),
    }
}

fn not_a_database(path: &Path) -> String {
    format!(
        "{} is not an SQLite database, so not an index of this tool; refusing to touch it. \
         Is --index right? (If it is a broken index, remove it and run again.)",
        path.display()
    )
}

fn foreign(path: &Path, what: &str) -> String {
    format!(
        "{} is an SQLite database but not an sstate-cache-management index ({what}); \
         refusing to touch it: pass another --index PATH",
        path.display()
    )
}

/// The name of the network file system `path`'s directory is on, if it
/// is on one (by `statfs` magic number).
pub fn network_fs(path: &Path) -> Option<&'static str> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    network_fs_of_dir(dir)
}

/// The network file system `dir` itself is on, if it is on one.
pub fn network_fs_of_dir(dir: &Path) -> Option<&'static str> {
    let magic = rustix::fs::statfs(dir).ok()?.f_type as i64 as u32;
    Some(match magic {
        0x6969 => "NFS",
        0x517b => "SMB",
        0xff53_4d42 => "CIFS",
        0xfe53_4d42 => "SMB2",
        0x6573_5546 => "FUSE",
        0x0102_1997 => "9P",
        0x00c3_6400 => "Ceph",
        0x5346_414f => "AFS",
        0x0bd0_0bd0 => "Lustre",
        0x0116_1970 => "GFS2",
        0x7461_636f => "OCFS2",
        _ => return None,
    })
}

/// Connection settings; returns a warning when the index is on a network
/// file system (rollback journal instead of WAL there).
fn configure(conn: &Connection, path: &Path) -> Result<Option<String>> {
    let network = network_fs(path);
    let journal = if network.is_some() { "DELETE" } else { "WAL" };
    set_up(conn, path, journal, "NORMAL")?;
    Ok(network.map(|fs| network_warning(path, fs)))
}

/// Page size of a new index file: 16 KiB, a quarter of the `pread`s and
/// `pwrite`s of SQLite's default 4 KiB for the same rows (a warm plan at
/// 300k objects read 58k pages; this fits the object rows, about 270 bytes
/// each, 60 to a page). An existing index keeps the size it was made with.
const NEW_PAGE_SIZE: u32 = 16384;

/// Settings only a new, empty database file takes.
fn new_file_settings(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute_batch(&format!("PRAGMA page_size = {NEW_PAGE_SIZE}"))
        .with_context(|| format!("setting the page size of the new index {}", path.display()))
}

/// What every read-write connection gets: busy timeout, SQL functions,
/// the journal and sync mode given, temp tables in memory, a 64 MB cache.
fn set_up(conn: &Connection, path: &Path, journal: &str, synchronous: &str) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30))
        .with_context(|| format!("setting busy timeout on index {}", path.display()))?;
    register_functions(conn)
        .with_context(|| format!("registering SQL functions on index {}", path.display()))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = {journal}; PRAGMA synchronous = {synchronous}; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;"
    ))
    .with_context(|| format!("configuring index {}", path.display()))
}

fn network_warning(path: &Path, fs: &str) -> String {
    format!(
        "index {} is on a network file system ({fs}); it works (with a rollback journal), \
         but a local --index is faster and safer",
        path.display()
    )
}

/// Where a new index for `path` is built before it takes its name.
pub fn staging_path(path: &Path) -> PathBuf {
    side_file(path, ".sscm-building")
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// A read-only connection to the index at `path`. A WAL database needs its
/// shared-memory file, which a reader in a directory it cannot write may
/// be unable to create: then the file is opened `immutable` (no writer
/// can be at work in a directory nobody may write either).
fn open_ro_connection(path: &Path) -> Result<Connection> {
    let open = |uri: Option<String>| -> Result<Connection> {
        let conn = match uri {
            None => Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ),
            Some(u) => Connection::open_with_flags(
                u,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            ),
        }
        .with_context(|| format!("opening index {} read-only", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))
            .with_context(|| format!("setting busy timeout on index {}", path.display()))?;
        register_functions(&conn)
            .with_context(|| format!("registering SQL functions on index {}", path.display()))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .with_context(|| format!("reading index {}", path.display()))?;
        Ok(conn)
    };
    match open(None) {
        Ok(c) => Ok(c),
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<rusqlite::Error>(),
                    Some(rusqlite::Error::SqliteFailure(f, _))
                        if matches!(f.code, ErrorCode::ReadOnly | ErrorCode::CannotOpen)
                )
            }) =>
        {
            let full = std::fs::canonicalize(path)
                .with_context(|| format!("resolving index {}", path.display()))?;
            let escaped = full
                .to_string_lossy()
                .replace('%', "%25")
                .replace('?', "%3f")
                .replace('#', "%23");
            open(Some(format!("file:{escaped}?immutable=1")))
        }
        Err(e) => Err(e),
    }
}

/// Process-wide SQLite settings, applied before the first connection
/// opens (later, SQLite refuses them and they are skipped): no memory
/// statistics. The tool never reads them, and keeping them takes a global
/// mutex on every allocation SQLite makes, one per bound text value among
/// them (8% of a first scan's instructions at 20k objects).
pub fn tune_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any other SQLite call of
        // the process (else it returns SQLITE_MISUSE and changes nothing);
        // SQLITE_CONFIG_MEMSTATUS takes one int.
        let _ = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            )
        };
    });
}

/// While alive, the connection's page cache is held at `kib` KiB, the
/// pages it held beyond that are freed, and (glibc) the freed heap is
/// given back to the system; dropping it restores the cache size.
///
/// For phases that hold large arrays of their own and only scan the index
/// sequentially (`--max-size`'s ordering): at 1M objects the 64 MB cache,
/// full since the scan, plus those arrays went past 200 MB of peak RSS.
pub struct SmallCache<'c> {
    conn: &'c Connection,
    restore: i64,
}

/// See [`SmallCache`].
pub fn small_cache(conn: &Connection, kib: i64) -> Result<SmallCache<'_>> {
    let restore: i64 = conn
        .query_row("PRAGMA cache_size", [], |r| r.get(0))
        .context("reading the index's cache size")?;
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -{kib}; PRAGMA shrink_memory;"
    ))
    .context("shrinking the index's cache")?;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    Ok(SmallCache { conn, restore })
}

impl Drop for SmallCache<'_> {
    fn drop(&mut self) {
        // (A failure leaves the small cache: slower, never wrong.)
        let _ = self
            .conn
            .execute_batch(&format!("PRAGMA cache_size = {};", self.restore));
    }
}

/// SQL functions the schema relies on: `sscm_hash_key(unihash)` (the
/// dependency key, see `deps::hash_key`), used by migrations.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    // rarray(?): a list of ids bound as one parameter (the planner stores
    // a policy's selection in one statement).
    rusqlite::vtab::array::load_module(conn)?;
    conn.create_scalar_function(
        "sscm_hash_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let hex: String = ctx.get(0)?;
            Ok(crate::deps::hash_key(&hex))
        },
    )
}

impl Index {
    /// Open (creating or migrating as needed) the index at `path` for the
    /// cache at `cache_root` (already canonical).
    pub fn open(path: &Path, cache_root: &Path) -> Result<(Index, OpenNotes)> {
        let mut notes = OpenNotes::default();
        let set_aside = |why: String, notes: &mut OpenNotes| -> Result<()> {
            let aside =
                move_aside(path).with_context(|| format!("index {} {why}", path.display()))?;
            notes.warnings.push(format!(
                "index {} {why}; moved it to {} and rebuilding from the cache",
                path.display(),
                aside.display()
            ));
            Ok(())
        };
        match probe(path)? {
            Probe::Missing | Probe::Empty => {}
            Probe::NotADatabase => bail!(not_a_database(path)),
            Probe::Foreign(what) => bail!(foreign(path, &what)),
            Probe::HalfCreated => set_aside(
                "was left half-created by an interrupted first run".to_string(),
                &mut notes,
            )?,
            Probe::Ours => match Self::open_ours(path, cache_root, &mut notes) {
                Ok(index) => return Ok((index, notes)),
                Err(e) if is_corruption(&e) => {
                    set_aside(format!("is corrupt ({e:#})"), &mut notes)?
                }
                Err(e) => return Err(e),
            },
        }
        notes.created = true;
        let index = Self::create(path, cache_root, &mut notes)?;
        Ok((index, notes))
    }

    fn open_ours(path: &Path, cache_root: &Path, notes: &mut OpenNotes) -> Result<Index> {
        let conn =
            Connection::open(path).with_context(|| format!("opening index {}", path.display()))?;
        notes.warnings.extend(configure(&conn, path)?);
        let mut index = Index {
            conn,
            path: path.to_path_buf(),
            cache_root: cache_root.to_path_buf(),
            staging: None,
            store: None,
            dir_paths: None,
            writeback: None,
            listed_all: false,
            scan_totals: None,
            checkpointer: None,
        };
        index.check_cache_root()?;
        index.migrate()?;
        Ok(index)
    }

    /// Create the schema, mark the file as ours and record its cache. The
    /// new index is built in a staging file beside `path` with no journal
    /// (the first scan is a bulk load, and nobody else opens that file);
    /// `publish` makes it durable and renames it to `path`. An interrupted
    /// first run leaves no index at `path`, only a staging file that the
    /// next creation replaces.
    fn create(path: &Path, cache_root: &Path, notes: &mut OpenNotes) -> Result<Index> {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            // (A symlinked index is built where it points, in place.)
            let mut conn = Connection::open(path)
                .with_context(|| format!("creating index {}", path.display()))?;
            new_file_settings(&conn, path)?;
            notes.warnings.extend(configure(&conn, path)?);
            init_schema(&mut conn, path, cache_root)?;
            checkpoint(&conn, path)?;
            return Ok(Index {
                conn,
                path: path.to_path_buf(),
                cache_root: cache_root.to_path_buf(),
                staging: None,
                store: None,
                dir_paths: None,
                writeback: None,
                listed_all: false,
                scan_totals: None,
                checkpointer: None,
            });
        }
        let staging = staging_path(path);
        for stale in [staging.clone(), side_file(&staging, "-journal")] {
            match std::fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "removing {} (left by an interrupted first run)",
                            stale.display()
                        )
                    });
                }
            }
        }
        let mut conn = Connection::open(&staging)
            .with_context(|| format!("creating index {}", staging.display()))?;
        // (No journal, no sync: nobody else sees this file until `publish`.
        // No foreign key checks either: the first scan inserts every row
        // after the row it refers to, and checking that cost two lookups
        // per object and one per entry, a tenth of its writer's CPU. The
        // connection `publish` opens checks them again.)
        new_file_settings(&conn, &staging)?;
        set_up(&conn, &staging, "OFF", "OFF")?;
        conn.execute_batch("PRAGMA foreign_keys = OFF")
            .with_context(|| format!("configuring the new index {}", staging.display()))?;
        if let Some(fs) = network_fs(path) {
            notes.warnings.push(network_warning(path, fs));
        }
        init_schema(&mut conn, path, cache_root)?;
        Ok(Index {
            conn,
            path: path.to_path_buf(),
            cache_root: cache_root.to_path_buf(),
            staging: Some(staging),
            store: None,
            dir_paths: None,
            writeback: None,
            listed_all: false,
            scan_totals: None,
            checkpointer: None,
        })
    }

    /// Whether commits go to a write-ahead log that a checkpoint may copy
    /// in the background (not a new index, not one on a network file
    /// system, not one in memory).
    pub fn can_checkpoint_in_background(&self) -> bool {
        self.staging.is_none()
            && self
                .conn
                .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                .is_ok_and(|m| m.eq_ignore_ascii_case("wal"))
    }

    /// Turn SQLite's automatic checkpoints back on (after a commit made
    /// with `PRAGMA wal_autocheckpoint = 0`).
    pub fn restore_autocheckpoint(&self) -> Result<()> {
        self.conn
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_FRAMES}"
            ))
            .with_context(|| format!("configuring index {}", self.path.display()))
    }

    /// After [`commit_big`], whatever it returned: automatic checkpoints
    /// back on (when `later`), then the commit's outcome, then (when
    /// `later`) a background checkpoint of the log it wrote.
    pub fn after_big_commit(&mut self, later: bool, committed: Result<()>) -> Result<()> {
        if later {
            self.restore_autocheckpoint()?;
        }
        committed?;
        if later {
            self.checkpoint_in_background()?;
        }
        Ok(())
    }

    /// After a commit made with `PRAGMA wal_autocheckpoint = 0` (and
    /// `restore_autocheckpoint`): if the log holds more than automatic
    /// checkpoints would let it, copy it into the database on another connection and thread
    /// (a passive checkpoint: it blocks neither this connection's reads
    /// nor its writes, and this connection's own automatic checkpoints
    /// skip while it runs). After a scan that rewrote a 1% churn at 300k
    /// objects that is 80 MB of writes and two fsyncs (90 ms) that the
    /// plan no longer waits for. Best effort: if it cannot run, the next
    /// automatic checkpoint or the close does the same work.
    pub fn checkpoint_in_background(&mut self) -> Result<()> {
        let page: u64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
            .map(|p| p.max(512) as u64)
            .with_context(|| format!("reading the page size of index {}", self.path.display()))?;
        let wal = side_file(&self.path, "-wal");
        let frames = std::fs::metadata(&wal).map_or(0, |m| m.len() / (page + 24));
        if frames <= AUTOCHECKPOINT_FRAMES {
            return Ok(());
        }
        match self.checkpointer.take() {
            // (It copies what was committed when it started: a later
            // commit's frames wait for the next one, or for the close.)
            Some(running) if !running.is_finished() => {
                self.checkpointer = Some(running);
                return Ok(());
            }
            Some(done) => {
                let _ = done.join();
            }
            None => {}
        }
        let path = self.path.clone();
        self.checkpointer = Some(std::thread::spawn(move || {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if let Ok(conn) = Connection::open_with_flags(&path, flags) {
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        }));
        Ok(())
    }

    /// How many threads a stage may read this index with at once (its own
    /// connection and [`Index::side_readers`]): one per CPU, within `-j`,
    /// at most 4 (SQLite work is CPU; more only contend for the cores).
    pub fn reader_threads(jobs: usize) -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.min(jobs).clamp(1, 4)
    }

    /// `n` more read-only connections to this index, for threads that read
    /// beside this one (a WAL index only: they see what was committed, and
    /// never block its writer). `None` if the index is not in WAL mode,
    /// `conn` is in a transaction, or one of them cannot be opened: the
    /// caller then reads on `conn`.
    /// Each gets a small page cache: what they read is read once.
    pub fn side_readers(&self, n: usize) -> Option<Vec<Connection>> {
        // (They could not see what an open transaction of `conn` wrote.)
        if !self.conn.is_autocommit() || !self.can_checkpoint_in_background() {
            return None;
        }
        let open = || -> rusqlite::Result<Connection> {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(&self.path, flags)?;
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.execute_batch("PRAGMA cache_size = -8192; PRAGMA query_only = 1;")?;
            register_functions(&conn)?;
            Ok(conn)
        };
        (0..n).map(|_| open().ok()).collect()
    }

    /// Whether this is a new index not yet published at its path.
    pub fn is_staged(&self) -> bool {
        self.staging.is_some()
    }

    /// The file a new index is being built in, until `publish`.
    pub fn staging_file(&self) -> Option<&Path> {
        self.staging.as_deref()
    }

    /// Give a new index its name: switch it to its journal mode, write it
    /// to disk, rename it over `path` and reopen it there. (Connection-local
    /// state such as temp tables does not survive: callers recreate it.)
    pub fn publish(&mut self) -> Result<()> {
        let Some(staging) = self.staging.clone() else {
            return Ok(());
        };
        let path = self.path.clone();
        let journal = if network_fs(&path).is_some() {
            "DELETE"
        } else {
            "WAL"
        };
        self.conn
            .execute_batch(&format!("PRAGMA journal_mode = {journal}"))
            .with_context(|| format!("setting the journal of the new index {}", path.display()))?;
        let placeholder =
            Connection::open_in_memory().context("reopening the new index (placeholder)")?;
        std::mem::replace(&mut self.conn, placeholder)
            .close()
            .map_err(|(_, e)| e)
            .with_context(|| format!("closing the new index {}", staging.display()))?;
        if let Some(early) = self.writeback.take() {
            // (Its outcome does not matter: the sync below is the one that
            // must succeed.)
            let _ = early.join();
        }
        std::fs::File::open(&staging)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing the new index {} to disk", staging.display()))?;
        // A journal or WAL left beside `path` belongs to an index that is
        // gone (a run killed before it closed the index, which was then
        // deleted by hand): SQLite would replay it onto the new one.
        for suffix in ["-journal", "-wal", "-shm"] {
            let side = side_file(&path, suffix);
            match std::fs::remove_file(&side) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("removing {}, left by an index that is gone", side.display())
                    });
                }
            }
        }
        std::fs::rename(&staging, &path).with_context(|| {
            format!(
                "renaming the new index {} to {}",
                staging.display(),
                path.display()
            )
        })?;
        self.staging = None;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // (Best effort: the rename is durable once the directory is.)
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        let conn = Connection::open(&path)
            .with_context(|| format!("reopening the new index {}", path.display()))?;
        configure(&conn, &path)?;
        self.conn = conn;
        Ok(())
    }

    /// An index in memory, for a dry run whose index location cannot be
    /// written: a copy of the index at `path` if there is one of ours
    /// (so the scan is still incremental), else an empty one.
    pub fn open_in_memory(path: &Path, cache_root: &Path) -> Result<Index> {
        let mut conn = Connection::open_in_memory().context("creating an index in memory")?;
        register_functions(&conn).context("registering SQL functions")?;
        conn.execute_batch("PRAGMA temp_store = MEMORY;")
            .context("configuring the index in memory")?;
        let copied = matches!(probe(path)?, Probe::Ours)
            && open_ro_connection(path)
                .and_then(|src| {
                    let backup = rusqlite::backup::Backup::new(&src, &mut conn)
                        .context("copying the index into memory")?;
                    backup
                        .run_to_completion(1024, Duration::ZERO, None)
                        .context("copying the index into memory")
                })
                .is_ok();
        let mut index = Index {
            conn,
            path: path.to_path_buf(),
            cache_root: cache_root.to_path_buf(),
            staging: None,
            store: None,
            dir_paths: None,
            writeback: None,
            listed_all: false,
            scan_totals: None,
            checkpointer: None,
        };
        if copied && index.check_cache_root().is_ok() {
            index.migrate()?;
            return Ok(index);
        }
        let mut conn = Connection::open_in_memory().context("creating an index in memory")?;
        register_functions(&conn).context("registering SQL functions")?;
        init_schema(&mut conn, path, cache_root)?;
        index.conn = conn;
        Ok(index)
    }

    /// Open an existing index read-only (for `query`): SQLite itself refuses
    /// every write, so a query can never damage the index.
    pub fn open_read_only(path: &Path, cache_root: &Path) -> Result<Index> {
        match probe(path)? {
            Probe::Ours => {}
            Probe::Missing => bail!("index {} does not exist", path.display()),
            Probe::Empty | Probe::HalfCreated => bail!(
                "index {} is empty or half-created; run `sstate-cache-management scan` to build it",
                path.display()
            ),
            Probe::NotADatabase => bail!(
                "index {} is not an SQLite database; run `sstate-cache-management scan` to rebuild it",
                path.display()
            ),
            Probe::Foreign(what) => bail!(
                "{} is an SQLite database but not an sstate-cache-management index ({what})",
                path.display()
            ),
        }
        let conn = open_ro_connection(path)?;
        let index = Index {
            conn,
            path: path.to_path_buf(),
            cache_root: cache_root.to_path_buf(),
            staging: None,
            store: None,
            dir_paths: None,
            writeback: None,
            listed_all: false,
            scan_totals: None,
            checkpointer: None,
        };
        index.check_cache_root()?;
        let version = index.user_version()?;
        if version != MIGRATIONS.len() as i64 {
            bail!(
                "index {} has schema version {version}, this tool expects {}: run `sstate-cache-management scan` to bring it up to date",
                path.display(),
                MIGRATIONS.len()
            );
        }
        Ok(index)
    }

    fn user_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .with_context(|| format!("reading schema version of index {}", self.path.display()))
    }

    fn check_cache_root(&self) -> Result<()> {
        let recorded: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'cache_root'", [], |r| {
                r.get(0)
            })
            .optional()
            .with_context(|| {
                format!(
                    "reading cache path recorded in index {}",
                    self.path.display()
                )
            })?;
        match recorded {
            Some(r) if Path::new(&r) == self.cache_root => Ok(()),
            Some(r) => bail!(
                "index {} belongs to the cache {r}, not to {}: pass the matching --cache-dir, or another --index PATH",
                self.path.display(),
                self.cache_root.display()
            ),
            None => bail!(
                "index {} records no cache path; it was not written completely. Remove it and run again",
                self.path.display()
            ),
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.user_version()?;
        let latest = MIGRATIONS.len() as i64;
        if version > latest {
            bail!(
                "index {} has schema version {version}, newer than this tool knows ({latest}): it was written by a newer sstate-cache-management",
                self.path.display()
            );
        }
        if version == latest {
            return Ok(());
        }
        // A migration that rebuilds a table (0003) drops the old one, which
        // foreign key checks would refuse while rows refer to it; they are
        // off for the migration (it keeps every id) and on again after,
        // whatever happened. (The pragma is a no-op inside a transaction.)
        self.conn
            .execute_batch("PRAGMA foreign_keys = OFF")
            .with_context(|| format!("preparing migration of index {}", self.path.display()))?;
        let migrated = (|| -> Result<()> {
            let tx = self
                .conn
                .transaction()
                .with_context(|| format!("starting migration of index {}", self.path.display()))?;
            apply_migrations(&tx, version as usize, &self.path)?;
            tx.commit()
                .with_context(|| format!("committing migrations of index {}", self.path.display()))
        })();
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON")
            .with_context(|| format!("finishing migration of index {}", self.path.display()))?;
        migrated?;
        checkpoint(&self.conn, &self.path)
    }

    /// `PRAGMA quick_check`: None when the database is sound, else what
    /// SQLite found (its first lines).
    pub fn quick_check(&self) -> Result<Option<String>> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check(5)")
            .with_context(|| format!("checking index {}", self.path.display()))?;
        let rows: Vec<String> = match stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        {
            Ok(rows) => rows,
            Err(e) => return Ok(Some(e.to_string())),
        };
        Ok((rows != ["ok"]).then(|| rows.join("; ")))
    }

    /// Entry count, object count and bytes currently indexed.
    pub fn totals(&self) -> Result<Totals> {
        totals(&self.conn)
    }

    /// The number of entries indexed (cheap: SQLite counts the smallest
    /// index).
    pub fn entry_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM entry", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .context("counting indexed entries")
    }
}

/// What the index holds in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub entries: u64,
    pub objects: u64,
    pub disk_bytes: u64,
    pub size: u64,
}

/// What the index holds, from the object aggregates (answered from the
/// covering index `object_group`, never the wide rows).
pub fn totals(conn: &Connection) -> Result<Totals> {
    conn.query_row(
        "SELECT count(*), coalesce(sum(n_entries), 0), coalesce(sum(disk_bytes), 0), coalesce(sum(size), 0) FROM object",
        [],
        |r| {
            Ok(Totals {
                objects: r.get::<_, i64>(0)? as u64,
                entries: r.get::<_, i64>(1)? as u64,
                disk_bytes: r.get::<_, i64>(2)? as u64,
                size: r.get::<_, i64>(3)? as u64,
            })
        },
    )
    .context("counting what the index holds")
}

/// The indexes a first scan leaves out (see `lookup_indexes.sql`).
pub const LOOKUP_INDEXES: [&str; 2] = ["object_hash_key", "object_deps_pending"];

/// Build the lookup indexes if a first scan left them out: called before
/// anything reads dependency edges, stamps or unihashes. Nothing to do
/// (a schema lookup) once they exist.
/// A read-only connection is left as it is (SQLite then plans the lookups
/// with indexes of its own, per statement).
pub fn ensure_lookup_indexes(conn: &Connection) -> Result<()> {
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
        return Ok(());
    }
    conn.execute_batch(include_str!("lookup_indexes.sql"))
        .context("building the index's lookup indexes (object_hash_key, object_deps_pending)")
}

/// Move a corrupt index out of the way (to `PATH.corrupt-TIMESTAMP`, kept
/// for inspection) with its journal, WAL and shared-memory files, so that
/// none of them is ever applied to the index built next.
pub fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
    let aside = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &aside)
        .with_context(|| format!("moving {} aside to {}", path.display(), aside.display()))?;
    for suffix in ["-journal", "-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", aside.display()));
        match std::fs::rename(&side, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("moving {} aside", side.display()));
            }
        }
    }
    Ok(aside)
}

/// Now, as RFC 3339 UTC text, the form every time is stored in.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page cache is small while a `SmallCache` lives, and its size
    /// comes back after, with the rows untouched.
    #[test]
    fn small_cache_shrinks_and_restores_the_cache() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (index, _) = Index::open(&dir.path().join("i.sqlite"), Path::new("/cache/a"))?;
        let size = |c: &Connection| -> Result<i64> {
            Ok(c.query_row("PRAGMA cache_size", [], |r| r.get(0))?)
        };
        assert_eq!(size(&index.conn)?, -65536);
        {
            let _small = small_cache(&index.conn, 8192)?;
            assert_eq!(size(&index.conn)?, -8192);
            let n: i64 = index
                .conn
                .query_row("SELECT count(*) FROM object", [], |r| r.get(0))?;
            assert_eq!(n, 0);
        }
        assert_eq!(size(&index.conn)?, -65536);
        Ok(())
    }

    /// `lookup_indexes.sql` builds exactly what the migrations define.
    #[test]
    fn lookup_indexes_match_the_migrations() -> Result<()> {
        let defs = |conn: &Connection| -> Result<Vec<(String, String)>> {
            let mut stmt = conn.prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
            Ok(rows)
        };
        let dir = tempfile::tempdir()?;
        let (index, _) = Index::open(&dir.path().join("i.sqlite"), Path::new("/cache/a"))?;
        let migrated = defs(&index.conn)?;
        for name in LOOKUP_INDEXES {
            index.conn.execute_batch(&format!("DROP INDEX {name}"))?;
        }
        assert!(defs(&index.conn)?.len() == migrated.len() - LOOKUP_INDEXES.len());
        ensure_lookup_indexes(&index.conn)?;
        let rebuilt: Vec<(String, String)> = defs(&index.conn)?
            .into_iter()
            .map(|(n, sql)| (n, sql.replace("CREATE INDEX IF NOT EXISTS", "CREATE INDEX")))
            .collect();
        assert_eq!(rebuilt, migrated);
        ensure_lookup_indexes(&index.conn)?; // a no-op when they exist
        assert_eq!(defs(&index.conn)?.len(), migrated.len());
        Ok(())
    }

    #[test]
    fn migrations_apply_and_record_the_cache() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        let (mut index, notes) = Index::open(&db, Path::new("/cache/a"))?;
        assert!(notes.created);
        assert_eq!(index.user_version()?, MIGRATIONS.len() as i64);
        index.publish()?;
        drop(index);
        let (_, notes) = Index::open(&db, Path::new("/cache/a"))?;
        assert!(!notes.created);
        let err = Index::open(&db, Path::new("/cache/b"))
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("belongs to the cache /cache/a")));
        Ok(())
    }

    #[test]
    fn garbage_and_foreign_databases_are_refused_untouched() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        std::fs::write(&db, vec![b'x'; 4096])?;
        let err = Index::open(&db, Path::new("/cache/a"))
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("not an SQLite database")));
        assert_eq!(std::fs::read(&db)?, vec![b'x'; 4096]);
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);

        let foreign = dir.path().join("foreign.sqlite");
        Connection::open(&foreign)?
            .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")?;
        let err = Index::open(&foreign, Path::new("/cache/a"))
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("not an sstate-cache-management index")));
        let n: i64 =
            Connection::open(&foreign)?.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn a_new_index_takes_its_name_only_when_published() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        let staging = staging_path(&db);
        // A staging file left by a killed first run is replaced.
        std::fs::write(&staging, b"left over")?;
        let (mut index, _) = Index::open(&db, Path::new("/cache/a"))?;
        assert!(index.is_staged());
        index
            .conn
            .execute("INSERT INTO meta(key, value) VALUES ('probe', 'x')", [])?;
        assert!(!db.exists(), "nothing at the index path before publish");
        index.publish()?;
        assert!(!staging.exists());
        assert!(matches!(probe(&db)?, Probe::Ours));
        let v: String =
            index
                .conn
                .query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| {
                    r.get(0)
                })?;
        assert_eq!(v, "x");
        let mode: String = index
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!(mode, "wal");
        drop(index);
        // Never published (a failed first scan): nothing is left behind.
        let other = dir.path().join("j.sqlite");
        let (index, _) = Index::open(&other, Path::new("/cache/a"))?;
        drop(index);
        assert!(!other.exists() && !staging_path(&other).exists());
        let (_, notes) = Index::open(&db, Path::new("/cache/a"))?;
        assert!(!notes.created);
        Ok(())
    }

    /// A second big commit (the re-stat's, after the scan's) gets a
    /// background checkpoint of its own once the first one is done: the
    /// database file holds both before the index closes.
    #[test]
    fn each_big_commit_gets_a_background_checkpoint() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        let (mut index, _) = Index::open(&db, Path::new("/cache/a"))?;
        index.publish()?;
        index.conn.execute_batch("CREATE TABLE t(x BLOB);")?;
        let blob = vec![7u8; 20_000];
        let wait = |index: &Index| {
            while index
                .checkpointer
                .as_ref()
                .is_some_and(|c| !c.is_finished())
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        for round in 1..=2u64 {
            index.conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
            let tx = index.conn.transaction()?;
            for _ in 0..1500 {
                tx.execute("INSERT INTO t(x) VALUES (?1)", [&blob])?;
            }
            tx.commit()?;
            index.restore_autocheckpoint()?;
            index.checkpoint_in_background()?;
            wait(&index);
            let copied = std::fs::metadata(&db)?.len();
            assert!(
                copied > round * 1500 * 20_000,
                "round {round}: {copied} bytes in the database file"
            );
        }
        Ok(())
    }

    /// A commit too big for the automatic checkpoint leaves its copy to a
    /// background connection; writes go on meanwhile, and when the index
    /// closes everything is in the database file and the log is gone.
    #[test]
    fn big_commit_is_checkpointed_in_the_background() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        let (mut index, _) = Index::open(&db, Path::new("/cache/a"))?;
        index.publish()?;
        assert!(index.can_checkpoint_in_background());
        index
            .conn
            .execute_batch("CREATE TABLE t(x BLOB); PRAGMA wal_autocheckpoint = 0;")?;
        let blob = vec![7u8; 20_000];
        let tx = index.conn.transaction()?;
        for _ in 0..1500 {
            tx.execute("INSERT INTO t(x) VALUES (?1)", [&blob])?;
        }
        tx.commit()?;
        let wal = side_file(&db, "-wal");
        assert!(std::fs::metadata(&wal)?.len() > 16 * 1024 * 1024);
        index.restore_autocheckpoint()?;
        index.checkpoint_in_background()?;
        assert!(index.checkpointer.is_some(), "a big log goes to a thread");
        for _ in 0..10 {
            index
                .conn
                .execute("INSERT INTO t(x) VALUES (?1)", [&blob])?;
        }
        let autockpt: i64 = index
            .conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
        assert_eq!(autockpt, AUTOCHECKPOINT_FRAMES as i64);
        drop(index);
        assert!(
            !wal.exists(),
            "the last close checkpoints and removes the log"
        );
        let n: i64 =
            Connection::open(&db)?.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 1510);
        // A small log is left to the automatic checkpoints.
        let (mut index, _) = Index::open(&db, Path::new("/cache/a"))?;
        index
            .conn
            .execute("INSERT INTO t(x) VALUES (?1)", [&blob])?;
        index.checkpoint_in_background()?;
        assert!(index.checkpointer.is_none());
        Ok(())
    }

    /// An index of schema version 2 (what the previous release wrote)
    /// keeps every row and id through 0003, the views read the rebuilt
    /// tables, and the keys are unique still, now as named indexes.
    #[test]
    fn version_2_index_migrates_with_its_rows() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        {
            let conn = Connection::open(&db)?;
            register_functions(&conn)?;
            conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
            for (_, sql) in &MIGRATIONS[..2] {
                conn.execute_batch(sql)?;
            }
            conn.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO meta(key, value) VALUES ('cache_root', '/cache/a');
                 INSERT INTO dir(id, path, mtime_ns, ctime_ns, unreadable)
                     VALUES (1, '', 10, 11, 0), (7, 'ab', 20, 21, 1);
                 INSERT INTO grp(id, extrapath, pn, pkgtarget, pkgarch, ssver, task)
                     VALUES (5, '', 'zlib', 'core2-64-poky-linux', 'core2-64', '14', 'populate_sysroot');
                 INSERT INTO object(id, dir_id, group_id, stem, pv, pr, unihash, archive_mtime_ns,
                                    last_used_ns, n_entries, size, disk_bytes, hash_key, deps_state)
                     VALUES (9, 7, 5, 'sstate:zlib:x', '1.3', 'r0', 'ab', 30, 30, 1, 100, 4096, 0, 'none');",
            )?;
        }
        let (index, notes) = Index::open(&db, Path::new("/cache/a"))?;
        assert!(!notes.created);
        assert_eq!(index.user_version()?, 3);
        let fk: i64 = index
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        assert_eq!(fk, 1, "foreign key checks are on again after the migration");
        let row: (i64, String, i64, String, String) = index.conn.query_row(
            "SELECT object_id, path, group_id, pn, task FROM objects",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        assert_eq!(
            row,
            (
                9,
                "ab/sstate:zlib:x".into(),
                5,
                "zlib".into(),
                "populate_sysroot".into()
            )
        );
        let dirs: Vec<(i64, String, i64, i64, i64)> = index
            .conn
            .prepare("SELECT id, path, mtime_ns, ctime_ns, unreadable FROM dir ORDER BY id")?
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        assert_eq!(
            dirs,
            vec![(1, String::new(), 10, 11, 0), (7, "ab".into(), 20, 21, 1)]
        );
        let n_groups: i64 =
            index
                .conn
                .query_row("SELECT n_objects FROM groups WHERE group_id = 5", [], |r| {
                    r.get(0)
                })?;
        assert_eq!(n_groups, 1);
        let autoindexes: i64 = index.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_%'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(autoindexes, 0);
        assert!(
            index
                .conn
                .execute(
                    "INSERT INTO dir(path, mtime_ns, ctime_ns) VALUES ('ab', 0, 0)",
                    []
                )
                .is_err()
        );
        assert!(
            index
                .conn
                .execute(
                    "INSERT INTO grp(extrapath, pn, pkgtarget, pkgarch, ssver, task)
                     VALUES ('', 'zlib', 'core2-64-poky-linux', 'core2-64', '14', 'populate_sysroot')",
                    [],
                )
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn half_created_index_of_an_earlier_version_is_rebuilt() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("i.sqlite");
        // What an interrupted first run of 0.1 left: the schema, no id.
        Connection::open(&db)?.execute_batch(include_str!("../../migrations/0001_initial.sql"))?;
        let (index, notes) = Index::open(&db, Path::new("/cache/a"))?;
        assert!(notes.created);
        assert!(
            notes.warnings.iter().any(|w| w.contains("half-created")),
            "{:?}",
            notes.warnings
        );
        assert_eq!(index.user_version()?, MIGRATIONS.len() as i64);
        Ok(())
    }

    #[test]
    fn default_path_is_per_cache() -> Result<()> {
        let a = default_path(Path::new("/srv/sstate-cache"))?;
        let b = default_path(Path::new("/other/sstate-cache"))?;
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy()
                .contains("sstate-cache-management/sstate-cache-")
        );
        Ok(())
    }
}
