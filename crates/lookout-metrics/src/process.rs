//! Process statistics read from `/proc/self` (Linux). On other systems the
//! values are absent and the metrics are simply not exported.

use crate::Registry;

/// A snapshot of this process's resource use.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStats {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Virtual memory size in bytes.
    pub virtual_bytes: u64,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: f64,
    /// Number of open file descriptors.
    pub open_fds: u64,
    /// Soft limit of open file descriptors.
    pub max_fds: u64,
    /// Number of OS threads.
    pub threads: u64,
}

/// `/proc` reports CPU times in USER_HZ, which the Linux ABI fixes at 100.
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// Reads the current statistics; `None` where `/proc` is unavailable.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) is in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // `after` starts at field 3 (state); utime is field 14, stime 15,
        // num_threads 20, vsize 23 (1-based as in proc(5)).
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let utime = field(14)?;
        let stime = field(15)?;
        let threads = field(20).unwrap_or(0);
        let vsize = field(23).unwrap_or(0);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| {
                l.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
            })
            .unwrap_or(0);
        Some(ProcessStats {
            rss_bytes: rss_kb * 1024,
            virtual_bytes: vsize,
            cpu_seconds: (utime + stime) as f64 / USER_HZ,
            open_fds,
            max_fds,
            threads,
        })
    }
}

/// Registers the standard `process_*` metrics on `registry`.
pub fn register_process_metrics(registry: &Registry) {
    fn one(f: impl Fn(&ProcessStats) -> f64) -> Vec<(Vec<String>, f64)> {
        ProcessStats::read()
            .map(|s| vec![(vec![], f(&s))])
            .unwrap_or_default()
    }
    registry.gauge_fn(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        &[],
        || one(|s| s.rss_bytes as f64),
    );
    registry.gauge_fn(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        &[],
        || one(|s| s.virtual_bytes as f64),
    );
    registry.counter_fn(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        &[],
        || one(|s| s.cpu_seconds),
    );
    registry.gauge_fn(
        "process_open_fds",
        "Number of open file descriptors.",
        &[],
        || one(|s| s.open_fds as f64),
    );
    registry.gauge_fn(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        &[],
        || one(|s| s.max_fds as f64),
    );
    registry.gauge_fn(
        "process_threads",
        "Number of OS threads in the process.",
        &[],
        || one(|s| s.threads as f64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_own_process() {
        let s = ProcessStats::read().expect("/proc is readable on linux");
        assert!(s.rss_bytes > 0);
        assert!(s.open_fds >= 3);
        assert!(s.threads >= 1);
    }
}
