//! The floor of a mirror scan: a plain parallel listing of every key under
//! an S3 prefix with the same client the tool uses (`object_store`), and
//! nothing else (no parsing, no index). The benchmark (bench/s3.py)
//! reports the tool's scans as ratios to this.
//!
//! Usage: s3list s3://BUCKET/PREFIX [ENDPOINT] [JOBS]
//! (credentials from the AWS environment).

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: s3list s3://BUCKET/PREFIX [ENDPOINT] [JOBS]")?;
    let rest = url.strip_prefix("s3://").ok_or("not an s3:// URL")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let jobs: usize = args.get(3).map(|j| j.parse()).transpose()?.unwrap_or(32);
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(ep) = args.get(2) {
        b = b
            .with_endpoint(ep)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false);
    }
    let s3 = b.build()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (keys, requests) = rt.block_on(async {
        let root = Path::parse(prefix)?;
        let top = s3.list_with_delimiter(Some(&root)).await?;
        let mut keys = top.objects.len();
        let mut requests = 1usize;
        let mut lists = futures::stream::iter(top.common_prefixes.into_iter().map(|p| {
            let s3 = &s3;
            async move { s3.list(Some(&p)).try_collect::<Vec<_>>().await }
        }))
        .buffer_unordered(jobs);
        while let Some(listed) = lists.next().await {
            let listed = listed?;
            requests += listed.len().div_ceil(1000).max(1);
            keys += listed.len();
        }
        Ok::<_, object_store::Error>((keys, requests))
    })?;
    println!(
        "{keys} keys, {requests} list requests, {:.3} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
