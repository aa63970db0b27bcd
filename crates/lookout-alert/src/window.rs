//! Sliding-window event counts in fixed buckets, kept only for the time a
//! rule looks back. Memory and work grow with active keys and the window,
//! never with the events stored in the database.

use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// Counts events per `bucket_secs`, sparse (only buckets with events).
#[derive(Debug, Clone)]
pub(crate) struct BucketCounter {
    bucket_secs: i64,
    /// `(bucket index, count)`, oldest first.
    buckets: VecDeque<(i64, u64)>,
}

impl BucketCounter {
    pub(crate) fn new(bucket_secs: i64) -> Self {
        BucketCounter {
            bucket_secs: bucket_secs.max(1),
            buckets: VecDeque::new(),
        }
    }

    fn index(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.bucket_secs)
    }

    /// Adds `n` events at `at`. Late events land in their own bucket.
    pub(crate) fn add(&mut self, at: DateTime<Utc>, n: u64) {
        let idx = self.index(at);
        match self.buckets.back_mut() {
            Some((last, c)) if *last == idx => *c += n,
            Some((last, _)) if *last > idx => {
                // Out of order (a slow envelope): find or insert its bucket.
                let pos = self.buckets.partition_point(|(i, _)| *i < idx);
                match self.buckets.get_mut(pos) {
                    Some((i, c)) if *i == idx => *c += n,
                    _ => self.buckets.insert(pos, (idx, n)),
                }
            }
            _ => self.buckets.push_back((idx, n)),
        }
    }

    /// Events in `[from, to)`, at bucket resolution.
    pub(crate) fn count(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
        let (a, b) = (self.index(from), self.index(to));
        self.buckets
            .iter()
            .filter(|(i, _)| *i >= a && *i < b)
            .map(|(_, c)| c)
            .sum()
    }

    /// Drops buckets older than `before`.
    pub(crate) fn prune(&mut self, before: DateTime<Utc>) {
        let idx = self.index(before);
        while self.buckets.front().is_some_and(|(i, _)| *i < idx) {
            self.buckets.pop_front();
        }
    }

    /// The bucket width in seconds.
    pub(crate) fn bucket_secs(&self) -> i64 {
        self.bucket_secs
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// The bucket width for a window: about 1/60 of it, at least 1 s, so a
/// window's edge is accurate to within 2 %.
pub(crate) fn bucket_for(window_secs: i64) -> i64 {
    (window_secs / 60).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn counts_within_the_window_and_prunes() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut c = BucketCounter::new(5);
        c.add(t0, 1);
        c.add(t0 + Duration::seconds(1), 2);
        c.add(t0 + Duration::seconds(60), 4);
        c.add(t0 + Duration::seconds(30), 8); // late
        assert_eq!(c.count(t0, t0 + Duration::seconds(65)), 15);
        assert_eq!(
            c.count(t0 + Duration::seconds(30), t0 + Duration::seconds(65)),
            12
        );
        c.prune(t0 + Duration::seconds(30));
        assert_eq!(c.count(t0, t0 + Duration::seconds(65)), 12);
        c.prune(t0 + Duration::seconds(120));
        assert!(c.is_empty());
    }
}
