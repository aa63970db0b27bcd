//! The health-JSON interpreter: reads what `/health` endpoints commonly
//! answer and says whether the service is healthy, degraded or down, with
//! each sub-check's status and latency.
//!
//! Understood shapes (keys are matched case-insensitively where noted):
//! - `{"status": "healthy"|"ok"|"up"|"pass"|…, "checks": {name: {…}}}`;
//! - sub-checks under `checks`, `components`, `details`, `entries` or
//!   `dependencies`, as an object of objects or an array of objects with a
//!   `name`;
//! - a sub-check's health from `healthy` / `ok` / `up` (booleans) or
//!   `status` (a string); its latency from `latency_ms`, `duration_ms`,
//!   `response_time_ms`, `latency` or `duration` (milliseconds).
//!
//! A failing sub-check while others pass means **degraded**; every
//! sub-check failing, or an overall unhealthy status with no sub-checks,
//! means **down**.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Health of the whole service or of one sub-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Working.
    Healthy,
    /// Working with a problem.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// One sub-check as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubCheck {
    /// Its name (`database`, `redis`, …).
    pub name: String,
    /// Its health.
    pub health: Health,
    /// Its latency in milliseconds, when reported.
    pub latency_ms: Option<f64>,
    /// A message or error it reported, if any (capped).
    pub message: Option<String>,
}

/// What a health endpoint said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The overall verdict, combining the status field, the sub-checks and
    /// the HTTP status.
    pub overall: Health,
    /// The overall status as written (e.g. `healthy`), if any.
    pub reported_status: Option<String>,
    /// Each sub-check.
    pub checks: Vec<SubCheck>,
}

const CHECK_KEYS: [&str; 5] = ["checks", "components", "details", "entries", "dependencies"];
const LATENCY_KEYS: [&str; 5] = [
    "latency_ms",
    "duration_ms",
    "response_time_ms",
    "latency",
    "duration",
];

fn word_health(s: &str) -> Health {
    match s.trim().to_ascii_lowercase().as_str() {
        "healthy" | "ok" | "up" | "pass" | "passing" | "green" | "available" | "true"
        | "online" | "success" => Health::Healthy,
        "degraded" | "warn" | "warning" | "yellow" | "partial" => Health::Degraded,
        _ => Health::Unhealthy,
    }
}

