//! Progress reporting: a small bar on standard error when it is a
//! terminal, nothing otherwise (logs and pipes stay clean). Hand-rolled
//! rather than `indicatif`: one line of output does not justify a crate.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Receives progress of a long operation.
pub trait Progress: Send + Sync {
    /// A new phase begins; `total` bytes are expected (0 = unknown).
    fn phase(&self, name: &str, total: u64);
    /// `done` bytes of the current phase are complete.
    fn update(&self, done: u64);
    /// The operation ended.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &str, _: u64) {}
    fn update(&self, _: u64) {}
    fn finish(&self) {}
}

/// A one-line bar on standard error, redrawn at most 10 times a second.
#[derive(Debug)]
pub struct TtyBar {
    state: Mutex<BarState>,
}

#[derive(Debug)]
struct BarState {
    name: String,
    total: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl TtyBar {
    /// A bar when standard error is a terminal; otherwise [`NoProgress`].
    pub fn for_stderr() -> Box<dyn Progress> {
        if std::io::stderr().is_terminal() {
            Box::new(TtyBar {
                state: Mutex::new(BarState {
                    name: String::new(),
                    total: 0,
                    started: Instant::now(),
                    drawn: None,
                }),
            })
        } else {
            Box::new(NoProgress)
        }
    }
}

impl Progress for TtyBar {
    fn phase(&self, name: &str, total: u64) {
        if let Ok(mut s) = self.state.lock() {
            if s.drawn.is_some() {
                eprintln!();
            }
            s.name = name.to_string();
            s.total = total;
            s.started = Instant::now();
            s.drawn = None;
        }
        self.update(0);
    }

    fn update(&self, done: u64) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.drawn
            .is_some_and(|d| d.elapsed() < Duration::from_millis(100))
            && done < s.total
        {
            return;
        }
        s.drawn = Some(Instant::now());
        let mib = done as f64 / 1048576.0;
        let rate = mib / s.started.elapsed().as_secs_f64().max(0.001);
        let line = if s.total > 0 {
            let frac = (done as f64 / s.total as f64).clamp(0.0, 1.0);
            let filled = (frac * 30.0) as usize;
            format!(
                "\r{:<12} [{}{}] {:>3.0}% {:.1} MiB {:.0} MiB/s ",
                s.name,
                "#".repeat(filled),
                "-".repeat(30 - filled),
                frac * 100.0,
                mib,
                rate
            )
        } else {
            format!("\r{:<12} {:.1} MiB {:.0} MiB/s ", s.name, mib, rate)
        };
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    fn finish(&self) {
        if let Ok(s) = self.state.lock()
            && s.drawn.is_some()
        {
            eprintln!();
        }
    }
}
