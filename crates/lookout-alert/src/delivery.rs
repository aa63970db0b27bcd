//! The pure half of delivery: when to retry (exponential backoff with full
//! jitter, capped in attempts and age) and whether a channel may be tried
//! (a circuit breaker per channel). The outbox worker owns the I/O and the
//! randomness; it passes both in.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Retry policy for one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry waits up to this long.
    pub base: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
    /// Give up after this many attempts.
    pub max_attempts: u32,
    /// Give up when the notification is older than this.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::seconds(2),
            max_delay: Duration::minutes(10),
            max_attempts: 12,
            max_age: Duration::hours(6),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Stop: the attempts or the age are used up.
    GiveUp,
}

impl RetryPolicy {
    /// After attempt number `attempts` (1 = the first) failed at `now`:
    /// full jitter, a uniform wait in `[0, min(max_delay, base·2^(n-1))]`.
    /// `unit` is a random number in `[0, 1)` from the caller; `at_least` is
    /// a wait the server asked for (`retry_after`), which wins if longer.
    pub fn after_failure(
        &self,
        attempts: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        unit: f64,
        at_least: Option<Duration>,
    ) -> RetryDecision {
        if attempts >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let exp = attempts.saturating_sub(1).min(30);
        let ceiling_ms = self
            .base
            .num_milliseconds()
            .saturating_mul(1i64 << exp)
            .min(self.max_delay.num_milliseconds());
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut wait = Duration::milliseconds((ceiling_ms as f64 * unit) as i64);
        if let Some(min) = at_least
            && min > wait
        {
            wait = min;
        }
        let at = now + wait;
        if at - created_at > self.max_age {
            RetryDecision::GiveUp
        } else {
            RetryDecision::RetryAt(at)
        }
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Sending normally.
    Closed,
    /// Too many failures: nothing is sent until the probe time.
    Open,
    /// One probe is allowed; its outcome closes or reopens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
    /// The value of the `lookout_alert_channel_circuit_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// A circuit breaker for one channel. Persisted by the outbox worker so
/// that a restart does not hammer a dead endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    /// State.
    pub state: BreakerState,
    /// Consecutive failures.
    pub failures: u32,
    /// When it opened (or reopened).
    pub opened_at: Option<DateTime<Utc>>,
}

/// When a breaker opens and probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// How long it stays open before a probe.
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_threshold: 5,
            open_for: Duration::minutes(1),
        }
    }
}

/// How a breaker changed, for the "channel failing" signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerTransition {
    /// No change worth telling.
    None,
    /// It opened: the channel is failing.
    Opened,
    /// It closed after being open: the channel works again.
    Closed,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            state: BreakerState::Closed,
            failures: 0,
            opened_at: None,
        }
    }
}

