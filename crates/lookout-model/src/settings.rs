//! Per-project settings: quotas, inbound filters, retention, CORS.

use serde::{Deserialize, Serialize};

/// Settings of one project. Missing fields take their defaults, so stored
/// settings stay readable when fields are added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectSettings {
    /// Events accepted per minute; `None` = the server default.
    pub events_per_minute: Option<u32>,
    /// Events older than this many days are deleted.
    pub retention_days: u32,
    /// At most this many events are kept; the oldest go first.
    pub max_events: u64,
    /// Origins browsers may send events from (`*` = any).
    pub allowed_origins: Vec<String>,
    /// Events dropped at ingest (and counted as `filtered`).
    pub filters: InboundFilters,
    /// Extra keys to scrub, on top of the server's list.
    pub scrub_keys: Vec<String>,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            events_per_minute: None,
            retention_days: 90,
            max_events: 1_000_000,
            allowed_origins: vec!["*".into()],
            filters: InboundFilters::default(),
            scrub_keys: Vec::new(),
        }
    }
}

/// Inbound filters: an event matching any of them is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboundFilters {
    /// Exception types, exactly (e.g. `KeyboardInterrupt`).
    pub exception_types: Vec<String>,
    /// Message patterns: `*` matches any run of characters; case-insensitive.
    /// Matched against the title (`Type: value` or message).
    pub message_patterns: Vec<String>,
    /// Release versions, exactly, or glob patterns with `*`.
    pub releases: Vec<String>,
    /// Environments, exactly.
    pub environments: Vec<String>,
}

impl ProjectSettings {
    /// Checks the settings for values that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.retention_days == 0 {
            return Err("retention_days must be at least 1".into());
        }
        if self.max_events == 0 {
            return Err("max_events must be at least 1".into());
        }
        for o in &self.allowed_origins {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(format!(
                    "allowed_origins: `{o}` must be `*` or start with http:// or https://"
                ));
            }
        }
        Ok(())
    }

    /// Whether a browser `Origin` may send events.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// Case-insensitive glob match where `*` matches any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("*timeout*", "ReadTimeout: read timed out"));
        assert!(glob_match("KeyError: *", "keyerror: 'x'"));
        assert!(!glob_match("KeyError: *", "ValueError: x"));
        assert!(glob_match("1.*", "1.2.3"));
        assert!(glob_match("exact", "EXACT"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn settings_defaults_and_validation() {
        let s: ProjectSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, ProjectSettings::default());
        assert!(s.origin_allowed("https://anything.example"));
        let s: ProjectSettings =
            serde_json::from_str(r#"{"allowed_origins":["https://app.example.com"]}"#).unwrap();
        assert!(s.origin_allowed("https://app.example.com"));
        assert!(!s.origin_allowed("https://evil.example.com"));
        assert!(serde_json::from_str::<ProjectSettings>(r#"{"nope":1}"#).is_err());
        let bad = ProjectSettings {
            retention_days: 0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
