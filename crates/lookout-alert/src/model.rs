//! The shared vocabulary: severities, labels and label matchers.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Labels of an alert: sorted, so that their rendering (and the alert's
/// fingerprint) is stable.
pub type Labels = BTreeMap<String, String>;

/// How urgent an alert is. Ordered: `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Low,
    /// Worth a look.
    Medium,
    /// Someone should look today.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// The name used in labels, config and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
    /// Every severity, most urgent first.
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "critical" => Ok(Severity::Critical),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            _ => Err(format!(
                "unknown severity `{s}` (critical, high, medium or low)"
            )),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a [`Matcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    /// `name=value`
    Eq,
    /// `name!=value`
    Ne,
    /// `name=~regex` (anchored, like Alertmanager)
    Re,
    /// `name!~regex`
    NotRe,
}

/// Why a matcher does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad matcher `{input}`: {reason}")]
pub struct MatcherError {
    input: String,
    reason: String,
}

/// One condition on a label, written as in Alertmanager:
/// `severity=critical`, `project!=staging`, `env=~"prod|staging"`,
/// `monitor!~"test-.*"`. A missing label reads as the empty string, so
/// `team=""` matches alerts without a team.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or the regular expression's source.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// An equality matcher.
    pub fn eq(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Eq,
            value: value.into(),
            re: None,
        }
    }

    /// Builds a matcher, compiling a regular expression.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        let err = |reason: String| MatcherError {
            input: format!("{name}{}{value}", op_str(op)),
            reason,
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(err("label names are letters, digits, `_` and `.`".into()));
        }
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| err(format!("regex: {e}")))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value: value.into(),
            re,
        })
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        self.matches_value(v)
    }

    /// Whether one value satisfies this matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Ne => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// Whether every matcher matches (an empty list matches everything).
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

fn op_str(op: MatchOp) -> &'static str {
    match op {
        MatchOp::Eq => "=",
        MatchOp::Ne => "!=",
        MatchOp::Re => "=~",
        MatchOp::NotRe => "!~",
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = self.value.is_empty()
            || self
                .value
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "_-.:/".contains(c)));
        if quote {
            write!(f, "{}{}{:?}", self.name, op_str(self.op), self.value)
        } else {
            write!(f, "{}{}{}", self.name, op_str(self.op), self.value)
        }
    }
}

impl FromStr for Matcher {
    type Err = MatcherError;
    fn from_str(s: &str) -> Result<Self, MatcherError> {
        let s = s.trim();
        let bad = |reason: &str| MatcherError {
            input: s.into(),
            reason: reason.into(),
        };
        let pos = s
            .find(['=', '!'])
            .ok_or_else(|| bad("expected name=value, name!=value, name=~re or name!~re"))?;
        let (name, rest) = s.split_at(pos);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err(bad("expected `=`, `!=`, `=~` or `!~` after the name"));
        };
        let value = value.trim();
        let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            serde_json::from_str::<String>(value).map_err(|_| bad("bad quoted value"))?
        } else {
            value.to_string()
        };
        Matcher::new(name.trim(), op, &value)
    }
}

impl Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_the_four_operators() {
        let l = labels(&[("severity", "critical"), ("env", "production")]);
        let m: Matcher = "severity=critical".parse().unwrap();
        assert!(m.matches(&l));
        let m: Matcher = "severity!=critical".parse().unwrap();
        assert!(!m.matches(&l));
        let m: Matcher = r#"env=~"prod.*|staging""#.parse().unwrap();
        assert!(m.matches(&l));
        let m: Matcher = "env!~prod".parse().unwrap();
        assert!(
            m.matches(&l),
            "anchored: `prod` does not match `production`"
        );
        let m: Matcher = r#"team="""#.parse().unwrap();
        assert!(m.matches(&l), "a missing label reads as empty");
    }

    #[test]
    fn rejects_nonsense() {
        assert!("severity".parse::<Matcher>().is_err());
        assert!("=x".parse::<Matcher>().is_err());
        assert!("a b=c".parse::<Matcher>().is_err());
        assert!("x=~(".parse::<Matcher>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "severity=critical",
            "env!=prod",
            r#"env=~"prod|staging""#,
            r#"x="""#,
        ] {
            let m: Matcher = s.parse().unwrap();
            assert_eq!(m.to_string(), s);
            assert_eq!(m.to_string().parse::<Matcher>().unwrap(), m);
        }
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Medium > Severity::Low);
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
        }
        assert!("urgent".parse::<Severity>().is_err());
    }
}