fn get_ci<'v>(o: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn health_of(v: &Value) -> Option<Health> {
    match v {
        Value::Bool(b) => Some(if *b {
            Health::Healthy
        } else {
            Health::Unhealthy
        }),
        Value::String(s) => Some(word_health(s)),
        Value::Object(o) => {
            for k in ["healthy", "ok", "up"] {
                if let Some(Value::Bool(b)) = get_ci(o, k) {
                    return Some(if *b {
                        Health::Healthy
                    } else {
                        Health::Unhealthy
                    });
                }
            }
            match get_ci(o, "status") {
                Some(Value::String(s)) => Some(word_health(s)),
                Some(Value::Bool(b)) => Some(if *b {
                    Health::Healthy
                } else {
                    Health::Unhealthy
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn sub_check(name: String, v: &Value) -> SubCheck {
    let health = health_of(v).unwrap_or(Health::Healthy);
    let (latency_ms, message) = match v {
        Value::Object(o) => (
            LATENCY_KEYS
                .iter()
                .find_map(|k| get_ci(o, k).and_then(Value::as_f64)),
            ["error", "message", "output", "reason"]
                .iter()
                .find_map(|k| get_ci(o, k).and_then(Value::as_str))
                .map(|s| s.chars().take(300).collect()),
        ),
        _ => (None, None),
    };
    SubCheck {
        name: name.chars().take(100).collect(),
        health,
        latency_ms,
        message,
    }
}

/// Interprets a health response. `None` when the body is not a JSON
/// object (the caller then judges by the status code alone).
pub fn interpret(http_status: u16, body: &Value) -> Option<HealthReport> {
    let o = body.as_object()?;
    let reported = get_ci(o, "status").and_then(|s| match s {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    });
    let own = ["healthy", "ok", "up"]
        .iter()
        .find_map(|k| get_ci(o, k).and_then(Value::as_bool))
        .map(|b| {
            if b {
                Health::Healthy
            } else {
                Health::Unhealthy
            }
        })
        .or_else(|| reported.as_deref().map(word_health));
    let mut checks = Vec::new();
    for key in CHECK_KEYS {
        match get_ci(o, key) {
            Some(Value::Object(m)) => {
                for (name, v) in m.iter().take(100) {
                    checks.push(sub_check(name.clone(), v));
                }
            }
            Some(Value::Array(a)) => {
                for (i, v) in a.iter().take(100).enumerate() {
                    let name = v
                        .get("name")
                        .or_else(|| v.get("component"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("check {}", i + 1));
                    checks.push(sub_check(name, v));
                }
            }
            _ => continue,
        }
        break;
    }
    let failing = checks
        .iter()
        .filter(|c| c.health != Health::Healthy)
        .count();
    let http_ok = (200..300).contains(&http_status);
    let overall = if !checks.is_empty() {
        if failing == 0 {
            match own {
                Some(Health::Unhealthy) | None if !http_ok => Health::Unhealthy,
                Some(h) => h,
                None => Health::Healthy,
            }
        } else if failing == checks.len() {
            Health::Unhealthy
        } else {
            Health::Degraded
        }
    } else {
        match own {
            Some(h) if http_ok || h == Health::Unhealthy => h,
            _ if http_ok => Health::Healthy,
            _ => Health::Unhealthy,
        }
    };
    Some(HealthReport {
        overall,
        reported_status: reported,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_healthy_is_healthy_with_latencies() {
        let r = interpret(
            200,
            &json!({"status": "healthy", "checks": {"database": {"healthy": true, "latency_ms": 5.2}, "redis": {"healthy": true, "latency_ms": 1}}}),
        )
        .unwrap();
        assert_eq!(r.overall, Health::Healthy);
        assert_eq!(r.checks.len(), 2);
        assert_eq!(r.checks[0].name, "database");
        assert_eq!(r.checks[0].latency_ms, Some(5.2));
    }

    #[test]
    fn one_failing_sub_check_is_degraded_even_with_503() {
        let r = interpret(
            503,
            &json!({"status": "unhealthy", "checks": {"database": {"healthy": true, "latency_ms": 5.2}, "redis": {"healthy": false, "error": "connection refused"}}}),
        )
        .unwrap();
        assert_eq!(r.overall, Health::Degraded);
        let redis = r.checks.iter().find(|c| c.name == "redis").unwrap();
        assert_eq!(redis.health, Health::Unhealthy);
        assert_eq!(redis.message.as_deref(), Some("connection refused"));
    }

    #[test]
    fn every_sub_check_failing_is_down() {
        let r = interpret(503, &json!({"checks": {"db": {"status": "down"}}})).unwrap();
        assert_eq!(r.overall, Health::Unhealthy);
    }

    #[test]
    fn status_without_sub_checks() {
        assert_eq!(
            interpret(200, &json!({"status": "UP"})).unwrap().overall,
            Health::Healthy
        );
        assert_eq!(
            interpret(503, &json!({"status": "UP"})).unwrap().overall,
            Health::Unhealthy
        );
        assert_eq!(
            interpret(200, &json!({"status": "fail"})).unwrap().overall,
            Health::Unhealthy
        );
        assert_eq!(
            interpret(200, &json!({"status": "degraded"}))
                .unwrap()
                .overall,
            Health::Degraded
        );
        assert_eq!(interpret(200, &json!({})).unwrap().overall, Health::Healthy);
        assert!(interpret(200, &json!([1, 2])).is_none());
    }

    #[test]
    fn array_and_spring_shapes() {
        let r = interpret(200, &json!({"status": "UP", "components": {"db": {"status": "UP"}, "disk": {"status": "DOWN"}}})).unwrap();
        assert_eq!(r.overall, Health::Degraded);
        let r = interpret(
            200,
            &json!({"checks": [{"name": "a", "ok": true}, {"name": "b", "ok": false}]}),
        )
        .unwrap();
        assert_eq!(r.overall, Health::Degraded);
        assert_eq!(r.checks[1].name, "b");
    }
}
