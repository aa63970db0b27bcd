//! Monitor definitions: what to check and how, as stored (JSON) and as
//! declared in `lookout.toml`, and their validation. A definition that
//! passes [`MonitorSpec::compile`] can be run; one that does not is
//! refused at creation with the field, the position and the reason.

use crate::condition::{self, Condition};
use crate::schedule::CronSchedule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of check a monitor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An HTTP(S) request judged by status, keyword and conditions.
    Http,
    /// An HTTP(S) health endpoint whose JSON is interpreted.
    Health,
    /// A TCP connection.
    Tcp,
    /// A DNS resolution.
    Dns,
    /// Pings pushed to us (healthchecks.io style, or Sentry check-ins).
    Heartbeat,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Health => "health",
            Kind::Tcp => "tcp",
            Kind::Dns => "dns",
            Kind::Heartbeat => "heartbeat",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "http" => Kind::Http,
            "health" => Kind::Health,
            "tcp" => Kind::Tcp,
            "dns" => Kind::Dns,
            "heartbeat" => Kind::Heartbeat,
            _ => return None,
        })
    }
    /// Whether Lookout runs the check (as opposed to waiting for pings).
    pub fn is_active(self) -> bool {
        self != Kind::Heartbeat
    }
}

fn default_method() -> String {
    "GET".into()
}
fn default_true() -> bool {
    true
}
fn default_interval() -> u32 {
    60
}
fn default_timeout() -> u32 {
    10
}
fn default_failures() -> u32 {
    3
}
fn default_successes() -> u32 {
    2
}
fn default_accepted() -> String {
    "200-399".into()
}

/// A monitor's settings. Fields that do not apply to its kind are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// The kind of check.
    pub kind: Kind,
    /// HTTP and health: the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP: the method.
    #[serde(default = "default_method")]
    pub method: String,
    /// HTTP: request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// HTTP: request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTTP: accepted status codes, e.g. `200-299,301`.
    #[serde(default = "default_accepted")]
    pub accepted_status: String,
    /// HTTP: follow redirects (up to 10).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// HTTP: verify the TLS certificate (turn off for self-signed targets;
    /// expiry is still read).
    #[serde(default = "default_true")]
    pub verify_tls: bool,
    /// HTTP: a keyword the body must contain (or must not, see
    /// `keyword_absent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// HTTP: the keyword must be absent.
    #[serde(default)]
    pub keyword_absent: bool,
    /// HTTP and health: Gatus-style conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// TCP and DNS: the host name or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TCP: the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// DNS: an address the name must resolve to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_address: Option<String>,
    /// Active checks: seconds between checks. Heartbeats: the expected
    /// interval between pings (unless `cron` is set).
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// Active checks: seconds to the next check after a failure (default:
    /// a third of the interval, at least 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_secs: Option<u32>,
    /// Active checks: seconds before a check is a timeout.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
    /// Consecutive failures before down (default 3; heartbeats 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Consecutive successes before recovered (default 2; heartbeats 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u32>,
    /// Heartbeat: a cron expression for when pings are expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Heartbeat: the cron expression's time zone (IANA, default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Heartbeat: seconds of grace after the expected time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_secs: Option<u32>,
    /// Heartbeat: longest a run may stay in progress, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime_secs: Option<u32>,
    /// Set by the server, not the caller: checks may connect only to
    /// public addresses. True for monitors saved by someone who may not
    /// monitor private targets, so a name that resolves to a public
    /// address when saved and to a private one later (DNS rebinding), or
    /// a redirect to a private address, is refused at connect time too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_only: bool,
}

impl MonitorSpec {
    /// A spec of `kind` with every default.
    pub fn new(kind: Kind) -> MonitorSpec {
        MonitorSpec {
            kind,
            url: None,
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            accepted_status: default_accepted(),
            follow_redirects: true,
            verify_tls: true,
            keyword: None,
            keyword_absent: false,
            conditions: vec![],
            host: None,
            port: None,
            expected_address: None,
            interval_secs: default_interval(),
            retry_interval_secs: None,
            timeout_secs: default_timeout(),
            failure_threshold: None,
            success_threshold: None,
            cron: None,
            timezone: None,
            grace_secs: None,
            max_runtime_secs: None,
            public_only: false,
        }
    }
}

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, e.g. `url`, `cron`, `conditions[1]`.
    pub field: String,
    /// 1-based column inside the field's value, when it points somewhere.
    pub position: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}: at position {p}: {}", self.field, self.reason),
            None => write!(f, "{}: {}", self.field, self.reason),
        }
    }
}

