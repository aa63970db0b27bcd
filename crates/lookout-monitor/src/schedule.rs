//! When checks run: the due queue that spreads active checks with jitter,
//! and cron schedules (with a time zone) for heartbeats. Pure: the caller
//! passes the time in.

use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// A cron expression bound to a time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    tz: chrono_tz::Tz,
    /// The expression as written.
    pub expr: String,
}

const FIELD_NAMES: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day of month",
    "month",
    "day of week",
];

impl CronSchedule {
    /// Parses a 5-field (minute hour dom month dow) or 6-field (with
    /// seconds first) expression, or a nickname such as `@daily`. Errors
    /// carry the 1-based position of the offending field.
    pub fn parse(expr: &str, tz: chrono_tz::Tz) -> Result<CronSchedule, (usize, String)> {
        let t = expr.trim();
        if t.is_empty() {
            return Err((1, "the cron expression is empty".into()));
        }
        if t.len() > 200 {
            return Err((
                201,
                "the cron expression is longer than 200 characters".into(),
            ));
        }
        let build = |s: &str| croner::Cron::new(s).with_seconds_optional().parse();
        match build(t) {
            Ok(cron) => {
                // An expression that never fires (31 February) is an error too.
                if cron
                    .find_next_occurrence(&Utc::now().with_timezone(&tz), false)
                    .is_err()
                {
                    return Err((1, "this cron expression never fires".into()));
                }
                Ok(CronSchedule {
                    cron,
                    tz,
                    expr: t.to_string(),
                })
            }
            Err(e) => {
                if t.starts_with('@') {
                    return Err((
                        1,
                        format!(
                            "unknown nickname `{t}`: use @yearly, @monthly, @weekly, @daily or @hourly"
                        ),
                    ));
                }
                // Find the field at fault: parse each with the others wild.
                let mut fields = Vec::new();
                let mut in_field = false;
                for (i, c) in t.char_indices() {
                    if c.is_whitespace() {
                        in_field = false;
                    } else if !in_field {
                        in_field = true;
                        fields.push(i);
                    }
                }
                let n = fields.len();
                if n != 5 && n != 6 {
                    return Err((
                        1,
                        format!(
                            "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; this one has {n}"
                        ),
                    ));
                }
                let words: Vec<&str> = t.split_whitespace().collect();
                for (i, start) in fields.iter().enumerate() {
                    let probe: Vec<&str> = (0..n)
                        .map(|j| if j == i { words[j] } else { "*" })
                        .collect();
                    if let Err(fe) = build(&probe.join(" ")) {
                        let name = FIELD_NAMES[i + 6 - n];
                        let col = t[..*start].chars().count() + 1;
                        return Err((
                            col,
                            format!("invalid {name} field `{}`: {}", words[i], describe(&fe)),
                        ));
                    }
                }
                Err((1, describe(&e)))
            }
        }
    }

