//! Which backups a retention policy keeps: the newest backup in each of the
//! last `hourly` hours that have one, the last `daily` days and the last
//! `weekly` ISO weeks (the rule `restic forget --keep-hourly …` uses). A
//! backup kept by any rule stays. Pure, so it is tested without files.

use chrono::{DateTime, Datelike, Timelike, Utc};
use std::collections::BTreeSet;

/// How many of each period to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Hours.
    pub hourly: u32,
    /// Days.
    pub daily: u32,
    /// ISO weeks.
    pub weekly: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            hourly: 24,
            daily: 30,
            weekly: 12,
        }
    }
}

/// A period bucket: backups with equal keys fall in the same period.
type Bucket = fn(&DateTime<Utc>) -> (i32, u32, u32);

/// The names to keep among `backups` (`(name, created_at)`, any order).
pub fn keep(backups: &[(String, DateTime<Utc>)], policy: &Policy) -> BTreeSet<String> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut kept = BTreeSet::new();
    let rules: [(u32, Bucket); 3] = [
        (policy.hourly, |t| (t.year(), t.ordinal(), t.hour())),
        (policy.daily, |t| (t.year(), t.ordinal(), 0)),
        (policy.weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week(), 0)
        }),
    ];
    for (count, bucket) in rules {
        let mut last = None;
        let mut n = 0;
        for (name, at) in &sorted {
            if n >= count {
                break;
            }
            let b = bucket(at);
            if last != Some(b) {
                last = Some(b);
                n += 1;
                kept.insert(name.clone());
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    #[test]
    fn keeps_the_newest_per_bucket_up_to_each_count() {
        // Every 30 minutes for 3 days (2026-03-01 is a Sunday).
        let mut b = Vec::new();
        for d in 1..=3 {
            for h in 0..24 {
                for m in [0, 30] {
                    b.push((format!("b-{d:02}-{h:02}-{m:02}"), at(d, h, m)));
                }
            }
        }
        let k = keep(
            &b,
            &Policy {
                hourly: 3,
                daily: 2,
                weekly: 2,
            },
        );
        let expected: BTreeSet<String> = [
            "b-03-23-30", // newest: hour, day and week
            "b-03-22-30",
            "b-03-21-30",
            "b-02-23-30", // newest of the previous day
            "b-01-23-30", // newest of the previous ISO week (Sunday 1 March)
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(k, expected);
    }

    #[test]
    fn zero_counts_keep_nothing_and_empty_input_is_fine() {
        let b = vec![("a".to_string(), at(1, 0, 0))];
        let none = Policy {
            hourly: 0,
            daily: 0,
            weekly: 0,
        };
        assert!(keep(&b, &none).is_empty());
        assert!(keep(&[], &Policy::default()).is_empty());
        assert_eq!(keep(&b, &Policy::default()).len(), 1);
    }
}