/// Every problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SpecError(pub Vec<FieldError>);

/// Accepted HTTP status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    /// Parses `200-299,301`.
    pub fn parse(s: &str) -> Result<StatusSet, (usize, String)> {
        let mut out = Vec::new();
        let mut col = 1;
        for part in s.split(',') {
            let t = part.trim();
            let lead = part.len() - part.trim_start().len();
            let at = col + lead;
            let num = |x: &str| -> Result<u16, (usize, String)> {
                match x.trim().parse::<u16>() {
                    Ok(n) if (100..=599).contains(&n) => Ok(n),
                    _ => Err((
                        at,
                        format!("`{}` is not a status code (100 to 599)", x.trim()),
                    )),
                }
            };
            if t.is_empty() {
                return Err((
                    at,
                    "empty entry; write codes or ranges such as 200-299,301".into(),
                ));
            }
            let (a, b) = match t.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let n = num(t)?;
                    (n, n)
                }
            };
            if a > b {
                return Err((at, format!("range {a}-{b} is backwards")));
            }
            out.push((a, b));
            col += part.chars().count() + 1;
        }
        Ok(StatusSet(out))
    }
    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&code))
    }
}

/// A validated, ready-to-run definition.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The definition.
    pub spec: MonitorSpec,
    /// Parsed conditions.
    pub conditions: Vec<Condition>,
    /// Accepted codes.
    pub accepted: StatusSet,
    /// Heartbeat cron schedule.
    pub cron: Option<CronSchedule>,
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Checks an URL: absolute http(s) with a host. Errors carry the position.
pub fn check_url(u: &str) -> Result<(), (Option<usize>, String)> {
    let t = u.trim();
    if t.is_empty() {
        return Err((None, "the URL is empty".into()));
    }
    if t.len() > 2048 {
        return Err((Some(2049), "the URL is longer than 2048 characters".into()));
    }
    if let Some(p) = t.find(|c: char| c.is_whitespace() || c.is_control()) {
        return Err((
            Some(t[..p].chars().count() + 1),
            "URLs cannot contain spaces or control characters".into(),
        ));
    }
    let Some((scheme, rest)) = t.split_once("://") else {
        return Err((
            Some(1),
            "the URL needs a scheme: start it with http:// or https://".into(),
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err((
            Some(1),
            format!("scheme `{scheme}` is not supported: use http or https"),
        ));
    }
    let host_at = scheme.len() + 4;
    if rest.is_empty() || rest.starts_with(['/', '?', '#', ':']) {
        return Err((Some(host_at), "the URL has no host".into()));
    }
    match reqwest::Url::parse(t) {
        Ok(url) if url.host_str().is_some() => Ok(()),
        Ok(_) => Err((Some(host_at), "the URL has no host".into())),
        Err(e) => {
            let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..auth_end];
            let pos = match e {
                url::ParseError::InvalidPort => authority
                    .rfind(':')
                    .map(|i| host_at + i + 1)
                    .unwrap_or(host_at),
                _ => host_at,
            };
            Err((Some(pos), e.to_string()))
        }
    }
}

fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    s.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("`{s}` is not a known IANA time zone (e.g. UTC, Europe/Paris, America/New_York)")
    })
}

