//! The daemon mounted for real: a passthrough that files can be written,
//! read, renamed and removed through; every stat waits the delay (nothing is
//! cached by the kernel); parallel stats wait it at the same time (the daemon
//! does not serialise them); SIGTERM unmounts. Skipped, with a message, where
//! FUSE cannot be mounted (no /dev/fuse, no permission).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Mount {
    child: Child,
    mnt: PathBuf,
    stats: PathBuf,
}

impl Mount {
    /// Mounts `src` on `mnt`; None (after saying why) where FUSE is not available.
    fn new(src: &Path, mnt: &Path, stats: &Path, delay_us: u64) -> Option<Mount> {
        if !Path::new("/dev/fuse").exists() {
            eprintln!("skipped: no /dev/fuse");
            return None;
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_latencyfs"))
            .arg(src)
            .arg(mnt)
            .args([
                "--delay-us",
                &delay_us.to_string(),
                "--threads",
                "4",
                "--stats",
            ])
            .arg(stats)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("latencyfs starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).ok();
            child.wait().ok();
            eprintln!("skipped: latencyfs did not mount: {err}");
            return None;
        }
        Some(Mount {
            child,
            mnt: mnt.to_path_buf(),
            stats: stats.to_path_buf(),
        })
    }

    /// The daemon's request counts so far (SIGUSR1, then its JSON dump).
    fn requests(&self, op: &str) -> u64 {
        let before = std::fs::read_to_string(&self.stats).unwrap_or_default();
        signal(&self.child, libc::SIGUSR1);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::read_to_string(&self.stats).unwrap_or_default();
            if !now.is_empty() && now != before {
                let key = format!("\"{op}\": ");
                let at = now.find(&key).expect("op in stats") + key.len();
                let digits: String = now[at..].chars().take_while(char::is_ascii_digit).collect();
                return digits.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "no stats dump");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(mut self) {
        signal(&self.child, libc::SIGTERM);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "latencyfs exited with {status}");
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(
            !mounts.contains(self.mnt.to_str().unwrap()),
            "still mounted after SIGTERM"
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal(&self.child, libc::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, sig) };
}

#[test]
fn passthrough_delays_every_request_and_serves_them_in_parallel() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, mnt) = (tmp.path().join("src"), tmp.path().join("mnt"));
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::write(src.join("a/b/seen"), b"from the source").unwrap();
    let delay = Duration::from_millis(5);
    let Some(m) = Mount::new(&src, &mnt, &tmp.path().join("stats.json"), 5000) else {
        return;
    };

    // A passthrough: what is on the source is seen, what is done shows there.
    assert_eq!(
        std::fs::read(mnt.join("a/b/seen")).unwrap(),
        b"from the source"
    );
    std::fs::write(mnt.join("a/new"), b"written through").unwrap();
    assert_eq!(
        std::fs::read(src.join("a/new")).unwrap(),
        b"written through"
    );
    std::fs::rename(mnt.join("a/new"), mnt.join("a/b/moved")).unwrap();
    assert!(src.join("a/b/moved").exists() && !src.join("a/new").exists());
    let mut names: Vec<_> = std::fs::read_dir(mnt.join("a/b"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["moved", "seen"]);
    assert_eq!(
        std::fs::symlink_metadata(mnt.join("a/b/moved"))
            .unwrap()
            .len(),
        15
    );
    std::fs::remove_file(mnt.join("a/b/moved")).unwrap();
    assert!(!src.join("a/b/moved").exists());
    std::fs::create_dir(mnt.join("d")).unwrap();
    std::fs::remove_dir(mnt.join("d")).unwrap();
    assert!(!src.join("d").exists());

    // Nothing is cached: each lstat is a round trip (at least one request,
    // so at least the delay).
    let file = mnt.join("a/b/seen");
    let n = 40;
    let getattr0 = m.requests("getattr");
    let t = Instant::now();
    for _ in 0..n {
        std::fs::symlink_metadata(&file).unwrap();
    }
    let serial = t.elapsed();
    assert!(
        m.requests("getattr") - getattr0 >= n,
        "lstat answered without the daemon"
    );
    assert!(serial >= delay * n as u32, "{n} lstats took {serial:?}");

    // 8 threads doing as many lstats between them: the delays overlap.
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..n / 8 {
                    std::fs::symlink_metadata(&file).unwrap();
                }
            });
        }
    });
    let parallel = t.elapsed();
    assert!(
        parallel * 3 < serial,
        "8 threads: {parallel:?} against {serial:?} on one"
    );
    m.stop();
}
