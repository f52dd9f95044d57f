//! The S3 client (the `object_store` crate), behind a blocking interface:
//! the rest of the tool is synchronous; this module owns a small tokio
//! runtime and runs up to `jobs` requests at a time on it.

use super::{Connect, Listed, Requests, StoreUrl, etag_id, mtime_ns_of_secs};
use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// An open S3 location.
pub struct Store {
    pub url: StoreUrl,
    s3: Arc<AmazonS3>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    jobs: usize,
    pub requests: Requests,
}

/// Keys per multi-object delete (the S3 maximum).
pub const DELETE_BATCH: usize = 1000;

impl Store {
    /// Connect to `url`: credentials and region from the AWS environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_REGION`, ...), else the shared credentials file
    /// (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, profile
    /// `AWS_PROFILE` or `default`), else the instance's role.
    pub fn open(url: StoreUrl, connect: &Connect) -> Result<Store> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if env("AWS_ACCESS_KEY_ID").is_none()
            && let Some((id, secret, token)) = shared_credentials()
        {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(t) = token {
                b = b.with_token(t);
            }
        }
        if env("AWS_REGION").is_none() {
            b = b.with_region(
                env("AWS_DEFAULT_REGION")
                    .or_else(shared_region)
                    .unwrap_or_else(|| "us-east-1".to_string()),
            );
        }
        let endpoint = connect
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"));
        if let Some(ep) = &endpoint {
            // S3-compatible stores (MinIO, Ceph RGW, Garage, moto) are
            // addressed by path, and often over plain HTTP on a LAN.
            b = b
                .with_endpoint(ep.trim_end_matches('/'))
                .with_virtual_hosted_style_request(false)
                .with_allow_http(ep.starts_with("http://"));
        }
        let retry = RetryConfig {
            max_retries: 5,
            retry_timeout: Duration::from_secs(120),
            ..Default::default()
        };
        let s3 = b
            .with_retry(retry)
            .build()
            .with_context(|| format!("{url}: configuring the S3 client"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sscm-s3")
            .enable_all()
            .build()
            .context("starting the S3 client's runtime")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("starting the HTTP client")?;
        Ok(Store {
            url,
            s3: Arc::new(s3),
            http,
            rt,
            jobs: connect.jobs.max(1),
            requests: Requests::default(),
        })
    }

    fn path(&self, rel: &str) -> Result<Path, String> {
        Path::parse(self.url.key(rel)).map_err(|e| format!("not a key the client can address: {e}"))
    }

    fn rel_of(&self, key: &Path) -> Option<String> {
        let k = key.as_ref();
        if self.url.prefix.is_empty() {
            return Some(k.to_string());
        }
        k.strip_prefix(self.url.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .map(str::to_string)
    }

    fn listed(&self, m: &ObjectMeta) -> Option<Listed> {
        Some(Listed {
            rel: self.rel_of(&m.location)?,
            size: m.size,
            mtime_ns: mtime_ns_of_secs(m.last_modified.timestamp()),
            etag_id: etag_id(m.e_tag.as_deref()),
        })
    }

    /// Every key under the location, except the tool's own prefix (its
    /// trash). The top level is listed with a delimiter; then every `HH/`
    /// prefix is listed in full, and every other prefix (an EXTRAPATH such
    /// as `universal/`) in 16 ranges, up to `jobs` lists at a time, so that
    /// no long chain of pages is listed one after the other.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let root = if self.url.prefix.is_empty() {
            None
        } else {
            Some(
                Path::parse(&self.url.prefix)
                    .with_context(|| format!("{}: the prefix", self.url))?,
            )
        };
        let err = |e| store_error(&self.url, "listing", e);
        self.rt.block_on(async {
            let top = self
                .s3
                .list_with_delimiter(root.as_ref())
                .await
                .map_err(err)?;
            Requests::add(
                &self.requests.list,
                pages(top.objects.len() + top.common_prefixes.len()),
            );
            let mut out: Vec<Listed> = top.objects.iter().filter_map(|m| self.listed(m)).collect();
            let (hh, other): (Vec<Path>, Vec<Path>) = top
                .common_prefixes
                .into_iter()
                .filter(|p| p.filename() != Some(crate::TOOL_DIR))
                .partition(|p| p.filename().is_some_and(is_hh));
            // Each HH/ prefix in full; each other prefix (an EXTRAPATH,
            // which holds HH/ dirs of its own) in 16 ranges by the first
            // hex digit of what follows it, so that its pages are not one
            // long chain either.
            let mut ranges: Vec<(Path, Option<Path>, Option<String>)> =
                hh.into_iter().map(|p| (p, None, None)).collect();
            for p in other {
                for d in 0..16u32 {
                    let digit = |d: u32| char::from_digit(d, 16).map(String::from);
                    let start = (d > 0)
                        .then(|| {
                            digit(d).map(|x| Path::from_iter(p.parts().chain([x.as_str().into()])))
                        })
                        .flatten();
                    let stop = (d < 15)
                        .then(|| digit(d + 1).map(|x| format!("{}/{x}", p.as_ref())))
                        .flatten();
                    ranges.push((p.clone(), start, stop));
                }
            }
            let lists = futures::stream::iter(ranges.into_iter().map(|(p, start, stop)| {
                let s3 = Arc::clone(&self.s3);
                async move {
                    let stream = match &start {
                        None => s3.list(Some(&p)),
                        Some(after) => s3.list_with_offset(Some(&p), after),
                    };
                    // Up to and including the next range's start (which
                    // the next range, listing after it, leaves out).
                    stream
                        .try_take_while(|m| {
                            let more = stop
                                .as_ref()
                                .is_none_or(|s| m.location.as_ref() <= s.as_str());
                            futures::future::ready(Ok(more))
                        })
                        .try_collect::<Vec<ObjectMeta>>()
                        .await
                }
            }))
            .buffer_unordered(self.jobs);
            let mut lists = std::pin::pin!(lists);
            while let Some(metas) = lists.next().await {
                let metas = metas.map_err(err)?;
                Requests::add(&self.requests.list, pages(metas.len()));
                out.extend(metas.iter().filter_map(|m| self.listed(m)));
            }
            Ok(out)
        })
    }

