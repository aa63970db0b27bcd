//! Turns what the uptime monitors (issue #5) record into the alert
//! engine's [`MonitorStateChanged`] signals.
//!
//! Two sources:
//! - **state changes**, read in id order from the durable
//!   `monitor_events` table (a restart resumes after the last one
//!   handled), each becoming one signal;
//! - **certificate readings**: every `https` check stores when the peer
//!   certificate expires (`certificate_expires_at` in its details); a
//!   periodic pass turns each into a `TlsExpiring` reading, so
//!   "certificate expiring" rules need no condition written on the
//!   monitor, and a renewed certificate resolves them.

use chrono::{DateTime, Utc};
use lookout_alert::{MonitorCause, MonitorState, MonitorStateChanged};
use lookout_storage::{MonitorEvent, MonitorRecord};

/// The engine's view of a stored status. Paused and pending monitors say
/// nothing about health: they read as unknown, which ends down and
/// degraded alerts.
pub fn state_of(status: &str) -> MonitorState {
    match status {
        "up" => MonitorState::Up,
        "down" => MonitorState::Down,
        "degraded" => MonitorState::Degraded,
        _ => MonitorState::Unknown,
    }
}

/// The signal for one recorded state change of a monitor of `kind`.
pub fn signal_of(e: &MonitorEvent, kind: &str) -> MonitorStateChanged {
    let to = state_of(&e.to);
    let cause = if to == MonitorState::Up {
        MonitorCause::Recovered
    } else if kind == "heartbeat"
        && to == MonitorState::Down
        && lookout_monitor::heartbeat::is_lapse(&e.cause)
    {
        MonitorCause::HeartbeatMissed {
            expected_at: e.at,
            detail: Some(e.cause.clone()),
        }
    } else {
        MonitorCause::Error {
            message: e.cause.clone(),
        }
    };
    MonitorStateChanged {
        project_id: e.project_id,
        monitor_id: e.monitor_id,
        name: e.monitor_name.clone(),
        from: state_of(&e.from),
        to,
        cause,
        at: e.at,
    }
}

/// A certificate reading for a monitor whose last check saw one (its
/// state unchanged: `from` and `to` are its current state).
pub fn certificate_reading(m: &MonitorRecord, now: DateTime<Utc>) -> Option<MonitorStateChanged> {
    if m.paused {
        return None;
    }
    let details = m.state.last_details.as_ref()?;
    let expires_at: DateTime<Utc> = details
        .get("certificate_expires_at")?
        .as_str()?
        .parse()
        .ok()?;
    let state = state_of(&m.state.status);
    Some(MonitorStateChanged {
        project_id: m.project_id,
        monitor_id: m.id,
        name: m.name.clone(),
        from: state,
        to: state,
        cause: MonitorCause::TlsExpiring {
            expires_at,
            days_left: (expires_at - now).num_days(),
        },
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(from: &str, to: &str, cause: &str) -> MonitorEvent {
        MonitorEvent {
            id: 1,
            monitor_id: 7,
            project_id: 2,
            monitor_name: "nightly".into(),
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            from: from.into(),
            to: to.into(),
            cause: cause.into(),
            incident_id: None,
        }
    }

    #[test]
    fn heartbeat_lapses_are_missed_heartbeats_and_reported_failures_are_not() {
        let missed = event(
            "up",
            "down",
            "missed ping: expected by 2027-01-15 08:00:00 UTC (every 5 min, grace 1 min); last ping …",
        );
        let s = signal_of(&missed, "heartbeat");
        assert!(matches!(s.cause, MonitorCause::HeartbeatMissed { .. }));
        assert_eq!((s.from, s.to), (MonitorState::Up, MonitorState::Down));
        let failed = event("up", "down", "the job reported a failure");
        assert!(matches!(
            signal_of(&failed, "heartbeat").cause,
            MonitorCause::Error { .. }
        ));
        // The same words from an HTTP monitor are no heartbeat.
        assert!(matches!(
            signal_of(&missed, "http").cause,
            MonitorCause::Error { .. }
        ));
        let back = signal_of(&event("down", "up", "HTTP 200"), "http");
        assert_eq!(back.cause, MonitorCause::Recovered);
        let paused = signal_of(&event("down", "paused", "paused by a user"), "http");
        assert_eq!(paused.to, MonitorState::Unknown);
    }
}
