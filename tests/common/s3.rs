//! A real S3-compatible server for the tests: `tests/support/s3server.py`
//! (moto's S3 in server mode, on 127.0.0.1, started per test and killed on
//! drop), and a mirror of a test [`Cache`] in one of its buckets. The tool
//! talks to it with its production client; the test controls (upload with
//! mtimes, faults, key listing) are plain HTTP to the same server.

use super::{Cache, Prompted, Run, run_command};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct S3Server {
    child: Child,
    pub port: u16,
}

impl S3Server {
    /// Start the server, or fail the test with what to install.
    pub fn start() -> S3Server {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/s3server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start python3 for the S3 test server ({script}): {e}")
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(port) = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse::<u16>().ok())
        else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!(
                "the S3 test server did not start (python3 {script}); it needs moto's server: \
                 pip install 'moto[server]' (what .ci/run installs)\n--- its stderr:\n{err}"
            );
        };
        S3Server { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP/1.1 request to the test controls; the body back.
    pub fn control(&self, method: &str, path_and_query: &str) -> String {
        let mut s =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to the S3 test server");
        write!(
            s,
            "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("writing a control request");
        let mut resp = String::new();
        s.read_to_string(&mut resp)
            .expect("reading a control answer");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "control {path_and_query}: {resp}"
        );
        body.to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A test cache mirrored into `s3://sstate-test/<prefix>`, with the
/// tool's index for the mirror beside it.
pub struct Mirror {
    pub s3: std::rc::Rc<S3Server>,
    pub cache: Cache,
    pub bucket: String,
    pub prefix: String,
}

impl Mirror {
    /// A server and an empty local cache to build; [`Mirror::upload`]
    /// copies it into the bucket.
    pub fn new(prefix: &str) -> Mirror {
        Mirror::of(std::rc::Rc::new(S3Server::start()), Cache::new(), prefix)
    }

    /// A mirror of `cache` (upload it with [`Mirror::upload`]) on `s3`.
    pub fn of(s3: std::rc::Rc<S3Server>, cache: Cache, prefix: &str) -> Mirror {
        Mirror {
            s3,
            cache,
            bucket: "sstate-test".to_string(),
            prefix: prefix.to_string(),
        }
    }

    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// Upload every file of the local cache, last-modified = its mtime.
    pub fn upload(&self) -> usize {
        self.upload_dir(&self.cache.dir)
    }

    pub fn upload_dir(&self, dir: &Path) -> usize {
        let n = self.s3.control(
            "POST",
            &format!(
                "/_test/mirror?bucket={}&prefix={}&dir={}",
                self.bucket,
                q(&self.prefix),
                q(dir.to_str().expect("UTF-8 temp path"))
            ),
        );
        n.trim().parse().expect("a count of uploaded keys")
    }

    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// Set one key's last-modified time (Unix seconds).
    pub fn set_mtime(&self, rel: &str, secs: i64) {
        self.s3.control(
            "POST",
            &format!(
                "/_test/mtime?bucket={}&key={}&mtime={secs}",
                self.bucket,
                q(&self.key(rel))
            ),
        );
    }

    /// Write `rel` anew (new contents, so a new ETag).
    pub fn put(&self, rel: &str, data: &str) {
        self.s3.control(
            "POST",
            &format!(
                "/_test/put?bucket={}&key={}&data={}",
                self.bucket,
                q(&self.key(rel)),
                q(data)
            ),
        );
    }

    /// Delete `rel` behind the tool's back.
    pub fn delete(&self, rel: &str) {
        self.s3.control(
            "POST",
            &format!(
                "/_test/delete?bucket={}&key={}",
                self.bucket,
                q(&self.key(rel))
            ),
        );
    }

    /// Keys left under the prefix, relative to it, sorted.
    pub fn keys(&self) -> Vec<String> {
        let body = self
            .s3
            .control("GET", &format!("/_test/keys?bucket={}", self.bucket));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut keys: Vec<String> = body
            .lines()
            .filter_map(|k| k.strip_prefix(strip.as_str()).map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    /// Answer the next `times` requests of `method` (GET, HEAD, PUT;
    /// DELETE for a key of a multi-object delete) for keys containing
    /// `contains` with HTTP `status`.
    pub fn fault(&self, method: &str, contains: &str, status: u16, times: u32) {
        self.s3.control(
            "POST",
            &format!(
                "/_test/fault?method={method}&contains={}&status={status}&times={times}",
                q(contains)
            ),
        );
    }

    /// How many answers each fault still had to give (all 0: every
    /// injected error was served).
    pub fn faults_left(&self) -> Vec<(String, u32)> {
        self.s3
            .control("GET", "/_test/faults")
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(4, ' ');
                let (m, _status, left, what) = (it.next()?, it.next()?, it.next()?, it.next()?);
                Some((format!("{m} {what}"), left.parse().ok()?))
            })
            .collect()
    }

    /// Requests the server answered, by method.
    pub fn requests(&self) -> std::collections::BTreeMap<String, u64> {
        self.s3
            .control("GET", "/_test/requests")
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(m, n)| (m.to_string(), n.parse().unwrap_or(0)))
            .collect()
    }

    /// The binary with the mirror as its cache, its own index, the
    /// endpoint and test credentials, then `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let url = self.url();
        let index = self.cache.outside("mirror-index.sqlite");
        let mut all: Vec<&str> = vec![
            "--cache-dir",
            &url,
            "--index",
            index.to_str().expect("UTF-8 temp path"),
        ];
        let endpoint = self.s3.endpoint();
        all.extend(["--s3-endpoint", &endpoint]);
        all.extend_from_slice(args);
        let mut cmd = self.cache.command(&all);
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("HOME", self.cache.root())
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_command(self.command(args), None)
    }

    /// Start a run that will ask; answer with [`Prompted::answer`].
    pub fn spawn(&self, args: &[&str]) -> Prompted {
        Prompted::start(self.command(args))
    }

    /// Rows of `sql` on the mirror's index.
    pub fn index_query(&self, sql: &str) -> Vec<Vec<String>> {
        super::index_query(&self.cache.outside("mirror-index.sqlite"), sql)
    }
}