    /// Every key under each of `rels` (directories relative to the
    /// location), `jobs` prefixes at a time: the re-check of many keys of
    /// one directory tree in a request per 1,000 keys instead of one each.
    pub fn list_under(&self, rels: &[String]) -> Vec<Result<Vec<Listed>, String>> {
        self.rt.block_on(
            futures::stream::iter(rels.iter().map(|rel| async move {
                let prefix = self.path(rel)?;
                let metas: Vec<ObjectMeta> = self
                    .s3
                    .list(Some(&prefix))
                    .try_collect()
                    .await
                    .map_err(short_error)?;
                Requests::add(&self.requests.list, pages(metas.len()));
                Ok(metas.iter().filter_map(|m| self.listed(m)).collect())
            }))
            .buffered(self.jobs)
            .collect(),
        )
    }

    async fn head_one(&self, rel: &str) -> Result<Option<Listed>, String> {
        let path = self.path(rel)?;
        Requests::add(&self.requests.head, 1);
        match self.s3.head(&path).await {
            Ok(m) => Ok(self.listed(&m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(short_error(e)),
        }
    }

    /// HEAD of each key (`None`: it is gone), `jobs` at a time.
    pub fn head_many(&self, rels: &[String]) -> Vec<Result<Option<Listed>, String>> {
        self.rt.block_on(
            futures::stream::iter(rels.iter().map(|r| self.head_one(r)))
                .buffered(self.jobs)
                .collect(),
        )
    }

    /// Write a small key (a trash run's manifest).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), String> {
        let path = self.path(rel)?;
        Requests::add(&self.requests.put, 1);
        self.rt
            .block_on(self.s3.put(&path, bytes.into()))
            .map(|_| ())
            .map_err(short_error)
    }

    /// Server-side copies `from → to` (nothing downloaded), `jobs` at a
    /// time; one result per pair, in order.
    pub fn copy_many(&self, pairs: &[(String, String)]) -> Vec<Result<(), String>> {
        self.rt.block_on(
            futures::stream::iter(pairs.iter().map(|(from, to)| async move {
                let (from, to) = (self.path(from)?, self.path(to)?);
                Requests::add(&self.requests.copy, 1);
                self.s3.copy(&from, &to).await.map_err(short_error)
            }))
            .buffered(self.jobs)
            .collect(),
        )
    }

    /// One key's contents, refused beyond `limit` bytes.
    async fn get_one(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        let path = self.path(rel)?;
        Requests::add(&self.requests.get, 1);
        let got = self.s3.get(&path).await.map_err(short_error)?;
        if got.meta.size > limit {
            return Err(format!("{} bytes, more than {limit}", got.meta.size));
        }
        let bytes = got.bytes().await.map_err(short_error)?;
        Ok(bytes.to_vec())
    }

    pub fn get_many(&self, rels: &[String], limit: u64) -> Vec<Result<Vec<u8>, String>> {
        self.rt.block_on(
            futures::stream::iter(rels.iter().map(|r| self.get_one(r, limit)))
                .buffered(self.jobs)
                .collect(),
        )
    }

    /// Delete `rels` with multi-object deletes of up to 1,000 keys, up to
    /// `jobs` requests at a time; one result per key, in order.
    pub fn delete(&self, rels: &[String]) -> Vec<Result<(), String>> {
        let batches = rels.chunks(DELETE_BATCH).map(|chunk| async move {
            let mut paths = Vec::with_capacity(chunk.len());
            let mut bad = Vec::new();
            for (i, r) in chunk.iter().enumerate() {
                match self.path(r) {
                    Ok(p) => paths.push(p),
                    Err(e) => bad.push((i, e)),
                }
            }
            Requests::add(&self.requests.delete, 1);
            let n = paths.len();
            let results: Vec<object_store::Result<Path>> = self
                .s3
                .delete_stream(futures::stream::iter(paths.into_iter().map(Ok)).boxed())
                .collect()
                .await;
            let mut out: Vec<Result<(), String>> = if results.len() == n {
                results
                    .into_iter()
                    .map(|r| r.map(|_| ()).map_err(short_error))
                    .collect()
            } else {
                // The request itself failed: every key of it did.
                let why = results
                    .into_iter()
                    .find_map(|r| r.err())
                    .map_or_else(|| "no answer for this key".to_string(), short_error);
                vec![Err(why); n]
            };
            for (i, e) in bad {
                out.insert(i, Err(e));
            }
            out
        });
        let per_batch: Vec<Vec<Result<(), String>>> = self
            .rt
            .block_on(futures::stream::iter(batches).buffered(self.jobs).collect());
        per_batch.into_iter().flatten().collect()
    }

    /// Refresh a key's last-modified time without downloading it: a
    /// server-side copy onto itself (`x-amz-metadata-directive: REPLACE`,
    /// which S3 requires for a copy onto the same key).
    async fn touch_one(&self, rel: &str) -> Result<(), String> {
        let path = self.path(rel)?;
        let source = format!("/{}/{}", self.url.bucket, encode_key(path.as_ref()));
        let mut headers = reqwest::header::HeaderMap::new();
        let value = |v: &str| {
            reqwest::header::HeaderValue::from_str(v).map_err(|e| format!("header value: {e}"))
        };
        headers.insert("x-amz-copy-source", value(&source)?);
        headers.insert("x-amz-metadata-directive", value("REPLACE")?);
        let opts = headers.iter().fold(SignedUrlOptions::new(), |o, (k, v)| {
            o.with_signed_header(k.clone(), v.clone())
        });
        let url = self
            .s3
            .signed_url_opts(reqwest::Method::PUT, &path, Duration::from_secs(300), &opts)
            .await
            .map_err(short_error)?;
        let mut last = String::new();
        // 5xx and connection errors are retried (5 times), as the
        // client does for its own requests.
        for attempt in 0..=5u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            Requests::add(&self.requests.copy, 1);
            match self
                .http
                .put(url.clone())
                .headers(headers.clone())
                .header(reqwest::header::CONTENT_LENGTH, "0")
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    // A copy can fail after a 200 with an error body.
                    let body = r.text().await.unwrap_or_default();
                    if body.contains("<Error>") {
                        last = format!("copy failed: {}", error_code(&body));
                        continue;
                    }
                    return Ok(());
                }
                Ok(r) if r.status().is_server_error() => {
                    last = format!("HTTP {}", r.status());
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err(match status.as_u16() {
                        404 => "gone (404)".to_string(),
                        _ => format!("HTTP {status}: {}", error_code(&body)),
                    });
                }
                Err(e) => last = format!("request failed: {e}"),
            }
        }
        Err(last)
    }

    pub fn touch_many(&self, rels: &[String]) -> Vec<Result<(), String>> {
        self.rt.block_on(
            futures::stream::iter(rels.iter().map(|r| self.touch_one(r)))
                .buffered(self.jobs)
                .collect(),
        )
    }
}

