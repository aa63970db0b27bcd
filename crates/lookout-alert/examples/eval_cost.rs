//! What rule evaluation costs (issue #6, benchmark (b)): `Engine::observe`
//! per signal and `Engine::tick` per round, for 1, 10, 100 and 1,000
//! rules of mixed kinds, and the same after 0, 100,000 and 1,000,000
//! earlier events. No server and no storage: the engine never reads
//! storage, so "stored events" can only matter through what it keeps in
//! memory (the windowed counters), which is what the second table tests.
//!
//!   cargo run --release -p lookout-alert --example eval_cost [-- --signals 1000 --seconds 60]
//!
//! The clock is simulated (the engine takes `now` as an argument): each
//! simulated second gets `--signals` error events (existing issues,
//! 10 projects, 200 issues), then one tick, as the server's runner does
//! once a second. Wall time is measured with `Instant` around the calls.
//! Prints a table and one `EVAL_JSON {...}` line per configuration.

use chrono::{DateTime, Duration, Utc};
use lookout_alert::{Condition, Engine, FrequencyPer, IssueSignal, Route, Rule, Severity, Signal};
use std::time::Instant;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).expect("valid time")
}

/// Rule `i` of a mixed set: the kinds cycle; every third rule is scoped to
/// half the projects, the others admit all (the worst case: they all look
/// at every event).
fn rule(i: usize) -> Rule {
    let condition = match i % 8 {
        0 => Condition::NewIssue,
        1 => Condition::Regression,
        2 => Condition::IssueFrequency {
            threshold: 1_000_000_000,
            window: Duration::minutes(5),
            per: FrequencyPer::Project,
        },
        3 => Condition::IssueFrequency {
            threshold: 1_000_000_000,
            window: Duration::hours(1),
            per: FrequencyPer::Issue,
        },
        4 => Condition::ErrorRateSpike {
            window: Duration::minutes(5),
            baseline: Duration::hours(1),
            factor: 1_000.0,
            min_events: 1_000_000_000,
        },
        5 => Condition::NewIssueAfterRelease {
            within: Duration::hours(1),
        },
        6 => Condition::MonitorDown,
        _ => Condition::BackupFailed,
    };
    let mut r = Rule::new(
        i as i64 + 1,
        &format!("rule {i}"),
        condition,
        Severity::High,
    );
    if i % 3 == 2 {
        r.scope.projects = (1..=5).map(Into::into).collect();
    }
    r
}

fn event(n: u64, at: DateTime<Utc>) -> Signal {
    let project_id = (n % 10) as i64 + 1;
    let issue_id = (n % 200) as i64 + 1;
    Signal::Issue(IssueSignal {
        project_id,
        project: format!("p{project_id}"),
        issue_id,
        at,
        new_issue: false,
        regression: false,
        environment: Some("production".into()),
        level: "error".into(),
        release: Some("1.0.0".into()),
        tags: vec![("handler".into(), "verify".into())],
        title: format!("KeyError: 'user_{issue_id}'"),
        culprit: "verify in bot.handlers".into(),
        exception_value: Some(format!("'user_{issue_id}'")),
        top_frame: Some("bot/handlers.py:42 in verify".into()),
        more: 0,
    })
}

struct Measured {
    rules: usize,
    history: u64,
    signals: u64,
    ticks: u64,
    observe_ns_per_signal: f64,
    observe_ns_per_signal_rule: f64,
    tick_us: f64,
    tick_us_max: f64,
    per_second_ms: f64,
}

