//! pwalk: a parallel `find DIR -printf '%s %T@ %p\n'`. Lists every directory
//! and lstat()s every entry (relative to its directory's fd, as find does) on
//! `-j` threads, never following symlinks, and prints the counts. The
//! parallel floor of a scan in the NFS benchmark (`bench/run.py --nfs`).
//!
//! ```text
//! pwalk [-j 8] DIR        # prints: dirs=N entries=N bytes=N
//! ```

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

struct Queue {
    state: Mutex<(Vec<PathBuf>, usize)>, // (dirs to list, dirs being listed)
    cv: Condvar,
}

fn main() {
    let mut jobs = 8usize;
    let mut dir = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "-j" {
            jobs = args
                .next()
                .and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
                .unwrap_or_else(|| usage());
        } else if dir.is_none() {
            dir = Some(PathBuf::from(a));
        } else {
            usage();
        }
    }
    let dir = dir.unwrap_or_else(|| usage());
    let q = Arc::new(Queue {
        state: Mutex::new((vec![dir], 0)),
        cv: Condvar::new(),
    });
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let errors = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..jobs.max(1))
        .map(|_| {
            let (q, counts, errors) = (q.clone(), counts.clone(), errors.clone());
            std::thread::spawn(move || {
                loop {
                    let d = {
                        let mut s = q.state.lock().unwrap();
                        loop {
                            if let Some(d) = s.0.pop() {
                                s.1 += 1;
                                break Some(d);
                            }
                            if s.1 == 0 {
                                break None;
                            }
                            s = q.cv.wait(s).unwrap();
                        }
                    };
                    let Some(d) = d else {
                        q.cv.notify_all();
                        return;
                    };
                    let mut found = Vec::new();
                    match fs::read_dir(&d) {
                        Ok(rd) => {
                            counts[0].fetch_add(1, Ordering::Relaxed);
                            for e in rd.flatten() {
                                // DirEntry::metadata is fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW).
                                match e.metadata() {
                                    Ok(m) => {
                                        counts[1].fetch_add(1, Ordering::Relaxed);
                                        counts[2].fetch_add(m.size(), Ordering::Relaxed);
                                        if m.is_dir() {
                                            found.push(e.path());
                                        }
                                    }
                                    Err(_) => {
                                        errors.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let mut s = q.state.lock().unwrap();
                    s.0.extend(found);
                    s.1 -= 1;
                    q.cv.notify_all();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    println!(
        "dirs={} entries={} bytes={} errors={}",
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
}

fn usage() -> ! {
    eprintln!("usage: pwalk [-j N] DIR");
    std::process::exit(2);
}