/// An `HH` directory name: two lowercase hex digits.
fn is_hh(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// List requests for `n` keys (pages of 1,000).
fn pages(n: usize) -> u64 {
    (n as u64).div_ceil(1000).max(1)
}

fn store_error(url: &StoreUrl, what: &str, e: object_store::Error) -> anyhow::Error {
    anyhow::anyhow!("{url}: {what}: {}", short_error(e))
}

/// The store's answer without the client's nesting.
fn short_error(e: object_store::Error) -> String {
    let text = e.to_string();
    // The client wraps the interesting part ("403 Forbidden ...").
    let first = text.split('\n').next().unwrap_or(&text);
    // With no credentials in the environment or the shared files, the
    // client asks the instance metadata service last.
    if first.contains("169.254.169.254") {
        return format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with \
             ~/.aws/credentials); the instance metadata service did not give any either ({first})"
        );
    }
    first.to_string()
}

/// The `<Code>` of an S3 error body, else its first 200 bytes.
fn error_code(body: &str) -> String {
    match (body.find("<Code>"), body.find("</Code>")) {
        (Some(a), Some(b)) if b > a + 6 => body[a + 6..b].to_string(),
        _ => body.chars().take(200).collect(),
    }
}

/// Percent-encode a key for `x-amz-copy-source` (the `/` kept).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The shared credentials file's keys for the current profile.
fn shared_credentials() -> Option<(String, String, Option<String>)> {
    let path = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/credentials"))
        })?;
    let text = std::fs::read_to_string(path).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let section = ini_section(&text, &profile);
    let get = |k: &str| {
        section
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    Some((
        get("aws_access_key_id")?,
        get("aws_secret_access_key")?,
        get("aws_session_token"),
    ))
}

