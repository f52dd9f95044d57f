//! Object-store mirrors: a cache at `s3://BUCKET/PREFIX` instead of a path.
//!
//! BitBake reads such a mirror through `SSTATE_MIRRORS`; its keys have the
//! same layout as a local cache (`HH/HH/NAME`, EXTRAPATH prefixes). The
//! tool indexes a listing of the keys into the same index (one per
//! location), with the same SQL, and removes whole objects with batched
//! multi-object deletes after re-checking each key.
//!
//! The mapping into the index, which was designed for `lstat`:
//! - a key's "directory" is its prefix up to the last `/`;
//! - `size` is the object's size, `blocks` its size in 512-byte units
//!   (stores bill bytes, not blocks);
//! - `mtime` is the last-modified time, to the second (listings and HEAD
//!   agree only to the second);
//! - `ino` is a 64-bit hash of the ETag: a rewrite changes it, a `touch`
//!   (a copy onto itself) does not.
//!
//! This module never prints; it counts its requests.

#[cfg(feature = "s3")]
mod s3;

use anyhow::{Result, bail};
use std::sync::atomic::{AtomicU64, Ordering};

/// A parsed `s3://BUCKET/PREFIX` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl StoreUrl {
    /// `Ok(None)` when `s` is not a URL at all (a local path).
    pub fn parse(s: &str) -> Result<Option<StoreUrl>> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("s3") {
            bail!(
                "--cache-dir {s}: unsupported URL scheme '{scheme}://' (a cache is a directory or s3://BUCKET/PREFIX)"
            );
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            bail!(
                "--cache-dir {s}: '{bucket}' is not a bucket name (3 to 63 lowercase letters, digits, '-' or '.')"
            );
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..") {
            bail!("--cache-dir {s}: the prefix may not contain '.' or '..' parts");
        }
        Ok(Some(StoreUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }

    /// The key of a path relative to the location.
    pub fn key(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{rel}", self.prefix),
        }
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// One key as listed (or HEAD-ed), relative to the location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub rel: String,
    pub size: u64,
    /// Last modified, whole seconds, in ns.
    pub mtime_ns: i64,
    /// [`etag_id`] of its ETag (0 when the store gave none).
    pub etag_id: u64,
}

/// The 64-bit identity of an ETag (quotes and a `W/` prefix ignored),
/// never 0. FNV-1a: stable across releases (it is stored in the index).
pub fn etag_id(etag: Option<&str>) -> u64 {
    let Some(e) = etag else { return 0 };
    let e = e.trim_start_matches("W/").trim_matches('"');
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in e.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// Last-modified seconds as the index's ns.
pub fn mtime_ns_of_secs(secs: i64) -> i64 {
    secs.saturating_mul(1_000_000_000)
}

/// Requests made, by kind, for the report and the benchmark.
#[derive(Debug, Default)]
pub struct Requests {
    /// List pages (up to 1,000 keys each).
    pub list: AtomicU64,
    pub head: AtomicU64,
    pub get: AtomicU64,
    /// Multi-object delete requests (up to 1,000 keys each).
    pub delete: AtomicU64,
    /// Server-side copies (touch, trash).
    pub copy: AtomicU64,
    /// Small writes (a trash run's manifest).
    pub put: AtomicU64,
}

impl Requests {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Each kind and its count (for JSON and the summary).
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        [
            ("list", &self.list),
            ("head", &self.head),
            ("get", &self.get),
            ("delete", &self.delete),
            ("copy", &self.copy),
            ("put", &self.put),
        ]
        .into_iter()
        .map(|(k, c)| (k, c.load(Ordering::Relaxed)))
        .collect()
    }

    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }

    /// "12 list, 3 delete" (kinds with none left out).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// How to reach the store: the endpoint (`--s3-endpoint`, else
/// `AWS_ENDPOINT_URL`), credentials and region from the AWS environment
/// and the shared credentials file.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub endpoint: Option<String>,
    pub jobs: usize,
}

#[cfg(feature = "s3")]
pub use s3::Store;

/// Built without the `s3` feature: every store location is refused.
#[cfg(not(feature = "s3"))]
pub struct Store {
    pub url: StoreUrl,
    pub requests: Requests,
}

#[cfg(not(feature = "s3"))]
impl Store {
    pub fn open(url: StoreUrl, _connect: &Connect) -> Result<Store> {
        bail!("{url}: this build has no object-store support (rebuild with the `s3` feature)")
    }
    pub fn list(&self) -> Result<Vec<Listed>> {
        unreachable_store()
    }
    pub fn head(&self, _rel: &str) -> Result<Option<Listed>, String> {
        Err("no object-store support".into())
    }
    pub fn get(&self, _rel: &str, _limit: u64) -> Result<Vec<u8>, String> {
        Err("no object-store support".into())
    }
    pub fn delete(&self, rels: &[String]) -> Vec<Result<(), String>> {
        rels.iter()
            .map(|_| Err("no object-store support".into()))
            .collect()
    }
    pub fn touch(&self, _rel: &str) -> Result<(), String> {
        Err("no object-store support".into())
    }
    pub fn head_many(&self, rels: &[String]) -> Vec<Result<Option<Listed>, String>> {
        rels.iter().map(|r| self.head(r)).collect()
    }
    pub fn list_under(&self, rels: &[String]) -> Vec<Result<Vec<Listed>, String>> {
        rels.iter()
            .map(|_| Err("no object-store support".into()))
            .collect()
    }
    pub fn get_many(&self, rels: &[String], limit: u64) -> Vec<Result<Vec<u8>, String>> {
        rels.iter().map(|r| self.get(r, limit)).collect()
    }
    pub fn touch_many(&self, rels: &[String]) -> Vec<Result<(), String>> {
        rels.iter().map(|r| self.touch(r)).collect()
    }
}

#[cfg(not(feature = "s3"))]
fn unreachable_store() -> Result<Vec<Listed>> {
    bail!("no object-store support in this build")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(StoreUrl::parse("/srv/sstate").ok().flatten(), None);
        let u = StoreUrl::parse("s3://my-bucket/ci/sstate/").ok().flatten();
        assert_eq!(
            u,
            Some(StoreUrl {
                bucket: "my-bucket".into(),
                prefix: "ci/sstate".into()
            })
        );
        let u = u.expect("parsed");
        assert_eq!(u.to_string(), "s3://my-bucket/ci/sstate");
        assert_eq!(u.key("00/01/x"), "ci/sstate/00/01/x");
        let root = StoreUrl::parse("s3://bkt").ok().flatten().expect("parsed");
        assert_eq!(root.key("00/x"), "00/x");
        assert_eq!(root.to_string(), "s3://bkt");
        for bad in ["gs://b/x", "s3://B/x", "s3://a/x", "s3://bkt/../x"] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_counts_add_up() {
        let r = Requests::default();
        assert_eq!(r.summary(), "none");
        Requests::add(&r.list, 3);
        Requests::add(&r.put, 1);
        Requests::add(&r.delete, 2);
        assert_eq!(r.total(), 6);
        assert_eq!(r.summary(), "2 delete, 3 list, 1 put");
    }

    #[test]
    fn etag_ids_ignore_quotes() {
        assert_eq!(etag_id(Some("\"abc\"")), etag_id(Some("abc")));
        assert_ne!(etag_id(Some("abc")), etag_id(Some("abd")));
        assert_eq!(etag_id(None), 0);
    }
}