    /// The first firing strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

fn describe(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    match e {
        E::InvalidPattern(m) => m.clone(),
        E::EmptyPattern => "the expression is empty".into(),
        other => format!("{other:?}"),
    }
}

/// SplitMix64: a fixed, well-spread hash so a monitor keeps its phase
/// across restarts.
fn spread(id: i64) -> u64 {
    let mut z = (id as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first due time of monitor `id` checked every `interval_ms`: a
/// fixed offset within one interval, so that 1,000 monitors added at once
/// do not fire in the same second.
pub fn first_due(id: i64, interval_ms: i64, now_ms: i64) -> i64 {
    let interval = interval_ms.max(1) as u64;
    now_ms + (spread(id) % interval) as i64
}

/// The due time after a check that was due at `due_ms` and finished at
/// `now_ms`: keeps the phase, but never schedules into the past.
pub fn next_due(due_ms: i64, interval_ms: i64, now_ms: i64) -> i64 {
    let next = due_ms + interval_ms.max(1);
    if next <= now_ms {
        now_ms + interval_ms.clamp(1, 1000)
    } else {
        next
    }
}

/// Monitors ordered by due time. Each monitor is in the queue at most once.
#[derive(Debug, Default)]
pub struct DueQueue {
    heap: BinaryHeap<Reverse<(i64, i64, u64)>>,
    current: HashMap<i64, (i64, u64)>,
    generation: u64,
}

impl DueQueue {
    /// Schedules (or reschedules) `id` at `due_ms`.
    pub fn insert(&mut self, id: i64, due_ms: i64) {
        self.generation += 1;
        self.current.insert(id, (due_ms, self.generation));
        self.heap.push(Reverse((due_ms, id, self.generation)));
    }
    /// Removes `id`.
    pub fn remove(&mut self, id: i64) {
        self.current.remove(&id);
    }
    /// When `id` is due, if queued.
    pub fn due_of(&self, id: i64) -> Option<i64> {
        self.current.get(&id).map(|(d, _)| *d)
    }
    /// Number of queued monitors.
    pub fn len(&self) -> usize {
        self.current.len()
    }
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
    /// Takes every monitor due at or before `now_ms`, with its due time,
    /// earliest first. Taken monitors leave the queue until reinserted.
    pub fn pop_due(&mut self, now_ms: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        while let Some(Reverse((due, id, generation))) = self.heap.peek().copied() {
            if due > now_ms {
                break;
            }
            self.heap.pop();
            if self.current.get(&id) == Some(&(due, generation)) {
                self.current.remove(&id);
                out.push((id, due));
            }
        }
        out
    }
    /// The earliest due time.
    pub fn next_due(&mut self) -> Option<i64> {
        while let Some(Reverse((due, id, generation))) = self.heap.peek().copied() {
            if self.current.get(&id) == Some(&(due, generation)) {
                return Some(due);
            }
            self.heap.pop();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cron_in_a_time_zone() {
        let s = CronSchedule::parse("0 3 * * *", chrono_tz::Europe::Paris).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        // 03:00 in Paris in winter is 02:00 UTC.
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 1, 11, 2, 0, 0).unwrap())
        );
        let s = CronSchedule::parse("*/15 * * * *", chrono_tz::UTC).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 1, 10, 12, 15, 0).unwrap())
        );
        assert!(CronSchedule::parse("@daily", chrono_tz::UTC).is_ok());
    }

    #[test]
    fn cron_errors_point_at_the_field() {
        let (p, r) = CronSchedule::parse("0 3 * * mon-xyz", chrono_tz::UTC).unwrap_err();
        assert_eq!(p, 9, "{r}");
        assert!(r.contains("day of week"), "{r}");
        let (p, r) = CronSchedule::parse("61 * * * *", chrono_tz::UTC).unwrap_err();
        assert_eq!(p, 1);
        assert!(r.contains("minute"), "{r}");
        let (_, r) = CronSchedule::parse("* * *", chrono_tz::UTC).unwrap_err();
        assert!(r.contains("5 fields"), "{r}");
        let (_, r) = CronSchedule::parse("0 0 31 2 *", chrono_tz::UTC).unwrap_err();
        assert!(r.contains("never"), "{r}");
    }

    #[test]
    fn jitter_spreads_a_thousand_monitors_over_the_interval() {
        let interval = 30_000;
        let mut per_second = [0u32; 30];
        for id in 1..=1000 {
            let d = first_due(id, interval, 0);
            assert!((0..interval).contains(&d));
            per_second[(d / 1000) as usize] += 1;
        }
        let max = *per_second.iter().max().unwrap();
        assert!(max < 60, "at most ~2x the mean (33) per second, got {max}");
        assert_eq!(
            first_due(7, interval, 0),
            first_due(7, interval, 0),
            "stable"
        );
    }

    #[test]
    fn due_queue_pops_in_order_and_reschedules() {
        let mut q = DueQueue::default();
        q.insert(1, 100);
        q.insert(2, 50);
        q.insert(3, 200);
        q.insert(1, 300); // rescheduled: the old entry is stale
        assert_eq!(q.pop_due(150), vec![(2, 50)]);
        assert_eq!(q.next_due(), Some(200));
        q.remove(3);
        assert_eq!(q.pop_due(1000), vec![(1, 300)]);
        assert!(q.is_empty());
    }

    #[test]
    fn next_due_keeps_phase_and_never_goes_back() {
        assert_eq!(next_due(1000, 30_000, 1500), 31_000);
        assert_eq!(next_due(1000, 30_000, 40_000), 41_000);
    }
}
