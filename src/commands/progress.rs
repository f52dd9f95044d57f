//! Progress bars on stderr, drawn by a thread that polls the core's
//! counters ([`Counters`], `remove::Progress`) ten times a second. Only
//! when stderr is a terminal and neither `-q` nor `--format json` was
//! given (`CacheConfig::progress`); otherwise nothing is started at all.
//! A bar is cleared when its stage ends, so the lines printed after it
//! are the same as without one.

use super::ui::{count, millis};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use sstate_cache_management::progress::Counters;
use sstate_cache_management::remove;
use sstate_cache_management::units::{human_bytes, human_duration};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a bar shows at one moment.
pub struct View {
    pub msg: String,
    /// (done, total) when the total is known: a bar with an ETA.
    pub done_of: Option<(u64, u64)>,
}

/// A running bar; dropping it stops the thread and clears the line.
pub struct Bar {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const TICK: Duration = Duration::from_millis(100);

impl Bar {
    /// Nothing at all.
    pub fn none() -> Bar {
        Bar {
            stop: Arc::new(AtomicBool::new(false)),
            handle: None,
        }
    }

    /// A bar redrawn from `view(elapsed)` until dropped; nothing unless `on`.
    pub fn start(on: bool, mut view: impl FnMut(Duration) -> View + Send + 'static) -> Bar {
        if !on {
            return Bar::none();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let bar =
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
                let (spinner, meter) = styles();
                let mut metered = None;
                let started = Instant::now();
                loop {
                    let v = view(started.elapsed());
                    let has_total = v.done_of.is_some();
                    if metered != Some(has_total) {
                        bar.set_style(if has_total {
                            meter.clone()
                        } else {
                            spinner.clone()
                        });
                        metered = Some(has_total);
                    }
                    if let Some((done, total)) = v.done_of {
                        bar.set_length(total.max(done));
                        bar.set_position(done);
                    }
                    bar.set_message(v.msg);
                    bar.tick();
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::park_timeout(TICK);
                }
                bar.finish_and_clear();
            })
            .ok();
        Bar { stop, handle }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.store(true, Ordering::Relaxed);
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

fn styles() -> (ProgressStyle, ProgressStyle) {
    let eta = |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let secs = s.eta().as_secs();
        let _ = if s.pos() == 0 || s.elapsed() < Duration::from_secs(1) {
            write!(w, "…")
        } else {
            write!(w, "{}", human_duration(secs.max(1)))
        };
    };
    let spinner = ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let meter =
        ProgressStyle::with_template("{spinner} {msg} [{bar:24}] {percent:>3}% {eta_h} left")
            .map(|s| s.progress_chars("=> ").with_key("eta_h", eta))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    (spinner, meter)
}

fn rate(n: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 0.5 {
        String::new()
    } else {
        format!(", {}/s", count((n as f64 / secs) as u64))
    }
}

/// The scan: directories and entries so far, and how fast.
pub fn scanning(on: bool, dir: &std::path::Path, c: &Arc<Counters>) -> Bar {
    let c = Arc::clone(c);
    let dir = dir.display().to_string();
    Bar::start(on, move |elapsed| {
        let dirs = Counters::get(&c.scan_dirs);
        let known = Counters::get(&c.scan_dirs_known);
        let entries = Counters::get(&c.scan_entries);
        let mut msg = format!("Scanning {dir}: {} dirs", count(dirs));
        if known > 0 {
            let _ = write!(msg, " of {}", count(known));
        }
        let _ = write!(
            msg,
            ", {} entries listed{}",
            count(entries),
            rate(entries, elapsed)
        );
        View {
            msg,
            // A warm index knows its dirs: the new ones only add a few.
            done_of: (known > 0).then_some((dirs, known)),
        }
    })
}

/// Siginfo files read (the report reads them all).
pub fn reading_siginfo(on: bool, c: &Arc<Counters>) -> Bar {
    let c = Arc::clone(c);
    Bar::start(on, move |elapsed| {
        let read = Counters::get(&c.siginfo_read);
        let queued = Counters::get(&c.siginfo_queued);
        View {
            msg: format!(
                "Reading siginfo files: {} of {}{}",
                count(read),
                count(queued),
                rate(read, elapsed)
            ),
            done_of: (queued > 0).then_some((read, queued)),
        }
    })
}

/// Planning: the re-stats that make the plan exact and the siginfo files
/// that dependency retention reads, in whatever order the planner needs.
pub fn planning(on: bool, c: &Arc<Counters>) -> Bar {
    let c = Arc::clone(c);
    // (Counters are per process: count from where this stage starts.)
    let base = [
        Counters::get(&c.restat_done),
        Counters::get(&c.restat_queued),
        Counters::get(&c.siginfo_read),
        Counters::get(&c.siginfo_queued),
    ];
    Bar::start(on, move |elapsed| {
        let restat = Counters::get(&c.restat_done) - base[0];
        let restat_q = Counters::get(&c.restat_queued) - base[1];
        let read = Counters::get(&c.siginfo_read) - base[2];
        let read_q = Counters::get(&c.siginfo_queued) - base[3];
        let mut msg = String::from("Planning");
        let mut parts = Vec::new();
        if restat_q > 0 {
            parts.push(format!(
                "re-stat {} of {} entries",
                count(restat),
                count(restat_q)
            ));
        }
        if read_q > 0 {
            parts.push(format!("siginfo {} of {} read", count(read), count(read_q)));
        }
        if !parts.is_empty() {
            let _ = write!(msg, ": {}", parts.join(", "));
        }
        let _ = write!(msg, " ({})", millis(elapsed.as_millis() as u64));
        View {
            msg,
            done_of: (restat_q + read_q > 0).then_some((restat + read, restat_q + read_q)),
        }
    })
}

/// The removal: files and bytes against the plan's, with an ETA.
pub fn removing(
    on: bool,
    p: &Arc<remove::Progress>,
    files: u64,
    bytes: u64,
    verb: &'static str,
) -> Bar {
    let p = Arc::clone(p);
    Bar::start(on, move |_| {
        let done_files = p.files.load(Ordering::Relaxed);
        let done_bytes = p.bytes.load(Ordering::Relaxed);
        View {
            msg: format!(
                "{verb} {} of {} files, {} of {}",
                count(done_files),
                count(files),
                human_bytes(done_bytes),
                human_bytes(bytes)
            ),
            // By bytes when there are any (what the ETA is about), else files.
            done_of: Some(if bytes > 0 {
                (done_bytes, bytes)
            } else {
                (done_files, files)
            }),
        }
    })
}