/// The region of the current profile in `~/.aws/config`.
fn shared_region() -> Option<String> {
    let path = std::env::var_os("AWS_CONFIG_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/config"))
        })?;
    let text = std::fs::read_to_string(path).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let name = if profile == "default" {
        profile
    } else {
        format!("profile {profile}")
    };
    ini_section(&text, &name)
        .into_iter()
        .find(|(k, _)| k == "region")
        .map(|(_, v)| v)
}

fn ini_section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            inside = line[1..line.len() - 1].trim() == name;
        } else if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini() {
        let t = "[default]\naws_access_key_id = A\naws_secret_access_key=B\n[profile x]\nregion = eu-west-1\n";
        assert_eq!(ini_section(t, "default").len(), 2);
        assert_eq!(
            ini_section(t, "profile x"),
            vec![("region".to_string(), "eu-west-1".to_string())]
        );
    }

    #[test]
    fn copy_source_encoding() {
        assert_eq!(encode_key("a/sstate:x y"), "a/sstate%3Ax%20y");
    }

    #[test]
    fn error_codes() {
        assert_eq!(
            error_code("<Error><Code>AccessDenied</Code></Error>"),
            "AccessDenied"
        );
    }

    #[test]
    fn list_pages() {
        assert_eq!(pages(0), 1);
        assert_eq!(pages(1000), 1);
        assert_eq!(pages(1001), 2);
    }
}
