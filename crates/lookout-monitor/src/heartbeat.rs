//! Heartbeat and cron evaluation: given when pings arrived, is the monitor
//! late, overrunning, or fine? Pure: the time is passed in.
//!
//! | what happened | verdict |
//! |---|---|
//! | no ping by the expected time plus grace | missed (down) |
//! | a run in progress longer than max runtime | overrun (down) |
//! | `/fail` or an `error` check-in | down (handled by the caller) |

use crate::spec::Compiled;
use chrono::{DateTime, Duration, Utc};

/// Grace after the expected time when none is set (Sentry's default
/// check-in margin is one minute).
pub const DEFAULT_GRACE_SECS: u32 = 60;

/// When a heartbeat monitor last heard anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PingTimes {
    /// When the monitor was created or resumed (the schedule starts there).
    pub since: Option<DateTime<Utc>>,
    /// The last finished ping (success or failure).
    pub last_ping: Option<DateTime<Utc>>,
    /// The last `/start` or `in_progress` check-in.
    pub last_start: Option<DateTime<Utc>>,
}

/// How a missed-ping cause begins.
const MISSED: &str = "missed ping: ";
/// What an overrun cause says.
const OVERRUN: &str = " still in progress after its max runtime of ";

/// Whether a state change's cause (in words) is a heartbeat lapse (a
/// missed ping or an overrun run) rather than a failure the job reported.
pub fn is_lapse(cause: &str) -> bool {
    cause.starts_with(MISSED) || cause.contains(OVERRUN)
}

/// A failure the clock has revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lapse {
    /// The moment it became a failure (identifies it: record once).
    pub deadline: DateTime<Utc>,
    /// The cause in words.
    pub cause: String,
}