impl MonitorSpec {
    /// Validates the definition and parses what it contains.
    pub fn compile(&self) -> Result<Compiled, SpecError> {
        let mut errs = Vec::new();
        let mut err = |field: &str, position: Option<usize>, reason: String| {
            errs.push(FieldError {
                field: field.into(),
                position,
                reason,
            })
        };
        let mut conditions = Vec::new();
        let mut accepted = StatusSet(vec![(200, 399)]);
        let mut cron = None;
        match self.kind {
            Kind::Http | Kind::Health => {
                match self.url.as_deref() {
                    None => err("url", None, "an HTTP monitor needs a URL".into()),
                    Some(u) => {
                        if let Err((p, r)) = check_url(u) {
                            err("url", p, r);
                        }
                    }
                }
                if !METHODS.contains(&self.method.as_str()) {
                    err(
                        "method",
                        None,
                        format!("`{}` is not one of {}", self.method, METHODS.join(", ")),
                    );
                }
                match StatusSet::parse(&self.accepted_status) {
                    Ok(s) => accepted = s,
                    Err((p, r)) => err("accepted_status", Some(p), r),
                }
                for (k, v) in &self.headers {
                    if k.is_empty()
                        || !k
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                    {
                        err("headers", None, format!("`{k}` is not a valid header name"));
                    }
                    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
                        err(
                            "headers",
                            None,
                            format!("the value of `{k}` contains a line break"),
                        );
                    }
                }
                if self.conditions.len() > 20 {
                    err("conditions", None, "at most 20 conditions".into());
                }
                for (i, c) in self.conditions.iter().enumerate() {
                    match condition::parse(c) {
                        Ok(c) => conditions.push(c),
                        Err(e) => err(&format!("conditions[{}]", i + 1), Some(e.column), e.reason),
                    }
                }
                if self.body.as_ref().is_some_and(|b| b.len() > 64 * 1024) {
                    err("body", None, "the request body is over 64 KiB".into());
                }
                if self
                    .keyword
                    .as_ref()
                    .is_some_and(|k| k.is_empty() || k.len() > 1024)
                {
                    err(
                        "keyword",
                        None,
                        "the keyword must be 1 to 1024 bytes".into(),
                    );
                }
            }
            Kind::Tcp | Kind::Dns => {
                match self.host.as_deref().map(str::trim) {
                    None | Some("") => err("host", None, "this monitor needs a host".into()),
                    Some(h) if h.len() > 253 => err(
                        "host",
                        Some(254),
                        "host names are at most 253 characters".into(),
                    ),
                    Some(h) => {
                        if let Some(p) =
                            h.find(|c: char| !(c.is_ascii_alphanumeric() || ".-_:[]".contains(c)))
                        {
                            err(
                                "host",
                                Some(p + 1),
                                format!(
                                    "`{}` is not allowed in a host name",
                                    &h[p..].chars().next().unwrap_or(' ')
                                ),
                            );
                        }
                    }
                }
                if self.kind == Kind::Tcp && self.port.unwrap_or(0) == 0 {
                    err(
                        "port",
                        None,
                        "a TCP monitor needs a port (1 to 65535)".into(),
                    );
                }
                if let Some(a) = &self.expected_address
                    && a.trim().parse::<std::net::IpAddr>().is_err()
                {
                    err(
                        "expected_address",
                        Some(1),
                        format!("`{a}` is not an IPv4 or IPv6 address"),
                    );
                }
            }
            Kind::Heartbeat => {
                if let Some(expr) = &self.cron {
                    let tz = match self.timezone.as_deref() {
                        None | Some("") => Some(chrono_tz::UTC),
                        Some(t) => match parse_tz(t) {
                            Ok(tz) => Some(tz),
                            Err(r) => {
                                err("timezone", Some(1), r);
                                None
                            }
                        },
                    };
                    match CronSchedule::parse(expr, tz.unwrap_or(chrono_tz::UTC)) {
                        Ok(c) => cron = Some(c),
                        Err((p, r)) => err("cron", Some(p), r),
                    }
                } else if let Some(t) = self.timezone.as_deref().filter(|t| !t.is_empty())
                    && let Err(r) = parse_tz(t)
                {
                    err("timezone", Some(1), r);
                }
                if self.max_runtime_secs == Some(0) {
                    err("max_runtime_secs", None, "must be at least 1 second".into());
                }
            }
        }
        if self.interval_secs < 1 || self.interval_secs > 31 * 86_400 {
            err(
                "interval_secs",
                None,
                "the interval must be 1 second to 31 days".into(),
            );
        }
        if self.kind.is_active() && (self.timeout_secs == 0 || self.timeout_secs > 120) {
            err(
                "timeout_secs",
                None,
                "the timeout must be 1 to 120 seconds".into(),
            );
        }
        if !(1..=100).contains(&self.failures_needed()) {
            err("failure_threshold", None, "must be 1 to 100".into());
        }
        if !(1..=100).contains(&self.successes_needed()) {
            err("success_threshold", None, "must be 1 to 100".into());
        }
        if errs.is_empty() {
            Ok(Compiled {
                spec: self.clone(),
                conditions,
                accepted,
                cron,
            })
        } else {
            Err(SpecError(errs))
        }
    }

    /// Failures needed to go down: as set, else 3 (Gatus), or 1 for
    /// heartbeats (a missed ping is already a confirmed failure).
    pub fn failures_needed(&self) -> u32 {
        self.failure_threshold
            .unwrap_or(if self.kind == Kind::Heartbeat {
                1
            } else {
                default_failures()
            })
    }

    /// Successes needed to recover: as set, else 2 (Gatus), or 1 for
    /// heartbeats.
    pub fn successes_needed(&self) -> u32 {
        self.success_threshold
            .unwrap_or(if self.kind == Kind::Heartbeat {
                1
            } else {
                default_successes()
            })
    }

    /// The host a check connects to (for the private-address rule).
    pub fn target_host(&self) -> Option<(String, u16)> {
        match self.kind {
            Kind::Http | Kind::Health => {
                let u = reqwest::Url::parse(self.url.as_deref()?).ok()?;
                let host = u.host_str()?.trim_matches(['[', ']']).to_string();
                Some((host, u.port_or_known_default().unwrap_or(80)))
            }
            Kind::Tcp => Some((
                self.host.clone()?.trim_matches(['[', ']']).to_string(),
                self.port?,
            )),
            Kind::Dns | Kind::Heartbeat => None,
        }
    }

    /// Seconds to the next check after a failure.
    pub fn retry_secs(&self) -> u32 {
        self.retry_interval_secs
            .unwrap_or((self.interval_secs / 3).max(5))
            .clamp(1, self.interval_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> MonitorSpec {
        let mut s = MonitorSpec::new(Kind::Http);
        s.url = Some(url.into());
        s
    }

    #[test]
    fn good_http_spec_compiles() {
        let mut s = http("https://example.com/health");
        s.conditions = vec!["[STATUS] == 200".into(), "[BODY].status == healthy".into()];
        let c = s.compile().unwrap();
        assert_eq!(c.conditions.len(), 2);
        assert!(c.accepted.contains(204));
        assert!(!c.accepted.contains(404));
    }

    #[test]
    fn bad_urls_say_where_and_why() {
        let e = http("example.com").compile().unwrap_err();
        assert_eq!(e.0[0].field, "url");
        assert_eq!(e.0[0].position, Some(1));
        assert!(e.0[0].reason.contains("scheme"), "{e}");
        let e = http("ftp://x").compile().unwrap_err();
        assert!(e.0[0].reason.contains("ftp"));
        let e = http("http://exa mple.com").compile().unwrap_err();
        assert_eq!(e.0[0].position, Some(11));
        let e = http("http://example.com:99999/").compile().unwrap_err();
        assert_eq!(e.0[0].position, Some(20), "{e}");
        let e = http("http:///path").compile().unwrap_err();
        assert!(e.0[0].reason.contains("no host"), "{e}");
    }

    #[test]
    fn bad_conditions_name_their_index_and_column() {
        let mut s = http("http://x/");
        s.conditions = vec!["[STATUS] == 200".into(), "[BODY].ok = true".into()];
        let e = s.compile().unwrap_err();
        assert_eq!(e.0[0].field, "conditions[2]");
        assert_eq!(e.0[0].position, Some(11));
        assert_eq!(
            e.to_string(),
            "conditions[2]: at position 11: `=` is not an operator; did you mean `==`?"
        );
    }

    #[test]
    fn heartbeat_cron_and_timezone_are_checked() {
        let mut s = MonitorSpec::new(Kind::Heartbeat);
        s.cron = Some("0 3 * * *".into());
        s.timezone = Some("Europe/Paris".into());
        assert!(s.compile().is_ok());
        s.timezone = Some("Mars/Olympus".into());
        let e = s.compile().unwrap_err();
        assert_eq!(e.0[0].field, "timezone");
        assert!(e.0[0].reason.contains("Mars/Olympus"));
        s.timezone = None;
        s.cron = Some("0 25 * * *".into());
        let e = s.compile().unwrap_err();
        assert_eq!(e.0[0].field, "cron");
        assert_eq!(e.0[0].position, Some(3), "{e}");
    }

    #[test]
    fn accepted_status_ranges() {
        let s = StatusSet::parse("200-299, 301").unwrap();
        assert!(s.contains(301) && s.contains(250) && !s.contains(302));
        assert_eq!(StatusSet::parse("200,abc").unwrap_err().0, 5);
        assert!(StatusSet::parse("299-200").is_err());
    }

    #[test]
    fn tcp_needs_host_and_port() {
        let mut s = MonitorSpec::new(Kind::Tcp);
        let e = s.compile().unwrap_err();
        assert_eq!(e.0.len(), 2);
        s.host = Some("db.internal".into());
        s.port = Some(5432);
        assert!(s.compile().is_ok());
        assert_eq!(s.target_host(), Some(("db.internal".into(), 5432)));
    }

    #[test]
    fn the_spec_round_trips_through_json_with_defaults() {
        let s: MonitorSpec = serde_json::from_str(r#"{"kind":"http","url":"http://x/"}"#).unwrap();
        assert_eq!(s, http("http://x/"));
        let back: MonitorSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<MonitorSpec>(r#"{"kind":"http","nope":1}"#).is_err());
    }
}
