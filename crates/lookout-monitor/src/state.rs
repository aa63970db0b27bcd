//! The monitor state machine: up, down, degraded and paused (plus pending,
//! before the first verdict). Pure: it sees observations, never the clock.
//!
//! - Going **down** takes `failure_threshold` consecutive failed checks
//!   (default 3, as in Gatus).
//! - Recovering takes `success_threshold` consecutive good checks (default
//!   2). A degraded answer counts as "answered" when leaving down (down →
//!   degraded), and as a failure of health when leaving up (up → degraded
//!   after `failure_threshold` degraded answers).
//! - The first verdict of a pending monitor needs one good check (up) or
//!   the thresholds (down, degraded).
//! - Paused monitors ignore observations.

use serde::{Deserialize, Serialize};

/// A monitor's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No verdict yet.
    Pending,
    /// Working.
    Up,
    /// Answering, with a failing part.
    Degraded,
    /// Not working.
    Down,
    /// Not checked, by choice.
    Paused,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }
    /// Parses a stored name (unknown: pending).
    pub fn parse(s: &str) -> Status {
        match s {
            "up" => Status::Up,
            "degraded" => Status::Degraded,
            "down" => Status::Down,
            "paused" => Status::Paused,
            _ => Status::Pending,
        }
    }
    /// Whether this state opens an incident.
    pub fn is_incident(self) -> bool {
        matches!(self, Status::Down | Status::Degraded)
    }
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Observation {
    /// Good.
    Up,
    /// Answered, partly failing.
    Degraded,
    /// Failed.
    Down,
}

impl Observation {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Observation::Up => "up",
            Observation::Degraded => "degraded",
            Observation::Down => "down",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Observation {
        match s {
            "up" => Observation::Up,
            "degraded" => Observation::Degraded,
            _ => Observation::Down,
        }
    }
}

/// A change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: Status,
    /// After.
    pub to: Status,
}

/// The state and the counters that drive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Current state.
    pub status: Status,
    /// Consecutive failed checks.
    pub failures: u32,
    /// Consecutive degraded checks.
    pub degraded: u32,
    /// Consecutive good checks.
    pub successes: u32,
    /// Failures needed to go down.
    pub failure_threshold: u32,
    /// Successes needed to recover.
    pub success_threshold: u32,
}

impl Machine {
    /// A pending monitor with these thresholds (each at least 1).
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Machine {
        Machine {
            status: Status::Pending,
            failures: 0,
            degraded: 0,
            successes: 0,
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
        }
    }

    /// Applies one observation; returns the transition if the state changed.
    pub fn observe(&mut self, obs: Observation) -> Option<Transition> {
        if self.status == Status::Paused {
            return None;
        }
        let from = self.status;
        match obs {
            Observation::Down => {
                self.failures += 1;
                self.degraded = 0;
                self.successes = 0;
                if self.failures >= self.failure_threshold {
                    self.status = Status::Down;
                }
            }
            Observation::Degraded => {
                self.degraded += 1;
                self.failures = 0;
                self.successes = 0;
                match self.status {
                    Status::Down if self.degraded >= self.success_threshold => {
                        self.status = Status::Degraded
                    }
                    Status::Up | Status::Pending if self.degraded >= self.failure_threshold => {
                        self.status = Status::Degraded
                    }
                    _ => {}
                }
            }
            Observation::Up => {
                self.successes += 1;
                self.failures = 0;
                self.degraded = 0;
                match self.status {
                    Status::Pending => self.status = Status::Up,
                    Status::Down | Status::Degraded if self.successes >= self.success_threshold => {
                        self.status = Status::Up
                    }
                    _ => {}
                }
            }
        }
        (self.status != from).then_some(Transition {
            from,
            to: self.status,
        })
    }

    /// Pauses or resumes; returns the transition.
    pub fn set_paused(&mut self, paused: bool) -> Option<Transition> {
        let from = self.status;
        if paused && from != Status::Paused {
            self.status = Status::Paused;
        } else if !paused && from == Status::Paused {
            self.status = Status::Pending;
        } else {
            return None;
        }
        self.failures = 0;
        self.degraded = 0;
        self.successes = 0;
        Some(Transition {
            from,
            to: self.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Observation::*;

    #[test]
    fn down_takes_n_failures_and_recovery_takes_m_successes() {
        let mut m = Machine::new(3, 2);
        assert_eq!(
            m.observe(Up),
            Some(Transition {
                from: Status::Pending,
                to: Status::Up
            })
        );
        assert_eq!(m.observe(Down), None);
        assert_eq!(m.observe(Down), None);
        assert_eq!(
            m.observe(Down),
            Some(Transition {
                from: Status::Up,
                to: Status::Down
            })
        );
        assert_eq!(m.observe(Down), None, "already down");
        assert_eq!(m.observe(Up), None, "one success is not enough");
        assert_eq!(
            m.observe(Up),
            Some(Transition {
                from: Status::Down,
                to: Status::Up
            })
        );
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut m = Machine::new(3, 2);
        m.observe(Up);
        m.observe(Down);
        m.observe(Down);
        m.observe(Up);
        m.observe(Down);
        m.observe(Down);
        assert_eq!(m.status, Status::Up);
    }

    #[test]
    fn degraded_transitions() {
        let mut m = Machine::new(2, 2);
        m.observe(Up);
        assert_eq!(m.observe(Degraded), None);
        assert_eq!(m.observe(Degraded).map(|t| t.to), Some(Status::Degraded));
        m.observe(Down);
        assert_eq!(m.observe(Down).map(|t| t.to), Some(Status::Down));
        m.observe(Degraded);
        assert_eq!(m.observe(Degraded).map(|t| t.to), Some(Status::Degraded));
        m.observe(Up);
        assert_eq!(m.observe(Up).map(|t| t.to), Some(Status::Up));
    }

    #[test]
    fn pending_needs_the_threshold_to_go_down() {
        let mut m = Machine::new(3, 2);
        m.observe(Down);
        m.observe(Down);
        assert_eq!(m.status, Status::Pending);
        assert_eq!(m.observe(Down).map(|t| t.to), Some(Status::Down));
    }

    #[test]
    fn paused_ignores_observations() {
        let mut m = Machine::new(1, 1);
        m.observe(Up);
        assert_eq!(m.set_paused(true).map(|t| t.to), Some(Status::Paused));
        assert_eq!(m.observe(Down), None);
        assert_eq!(m.set_paused(false).map(|t| t.to), Some(Status::Pending));
        assert_eq!(m.observe(Down).map(|t| t.to), Some(Status::Down));
    }
}