fn human(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 && s >= 86_400 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s >= 3600 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// When the next ping is expected after `base`, and the deadline.
pub fn expected_after(c: &Compiled, base: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let grace = Duration::seconds(c.spec.grace_secs.unwrap_or(DEFAULT_GRACE_SECS) as i64);
    let expected = match &c.cron {
        Some(cron) => cron.next_after(base)?,
        None => base + Duration::seconds(c.spec.interval_secs as i64),
    };
    Some((expected, expected + grace))
}

/// Whether the monitor has lapsed at `now`.
pub fn evaluate(c: &Compiled, t: &PingTimes, now: DateTime<Utc>) -> Option<Lapse> {
    let in_progress = match (t.last_start, t.last_ping) {
        (Some(s), Some(p)) => s > p,
        (Some(_), None) => true,
        _ => false,
    };
    if in_progress && let (Some(start), Some(max)) = (t.last_start, c.spec.max_runtime_secs) {
        let deadline = start + Duration::seconds(max as i64);
        if now > deadline {
            return Some(Lapse {
                deadline,
                cause: format!(
                    "run started at {}{OVERRUN}{}",
                    start.format("%Y-%m-%d %H:%M:%S UTC"),
                    human(max as i64)
                ),
            });
        }
        // A run in progress is the ping that was expected.
        return None;
    }
    let base = [t.since, t.last_ping, t.last_start]
        .into_iter()
        .flatten()
        .max()?;
    let (expected, deadline) = expected_after(c, base)?;
    if now <= deadline {
        return None;
    }
    let schedule = match &c.cron {
        Some(cron) => format!("cron `{}`", cron.expr),
        None => format!("every {}", human(c.spec.interval_secs as i64)),
    };
    let last = match t.last_ping.or(t.last_start) {
        Some(p) => format!("last ping {}", p.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "no ping ever received".to_string(),
    };
    Some(Lapse {
        deadline,
        cause: format!(
            "{MISSED}expected by {} ({schedule}, grace {}); {last}",
            expected.format("%Y-%m-%d %H:%M:%S UTC"),
            human(c.spec.grace_secs.unwrap_or(DEFAULT_GRACE_SECS) as i64)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::spec::{Kind, MonitorSpec};
    use chrono::TimeZone;

    fn interval(secs: u32, grace: u32) -> Compiled {
        let mut s = MonitorSpec::new(Kind::Heartbeat);
        s.interval_secs = secs;
        s.grace_secs = Some(grace);
        s.max_runtime_secs = Some(600);
        s.compile().unwrap()
    }

    #[test]
    fn on_time_late_and_never() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        let c = interval(300, 60);
        let mut times = PingTimes {
            since: Some(t0),
            ..Default::default()
        };
        // Never pinged: fine until 5 min + 1 min grace.
        clock.advance(Duration::seconds(359));
        assert_eq!(evaluate(&c, &times, clock.now()), None);
        clock.advance(Duration::seconds(2));
        let lapse = evaluate(&c, &times, clock.now()).expect("never pinged: missed");
        assert!(
            lapse.cause.contains("no ping ever received"),
            "{}",
            lapse.cause
        );
        assert_eq!(lapse.deadline, t0 + Duration::seconds(360));
        // On time: a ping every 5 minutes keeps it fine.
        for _ in 0..5 {
            times.last_ping = Some(clock.now());
            clock.advance(Duration::seconds(300));
            assert_eq!(evaluate(&c, &times, clock.now()), None);
        }
        // Late: 7 minutes without a ping.
        clock.advance(Duration::seconds(61));
        let lapse = evaluate(&c, &times, clock.now()).expect("late");
        assert!(lapse.cause.contains("every 5 min"), "{}", lapse.cause);
        assert!(lapse.cause.contains("grace 1 min"), "{}", lapse.cause);
        assert!(is_lapse(&lapse.cause), "{}", lapse.cause);
        assert!(!is_lapse("job reported failure (exit 1)"));
    }

    #[test]
    fn a_run_in_progress_past_max_runtime_is_down() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let c = interval(3600, 60);
        let times = PingTimes {
            since: Some(t0),
            last_ping: None,
            last_start: Some(t0),
        };
        assert_eq!(evaluate(&c, &times, t0 + Duration::seconds(599)), None);
        let lapse = evaluate(&c, &times, t0 + Duration::seconds(601)).unwrap();
        assert!(
            lapse.cause.contains("max runtime of 10 min"),
            "{}",
            lapse.cause
        );
        assert!(is_lapse(&lapse.cause), "{}", lapse.cause);
        // Finished in time: fine.
        let done = PingTimes {
            last_ping: Some(t0 + Duration::seconds(30)),
            ..times
        };
        assert_eq!(evaluate(&c, &done, t0 + Duration::seconds(700)), None);
    }

    #[test]
    fn cron_schedule_with_time_zone_and_grace() {
        let mut s = MonitorSpec::new(Kind::Heartbeat);
        s.cron = Some("0 3 * * *".into());
        s.timezone = Some("America/New_York".into());
        s.grace_secs = Some(600);
        let c = s.compile().unwrap();
        // Last ping at the 03:00 New York run on 1 March (08:00 UTC).
        let ping = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 5).unwrap();
        let times = PingTimes {
            since: Some(ping),
            last_ping: Some(ping),
            last_start: None,
        };
        // Next run 2 March 03:00 EST = 08:00 UTC, deadline 08:10 UTC.
        let before = Utc.with_ymd_and_hms(2026, 3, 2, 8, 9, 0).unwrap();
        assert_eq!(evaluate(&c, &times, before), None);
        let after = Utc.with_ymd_and_hms(2026, 3, 2, 8, 11, 0).unwrap();
        let lapse = evaluate(&c, &times, after).unwrap();
        assert_eq!(
            lapse.deadline,
            Utc.with_ymd_and_hms(2026, 3, 2, 8, 10, 0).unwrap()
        );
        assert!(lapse.cause.contains("cron `0 3 * * *`"), "{}", lapse.cause);
    }
}