/// `history` events spread over the two simulated hours before the run
/// (ticked every simulated minute), then `seconds` seconds of `per_tick`
/// events each followed by a tick, timed.
fn measure(rules: usize, history: u64, per_tick: u64, seconds: i64) -> Measured {
    let mut e = Engine::new(Route::default_tree());
    let start = 7_200;
    e.set_rules((0..rules).map(rule).collect(), t(0));
    let mut n = 0u64;
    if history > 0 {
        let per_min = history.div_ceil(120);
        for m in 0..120 {
            for k in 0..per_min {
                if n >= history {
                    break;
                }
                e.observe(&event(n, t(m * 60 + (k * 60 / per_min) as i64)));
                n += 1;
            }
            e.tick(t(m * 60 + 59));
        }
    }
    let (mut observe_ns, mut tick_ns, mut tick_max_ns) = (0u128, 0u128, 0u128);
    let mut signals = 0u64;
    // Pre-built signals: what is timed is the engine, not building them.
    let batch: Vec<Vec<Signal>> = (0..seconds)
        .map(|s| {
            (0..per_tick)
                .map(|k| event(n + s as u64 * per_tick + k, t(start + s)))
                .collect()
        })
        .collect();
    for (s, signals_now) in batch.iter().enumerate() {
        let t0 = Instant::now();
        for sig in signals_now {
            e.observe(sig);
        }
        let t1 = Instant::now();
        let out = e.tick(t(start + s as i64));
        let t2 = Instant::now();
        std::hint::black_box(out);
        signals += signals_now.len() as u64;
        observe_ns += (t1 - t0).as_nanos();
        let dt = (t2 - t1).as_nanos();
        tick_ns += dt;
        tick_max_ns = tick_max_ns.max(dt);
    }
    let ticks = seconds as u64;
    Measured {
        rules,
        history,
        signals,
        ticks,
        observe_ns_per_signal: observe_ns as f64 / signals.max(1) as f64,
        observe_ns_per_signal_rule: observe_ns as f64 / (signals.max(1) * rules as u64) as f64,
        tick_us: tick_ns as f64 / ticks as f64 / 1e3,
        tick_us_max: tick_max_ns as f64 / 1e3,
        per_second_ms: (observe_ns + tick_ns) as f64 / ticks as f64 / 1e6,
    }
}

fn print(m: &Measured) {
    println!(
        "{:>6} {:>10} {:>14.0} {:>18.1} {:>12.1} {:>12.1} {:>16.2}",
        m.rules,
        m.history,
        m.observe_ns_per_signal,
        m.observe_ns_per_signal_rule,
        m.tick_us,
        m.tick_us_max,
        m.per_second_ms
    );
    println!(
        "EVAL_JSON {{\"rules\": {}, \"history_events\": {}, \"signals\": {}, \"ticks\": {}, \
         \"observe_ns_per_signal\": {:.1}, \"observe_ns_per_signal_and_rule\": {:.2}, \
         \"tick_us_mean\": {:.1}, \"tick_us_max\": {:.1}, \"ms_per_simulated_second\": {:.3}}}",
        m.rules,
        m.history,
        m.signals,
        m.ticks,
        m.observe_ns_per_signal,
        m.observe_ns_per_signal_rule,
        m.tick_us,
        m.tick_us_max,
        m.per_second_ms
    );
}

fn main() {
    let mut per_tick = 1_000u64;
    let mut seconds = 60i64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse::<i64>().ok());
        match (a.as_str(), v) {
            ("--signals", Some(v)) if (1..=100_000).contains(&v) => per_tick = v as u64,
            ("--seconds", Some(v)) if (1..=3_600).contains(&v) => seconds = v,
            _ => {
                eprintln!("usage: eval_cost [--signals 1000] [--seconds 60]");
                std::process::exit(2);
            }
        }
    }
    let header = format!(
        "{:>6} {:>10} {:>14} {:>18} {:>12} {:>12} {:>16}",
        "rules",
        "history",
        "ns/signal",
        "ns/(signal*rule)",
        "tick us",
        "tick us max",
        "ms per second"
    );
    println!(
        "{per_tick} events per simulated second, {seconds} s; observe = Engine::observe, tick = Engine::tick"
    );
    println!("\ncost by number of rules (no history):\n{header}");
    for rules in [1, 10, 100, 1_000] {
        print(&measure(rules, 0, per_tick, seconds));
    }
    println!("\ncost by earlier events (100 rules; events spread over the 2 h before):\n{header}");
    for history in [0, 100_000, 1_000_000] {
        print(&measure(100, history, per_tick, seconds));
    }
}
