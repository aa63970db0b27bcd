//! Per-project event quotas: a fixed one-minute window per project, kept in
//! memory. The clock is passed in, so tests drive time.

use parking_lot::Mutex;
use std::collections::HashMap;

/// Quota bookkeeping for all projects.
#[derive(Debug, Default)]
pub struct Quotas {
    windows: Mutex<HashMap<i64, (i64, u64)>>, // project -> (minute, used)
}

/// The outcome of a quota check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Within the quota; the units were consumed.
    Allowed,
    /// Over the quota: retry after this many seconds.
    Exceeded {
        /// Seconds until the next window.
        retry_after: u64,
    },
}

impl Quotas {
    /// Tries to consume `units` for `project` at `now_ms` under `limit`
    /// units per minute. All or nothing.
    pub fn take(&self, project: i64, limit: u32, units: u64, now_ms: i64) -> QuotaDecision {
        let minute = now_ms.div_euclid(60_000);
        let mut w = self.windows.lock();
        let entry = w.entry(project).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 + units > u64::from(limit) {
            let next = (minute + 1) * 60_000;
            let retry_after = ((next - now_ms) as u64).div_ceil(1000).max(1);
            return QuotaDecision::Exceeded { retry_after };
        }
        entry.1 += units;
        QuotaDecision::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_resets_each_minute() {
        let q = Quotas::default();
        let t0 = 60_000 * 1000 + 15_000; // 15 s into a minute
        for _ in 0..3 {
            assert_eq!(q.take(1, 3, 1, t0), QuotaDecision::Allowed);
        }
        assert_eq!(
            q.take(1, 3, 1, t0),
            QuotaDecision::Exceeded { retry_after: 45 }
        );
        assert_eq!(q.take(2, 3, 1, t0), QuotaDecision::Allowed, "per project");
        assert_eq!(
            q.take(1, 3, 1, t0 + 45_000),
            QuotaDecision::Allowed,
            "next minute"
        );
        assert_eq!(
            q.take(1, 3, 5, t0 + 45_000),
            QuotaDecision::Exceeded { retry_after: 60 }
        );
    }
}