impl CircuitBreaker {
    /// Whether a send may be tried at `now`; an open breaker whose time is
    /// up turns half-open and lets this one attempt through as the probe.
    pub fn try_acquire(&mut self, policy: &BreakerPolicy, now: DateTime<Utc>) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen => false,
            BreakerState::Open => {
                if self.opened_at.is_none_or(|t| now - t >= policy.open_for) {
                    self.state = BreakerState::HalfOpen;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// When the next probe is allowed (for an open breaker).
    pub fn probe_at(&self, policy: &BreakerPolicy) -> Option<DateTime<Utc>> {
        match self.state {
            BreakerState::Open => self.opened_at.map(|t| t + policy.open_for),
            _ => None,
        }
    }

    /// A send succeeded.
    pub fn on_success(&mut self) -> BreakerTransition {
        let was_open = self.state != BreakerState::Closed;
        *self = CircuitBreaker::default();
        if was_open {
            BreakerTransition::Closed
        } else {
            BreakerTransition::None
        }
    }

    /// A send failed at `now`.
    pub fn on_failure(&mut self, policy: &BreakerPolicy, now: DateTime<Utc>) -> BreakerTransition {
        self.failures = self.failures.saturating_add(1);
        match self.state {
            BreakerState::HalfOpen => {
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
                BreakerTransition::None
            }
            BreakerState::Closed if self.failures >= policy.failure_threshold => {
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
                BreakerTransition::Opened
            }
            _ => BreakerTransition::None,
        }
    }
}

/// Telegram's limits: about one message per second per chat and twenty
/// per minute per group (chat ids below zero are groups and channels);
/// a 429's `retry_after` blocks the chat until then. [`reserve`] books the
/// next slot and says when it is; the sender waits until then.
///
/// [`reserve`]: ChatRateLimiter::reserve
#[derive(Debug, Default)]
pub struct ChatRateLimiter {
    chats: std::collections::HashMap<String, ChatSlots>,
}

#[derive(Debug, Default)]
struct ChatSlots {
    /// Send times booked in the last minute, oldest first.
    recent: std::collections::VecDeque<DateTime<Utc>>,
    /// Nothing before this (from a 429).
    blocked_until: Option<DateTime<Utc>>,
}

impl ChatRateLimiter {
    /// Books a send to `chat` at the earliest allowed time at or after
    /// `now`, and returns that time.
    pub fn reserve(&mut self, chat: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let group = chat.starts_with('-');
        let slots = self.chats.entry(chat.to_string()).or_default();
        let mut at = now;
        if let Some(b) = slots.blocked_until
            && b > at
        {
            at = b;
        }
        if let Some(last) = slots.recent.back()
            && *last + Duration::seconds(1) > at
        {
            at = *last + Duration::seconds(1);
        }
        if group {
            // The 20th send back must be a minute old.
            while slots
                .recent
                .front()
                .is_some_and(|t| *t + Duration::minutes(1) <= at - Duration::minutes(1))
            {
                slots.recent.pop_front();
            }
            if slots.recent.len() >= 20 {
                let nth = slots.recent[slots.recent.len() - 20];
                if nth + Duration::minutes(1) > at {
                    at = nth + Duration::minutes(1);
                }
            }
        }
        slots.recent.push_back(at);
        while slots.recent.len() > 20 {
            slots.recent.pop_front();
        }
        at
    }

    /// The server said to wait: nothing goes to `chat` before `until`.
    pub fn block(&mut self, chat: &str, until: DateTime<Utc>) {
        let slots = self.chats.entry(chat.to_string()).or_default();
        if slots.blocked_until.is_none_or(|b| b < until) {
            slots.blocked_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_ceiling() {
        let p = RetryPolicy::default();
        // unit = 1 gives the ceiling: 2 s, 4 s, 8 s … capped at 10 min.
        let waits: Vec<i64> = (1..=10)
            .map(|n| match p.after_failure(n, t(0), t(0), 1.0, None) {
                RetryDecision::RetryAt(at) => (at - t(0)).num_seconds(),
                RetryDecision::GiveUp => -1,
            })
            .collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 32, 64, 128, 256, 512, 600]);
        // unit = 0 may retry at once; 0.5 waits half the ceiling.
        assert_eq!(
            p.after_failure(3, t(0), t(0), 0.0, None),
            RetryDecision::RetryAt(t(0))
        );
        assert_eq!(
            p.after_failure(3, t(0), t(0), 0.5, None),
            RetryDecision::RetryAt(t(4))
        );
    }

    #[test]
    fn retry_after_wins_and_caps_give_up() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.after_failure(1, t(0), t(0), 0.1, Some(Duration::seconds(30))),
            RetryDecision::RetryAt(t(30))
        );
        assert_eq!(
            p.after_failure(12, t(0), t(0), 0.1, None),
            RetryDecision::GiveUp
        );
        assert_eq!(
            p.after_failure(2, t(0), t(6 * 3600), 0.5, None),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let p = BreakerPolicy {
            failure_threshold: 3,
            open_for: Duration::seconds(60),
        };
        let mut b = CircuitBreaker::default();
        assert!(b.try_acquire(&p, t(0)));
        assert_eq!(b.on_failure(&p, t(0)), BreakerTransition::None);
        assert_eq!(b.on_failure(&p, t(1)), BreakerTransition::None);
        assert_eq!(b.on_failure(&p, t(2)), BreakerTransition::Opened);
        assert_eq!(b.state, BreakerState::Open);
        assert!(!b.try_acquire(&p, t(30)));
        assert_eq!(b.probe_at(&p), Some(t(62)));
        // The probe goes through, a second caller waits for its outcome.
        assert!(b.try_acquire(&p, t(62)));
        assert_eq!(b.state, BreakerState::HalfOpen);
        assert!(!b.try_acquire(&p, t(62)));
        // The probe fails: open again, for another minute.
        assert_eq!(b.on_failure(&p, t(63)), BreakerTransition::None);
        assert!(!b.try_acquire(&p, t(100)));
        assert!(b.try_acquire(&p, t(123)));
        assert_eq!(b.on_success(), BreakerTransition::Closed);
        assert_eq!(b, CircuitBreaker::default());
        assert_eq!(b.on_success(), BreakerTransition::None);
    }

    #[test]
    fn telegram_limits_one_per_second_per_chat_and_twenty_per_minute_per_group() {
        let mut l = ChatRateLimiter::default();
        assert_eq!(l.reserve("42", t(0)), t(0));
        assert_eq!(l.reserve("42", t(0)), t(1));
        assert_eq!(l.reserve("42", t(0)), t(2));
        assert_eq!(l.reserve("7", t(0)), t(0), "chats are independent");
        // A group: 20 a minute, one a second.
        let times: Vec<DateTime<Utc>> = (0..25).map(|_| l.reserve("-100", t(0))).collect();
        assert_eq!(times[19], t(19));
        assert_eq!(
            times[20],
            t(60),
            "the 21st waits for the first to be a minute old"
        );
        assert_eq!(times[21], t(61));
        // retry_after blocks the chat.
        l.block("42", t(100));
        assert_eq!(l.reserve("42", t(50)), t(100));
    }
}
