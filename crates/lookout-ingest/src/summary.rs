//! Extraction of the fields an issue list / issue page needs from an event.
//!
//! [`summarize`] reads an event (the JSON payload of an `event` item) and
//! returns an [`EventSummary`]. It is total: any field may be missing or of
//! the wrong JSON type, in which case it is treated as absent.

use std::borrow::Cow;

use serde_json::Value;

use crate::grouping::{
    display_message, event_stacktrace_frames, exception_type, exception_value, exception_values,
    frames, is_in_app, non_empty_str, scalar_text,
};

/// Maximum length of [`EventSummary::title`], in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Tags whose key is longer than this (in characters) are dropped.
pub const MAX_TAG_KEY_CHARS: usize = 32;
/// Tag values longer than this (in characters) are truncated.
pub const MAX_TAG_VALUE_CHARS: usize = 200;

/// Title used when an event has neither an exception nor a message.
pub const UNLABELED_TITLE: &str = "<unlabeled event>";

/// Identity of the user affected by an event, used to count distinct users.
///
/// The string is prefixed by the kind of identifier it was derived from:
/// `id:42`, `email:a@example.com`, `username:bob` or `ip:10.0.0.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey(pub String);

/// What an issue or issue list needs to know about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSummary {
    /// `event_id` as 32 lowercase hex characters (dashes removed); `None` if
    /// absent or not a valid UUID.
    pub event_id: Option<String>,
    /// One of `fatal`, `error`, `warning`, `info`, `debug` (see
    /// [`normalize_level`]); `error` if absent.
    pub level: String,
    /// `platform`, `other` if absent.
    pub platform: String,
    /// `timestamp` as Unix seconds; accepts a number, a numeric string or an
    /// RFC 3339 string (a missing offset means UTC).
    pub timestamp: Option<f64>,
    /// `Type: value` of the outermost (last) exception, else the first line
    /// of the message, else `<unlabeled event>`; at most
    /// [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// `function in module` of the innermost in-app frame, else
    /// `culprit` as sent, else `transaction`, else empty.
    pub culprit: String,
    /// `file:line in function` of the innermost in-app frame of the
    /// outermost exception that has one (else its innermost frame), for
    /// alert messages; `None` without frames.
    pub top_frame: Option<String>,
    /// `type` of the outermost exception.
    pub exception_type: Option<String>,
    /// `value` of the outermost exception.
    pub exception_value: Option<String>,
    /// The formatted message (`logentry.formatted`, `logentry.message` or
    /// `message`).
    pub message: Option<String>,
    /// `release`.
    pub release: Option<String>,
    /// `environment`; `None` if absent (no default is applied here).
    pub environment: Option<String>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// `transaction`.
    pub transaction: Option<String>,
    /// Identity of the affected user, if any.
    pub user: Option<UserKey>,
    /// Event tags plus derived tags, sorted by key, one value per key.
    pub tags: Vec<(String, String)>,
    /// `sdk.name`.
    pub sdk_name: Option<String>,
    /// `sdk.version`.
    pub sdk_version: Option<String>,
    /// `contexts.trace.trace_id`.
    pub trace_id: Option<String>,
}

/// Summarise an event. Never panics.
pub fn summarize(event: &Value) -> EventSummary {
    let level = event
        .get("level")
        .and_then(Value::as_str)
        .map_or("error", normalize_level);
    let platform = non_empty_str(event.get("platform")).unwrap_or("other");

    let last_exc = exception_values(event).iter().rev().find(|e| e.is_object());
    let exception_type = last_exc
        .map(exception_type)
        .filter(|t| !t.is_empty())
        .map(Cow::into_owned);
    let exception_value = last_exc
        .map(exception_value)
        .filter(|v| !v.is_empty())
        .map(Cow::into_owned);
    let message = display_message(event);

    let release = text(event.get("release"));
    let environment = text(event.get("environment"));
    let server_name = text(event.get("server_name"));
    let transaction = text(event.get("transaction"));

    let contexts = event.get("contexts");
    let context = |name: &str| contexts.and_then(|c| c.get(name));

    let mut summary = EventSummary {
        event_id: event_id(event.get("event_id")),
        level: level.to_owned(),
        platform: platform.to_owned(),
        timestamp: timestamp(event.get("timestamp")),
        title: title(
            exception_type.as_deref(),
            exception_value.as_deref(),
            message,
        ),
        culprit: culprit(event),
        top_frame: top_frame(event),
        exception_type,
        exception_value,
        message: message.map(str::to_owned),
        release,
        environment,
        server_name,
        transaction,
        user: user_key(event.get("user")),
        tags: Vec::new(),
        sdk_name: text(event.get("sdk").and_then(|s| s.get("name"))),
        sdk_version: text(event.get("sdk").and_then(|s| s.get("version"))),
        trace_id: text(context("trace").and_then(|t| t.get("trace_id"))),
    };

    // Derived tags come first so that they win over event tags of the same
    // key when deduplicating.
    let mut tags: Vec<(String, String)> = Vec::new();
    let derived = [
        ("release", summary.release.clone()),
        ("environment", summary.environment.clone()),
        ("server_name", summary.server_name.clone()),
        ("level", Some(summary.level.clone())),
        ("browser", name_version(context("browser"))),
        (
            "os",
            name_version(context("os")).or_else(|| name_version(context("client_os"))),
        ),
        ("runtime", name_version(context("runtime"))),
        ("transaction", summary.transaction.clone()),
    ];
    for (key, value) in derived {
        if let Some(value) = value {
            push_tag(&mut tags, key, &value);
        }
    }
    match event.get("tags") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                if let Some(v) = scalar_text(Some(v)) {
                    push_tag(&mut tags, k, &v);
                }
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                let (k, v) = match item {
                    Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    Value::Object(o) => match (o.get("key"), o.get("value")) {
                        (Some(k), Some(v)) => (k, v),
                        _ => continue,
                    },
                    _ => continue,
                };
                if let (Some(k), Some(v)) = (k.as_str(), scalar_text(Some(v))) {
                    push_tag(&mut tags, k, &v);
                }
            }
        }
        _ => {}
    }
    // Stable sort keeps the first (highest priority) entry of each key first.
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags.dedup_by(|later, earlier| later.0 == earlier.0);
    summary.tags = tags;
    summary
}

/// Map a level name to one of `fatal`, `error`, `warning`, `info`, `debug`.
///
/// Case-insensitive; `warn` → `warning`, `critical` → `fatal`, `log` →
/// `info`; anything else → `error`.
pub fn normalize_level(level: &str) -> &'static str {
    let level = level.trim();
    let is = |name: &str| level.eq_ignore_ascii_case(name);
    if is("fatal") || is("critical") {
        "fatal"
    } else if is("warning") || is("warn") {
        "warning"
    } else if is("info") || is("log") {
        "info"
    } else if is("debug") {
        "debug"
    } else {
        "error"
    }
}

/// Strings (trimmed, non-empty), numbers and booleans, as an owned string.
fn text(v: Option<&Value>) -> Option<String> {
    scalar_text(v).map(Cow::into_owned)
}

fn event_id(v: Option<&Value>) -> Option<String> {
    let s = v.and_then(Value::as_str)?.trim();
    let id = uuid::Uuid::try_parse(s).ok()?;
    Some(id.simple().to_string())
}

fn timestamp(v: Option<&Value>) -> Option<f64> {
    let ts = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                n
            } else if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
                unix_seconds(dt.timestamp(), dt.timestamp_subsec_nanos())
            } else {
                let dt = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()?
                    .and_utc();
                unix_seconds(dt.timestamp(), dt.timestamp_subsec_nanos())
            }
        }
        _ => return None,
    };
    ts.is_finite().then_some(ts)
}

fn unix_seconds(secs: i64, nanos: u32) -> f64 {
    secs as f64 + f64::from(nanos) / 1e9
}

fn title(ty: Option<&str>, value: Option<&str>, message: Option<&str>) -> String {
    let first_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned()
    };
    let t = match (ty, value) {
        (Some(ty), Some(value)) => format!("{ty}: {}", first_line(value)),
        (Some(ty), None) => ty.to_owned(),
        (None, Some(value)) => first_line(value),
        (None, None) => match message {
            Some(m) => first_line(m),
            None => UNLABELED_TITLE.to_owned(),
        },
    };
    truncate_chars(&t, MAX_TITLE_CHARS)
}

/// Truncate to at most `max` characters, ending in `…` when shortened.
fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let cut = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            let mut out = s[..cut].to_owned();
            out.push('…');
            out
        }
    }
}

fn culprit(event: &Value) -> String {
    let exceptions = exception_values(event);
    // Innermost in-app frame of the outermost exception that has one.
    let in_app = exceptions
        .iter()
        .rev()
        .flat_map(|e| {
            frames(e.get("stacktrace"))
                .iter()
                .rev()
                .find(|f| is_in_app(f))
        })
        .find_map(frame_culprit);
    // Else the innermost frame at all, or the frames of a message event.
    let any_frame = || {
        exceptions
            .iter()
            .rev()
            .map(|e| frames(e.get("stacktrace")))
            .chain(event_stacktrace_frames(event))
            .find_map(|fs| {
                let in_app = fs.iter().rev().filter(|f| is_in_app(f));
                in_app.chain(fs.iter().rev()).find_map(frame_culprit)
            })
    };
    in_app
        .or_else(any_frame)
        .or_else(|| text(event.get("culprit")))
        .or_else(|| text(event.get("transaction")))
        .unwrap_or_default()
}

fn top_frame(event: &Value) -> Option<String> {
    let exceptions = exception_values(event);
    let stacks = exceptions
        .iter()
        .rev()
        .map(|e| frames(e.get("stacktrace")))
        .chain(event_stacktrace_frames(event))
        .filter(|fs| !fs.is_empty());
    let mut innermost = None;
    for fs in stacks {
        if let Some(f) = fs.iter().rev().find(|f| is_in_app(f)) {
            return frame_location(f);
        }
        innermost = innermost.or_else(|| fs.last());
    }
    innermost.and_then(frame_location)
}

/// `file:line in function`, with whatever parts the frame has.
fn frame_location(frame: &Value) -> Option<String> {
    let file = non_empty_str(frame.get("filename"))
        .or_else(|| non_empty_str(frame.get("abs_path")))
        .or_else(|| non_empty_str(frame.get("module")));
    let line = frame.get("lineno").and_then(Value::as_u64);
    let function = non_empty_str(frame.get("function"));
    let place = match (file, line) {
        (Some(f), Some(l)) => Some(format!("{f}:{l}")),
        (Some(f), None) => Some(f.to_owned()),
        (None, _) => None,
    };
    match (place, function) {
        (Some(p), Some(f)) => Some(format!("{p} in {f}")),
        (Some(p), None) => Some(p),
        (None, Some(f)) => Some(f.to_owned()),
        (None, None) => None,
    }
}

/// `function in module` (or file name); either part alone if the other is
/// missing; `None` if the frame has neither.
fn frame_culprit(frame: &Value) -> Option<String> {
    let function = non_empty_str(frame.get("function"));
    let location = non_empty_str(frame.get("module"))
        .or_else(|| non_empty_str(frame.get("filename")))
        .or_else(|| non_empty_str(frame.get("abs_path")));
    match (function, location) {
        (Some(f), Some(l)) => Some(format!("{f} in {l}")),
        (Some(f), None) => Some(f.to_owned()),
        (None, Some(l)) => Some(l.to_owned()),
        (None, None) => None,
    }
}

fn user_key(user: Option<&Value>) -> Option<UserKey> {
    let user = user?;
    if let Some(id) = scalar_text(user.get("id")) {
        return Some(UserKey(format!("id:{id}")));
    }
    if let Some(email) = non_empty_str(user.get("email")) {
        return Some(UserKey(format!("email:{email}")));
    }
    if let Some(name) = scalar_text(user.get("username")) {
        return Some(UserKey(format!("username:{name}")));
    }
    // `{{auto}}` asks the server to fill in the client address; it is not an
    // identity by itself.
    let ip = non_empty_str(user.get("ip_address")).filter(|ip| !ip.starts_with("{{"))?;
    Some(UserKey(format!("ip:{ip}")))
}

/// `name version`, or just `name`, of a context object.
fn name_version(ctx: Option<&Value>) -> Option<String> {
    let ctx = ctx?;
    let name = scalar_text(ctx.get("name"))?;
    match scalar_text(ctx.get("version")) {
        Some(version) => Some(format!("{name} {version}")),
        None => Some(name.into_owned()),
    }
}

fn push_tag(tags: &mut Vec<(String, String)>, key: &str, value: &str) {
    let key = key.trim();
    let value = value.trim();
    if key.is_empty() || value.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS {
        return;
    }
    tags.push((key.to_owned(), truncate_chars(value, MAX_TAG_VALUE_CHARS)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(n: u32) -> Value {
        let path = format!(
            "{}/tests/data/req_{n:03}.event.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn tag<'a>(s: &'a EventSummary, key: &str) -> Option<&'a str> {
        s.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn fixture_001_keyerror() {
        let s = summarize(&fixture(1));
        assert!(s.title.starts_with("KeyError: 'missing-0'"), "{}", s.title);
        assert_eq!(s.title, "KeyError: 'missing-0'");
        assert_eq!(s.culprit, "load_order in shopbot.handlers");
        assert_eq!(
            s.top_frame.as_deref(),
            Some("shopbot/handlers.py:8 in load_order")
        );
        assert_eq!(
            s.event_id.as_deref(),
            Some("4896a11f19624a2b9c8d46e6805006e0")
        );
        assert_eq!(s.level, "error");
        assert_eq!(s.platform, "python");
        let ts = s.timestamp.unwrap();
        assert!((ts - 1_795_430_076.156_822).abs() < 1e-3, "{ts}");
        assert_eq!(s.exception_type.as_deref(), Some("KeyError"));
        assert_eq!(s.exception_value.as_deref(), Some("'missing-0'"));
        assert_eq!(s.message, None);
        assert_eq!(s.release.as_deref(), Some("shopbot@1.4.2"));
        assert_eq!(s.environment.as_deref(), Some("production"));
        assert_eq!(s.server_name.as_deref(), Some("bot-1"));
        assert_eq!(s.transaction, None);
        assert_eq!(s.user, Some(UserKey("id:123".into())));
        assert_eq!(s.sdk_name.as_deref(), Some("sentry.python.django"));
        assert_eq!(s.sdk_version.as_deref(), Some("2.75.0"));
        assert_eq!(
            s.trace_id.as_deref(),
            Some("0f3a5cc6841c426e8c90fa0861dcdd8d")
        );
        let expected: Vec<(String, String)> = [
            ("environment", "production"),
            ("level", "error"),
            ("release", "shopbot@1.4.2"),
            ("request_id", "req_123"),
            ("runtime", "CPython 3.11.7"),
            ("server_name", "bot-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(s.tags, expected);
    }

    #[test]
    fn fixtures_titles_and_culprits() {
        let s2 = summarize(&fixture(2));
        assert_eq!(s2.title, "KeyError: 'missing-1'");
        assert_eq!(s2.culprit, "load_order in shopbot.handlers");
        // Chained: the outermost exception is the last one.
        let s4 = summarize(&fixture(4));
        assert_eq!(s4.title, "RuntimeError: Failed to save task 7");
        assert_eq!(s4.culprit, "save_task in shopbot.handlers");
        let s5 = summarize(&fixture(5));
        assert_eq!(s5.title, "ValueError: amount 150 over limit for user 77");
        assert_eq!(s5.culprit, "charge in shopbot.handlers");
        let s7 = summarize(&fixture(7));
        assert_eq!(s7.title, "Task has excessive tag count");
        assert_eq!(s7.message.as_deref(), Some("Task has excessive tag count"));
        assert_eq!(s7.level, "warning");
        assert_eq!(s7.culprit, "");
        assert_eq!(s7.exception_type, None);
    }

    #[test]
    fn empty_event() {
        for e in [json!({}), json!(null), json!([1, 2]), json!("x")] {
            let s = summarize(&e);
            assert_eq!(s.level, "error");
            assert_eq!(s.platform, "other");
            assert_eq!(s.title, UNLABELED_TITLE);
            assert_eq!(s.culprit, "");
            assert_eq!(s.tags, vec![("level".to_string(), "error".to_string())]);
            assert_eq!(s.event_id, None);
            assert_eq!(s.timestamp, None);
            assert_eq!(s.user, None);
        }
    }

    #[test]
    fn wrong_types_are_ignored() {
        let e = json!({
            "event_id": 5,
            "level": ["error"],
            "platform": {},
            "timestamp": {"x": 1},
            "exception": {"values": [{"type": 5, "value": null, "stacktrace": {"frames": 7}}]},
            "message": 12,
            "release": [],
            "environment": null,
            "server_name": true,
            "transaction": {"name": "x"},
            "user": "bob",
            "tags": "a=b",
            "sdk": "python",
            "contexts": {"trace": "x", "browser": [], "os": {"name": 3}}
        });
        let s = summarize(&e);
        assert_eq!(s.level, "error");
        assert_eq!(s.platform, "other");
        assert_eq!(s.timestamp, None);
        assert_eq!(s.exception_type.as_deref(), Some("5"));
        assert_eq!(s.title, "5");
        assert_eq!(s.release, None);
        assert_eq!(s.environment, None);
        assert_eq!(s.server_name.as_deref(), Some("true"));
        assert_eq!(s.transaction, None);
        assert_eq!(s.user, None);
        assert_eq!(s.sdk_name, None);
        assert_eq!(s.trace_id, None);
        assert_eq!(tag(&s, "os"), Some("3"));
        assert_eq!(tag(&s, "browser"), None);
    }

    #[test]
    fn levels() {
        for (input, out) in [
            ("fatal", "fatal"),
            ("CRITICAL", "fatal"),
            ("warn", "warning"),
            ("Warning", "warning"),
            ("info", "info"),
            ("log", "info"),
            ("debug", "debug"),
            ("error", "error"),
            ("bogus", "error"),
            ("", "error"),
        ] {
            assert_eq!(normalize_level(input), out, "{input}");
        }
        assert_eq!(summarize(&json!({"level": "warn"})).level, "warning");
    }

    #[test]
    fn timestamps() {
        let ts = |v: Value| summarize(&json!({ "timestamp": v })).timestamp;
        assert_eq!(ts(json!(1_700_000_000.5)), Some(1_700_000_000.5));
        assert_eq!(ts(json!(1_700_000_000)), Some(1_700_000_000.0));
        assert_eq!(ts(json!("1700000000.25")), Some(1_700_000_000.25));
        assert_eq!(ts(json!("2023-11-14T22:13:20Z")), Some(1_700_000_000.0));
        assert_eq!(
            ts(json!("2023-11-14T23:13:20.5+01:00")),
            Some(1_700_000_000.5)
        );
        assert_eq!(ts(json!("2023-11-14T22:13:20.5")), Some(1_700_000_000.5));
        assert_eq!(ts(json!("yesterday")), None);
        assert_eq!(ts(json!("NaN")), None);
        assert_eq!(ts(json!("inf")), None);
    }

    #[test]
    fn event_ids() {
        let id = |v: Value| summarize(&json!({ "event_id": v })).event_id;
        assert_eq!(
            id(json!("4896A11F-1962-4A2B-9C8D-46E6805006E0")).as_deref(),
            Some("4896a11f19624a2b9c8d46e6805006e0")
        );
        assert_eq!(id(json!("not-an-id")), None);
    }

    #[test]
    fn titles() {
        let t = |e: Value| summarize(&e).title;
        assert_eq!(
            t(json!({"exception": {"values": [{"type": "E", "value": ""}]}})),
            "E"
        );
        assert_eq!(
            t(json!({"exception": [{"type": "E", "value": "line one\nline two"}]})),
            "E: line one"
        );
        assert_eq!(
            t(json!({"exception": {"values": [{"value": "only value"}]}})),
            "only value"
        );
        assert_eq!(
            t(json!({"exception": {"values": [{}]}, "message": "\n  msg first\nsecond"})),
            "msg first"
        );
        assert_eq!(
            t(json!({"logentry": {"message": "user %s", "params": ["x"], "formatted": "user x"}})),
            "user x"
        );
        assert_eq!(t(json!({"message": {"message": "obj msg"}})), "obj msg");
        let long = t(json!({"message": "é".repeat(500)}));
        assert_eq!(long.chars().count(), MAX_TITLE_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn culprits() {
        let c = |e: Value| summarize(&e).culprit;
        // Innermost in-app frame, module preferred over filename.
        assert_eq!(
            c(json!({"exception": {"values": [{"stacktrace": {"frames": [
                {"function": "a", "module": "m", "in_app": true},
                {"function": "b", "filename": "src/x.js", "in_app": true},
                {"function": "lib", "module": "lib", "in_app": false}
            ]}}]}})),
            "b in src/x.js"
        );
        // No in-app frame: the innermost frame.
        assert_eq!(
            c(json!({"exception": {"values": [{"stacktrace": {"frames": [
                {"function": "a", "module": "m"}, {"function": "lib", "module": "lib"}
            ]}}]}})),
            "lib in lib"
        );
        // Frames of a message event.
        assert_eq!(
            c(json!({"stacktrace": {"frames": [{"function": "tick"}]}})),
            "tick"
        );
        assert_eq!(
            c(json!({"culprit": "legacy", "transaction": "/t"})),
            "legacy"
        );
        assert_eq!(c(json!({"transaction": "/checkout"})), "/checkout");
    }

    #[test]
    fn users() {
        let u = |v: Value| summarize(&json!({ "user": v })).user.map(|k| k.0);
        assert_eq!(
            u(json!({"id": 42, "email": "a@b.c"})).as_deref(),
            Some("id:42")
        );
        assert_eq!(
            u(json!({"id": "", "email": "a@b.c"})).as_deref(),
            Some("email:a@b.c")
        );
        assert_eq!(
            u(json!({"username": "bob"})).as_deref(),
            Some("username:bob")
        );
        assert_eq!(
            u(json!({"ip_address": "10.0.0.1"})).as_deref(),
            Some("ip:10.0.0.1")
        );
        assert_eq!(u(json!({"ip_address": "{{auto}}"})), None);
        assert_eq!(u(json!({})), None);
    }

    #[test]
    fn tags_are_merged_sorted_deduped_and_limited() {
        let e = json!({
            "level": "info",
            "release": "r1",
            "transaction": "/t",
            "tags": [["zeta", "1"], ["alpha", 2], ["alpha", "dup"], ["level", "spoofed"],
                     ["k".repeat(33), "too long key"], ["long", "v".repeat(300)],
                     {"key": "obj", "value": true}, ["bad"], ["empty", ""], ["null", null]],
            "contexts": {
                "browser": {"name": "Chrome", "version": "120.0"},
                "client_os": {"name": "Windows", "version": "10"},
                "runtime": {"name": "node"}
            }
        });
        let s = summarize(&e);
        let keys: Vec<&str> = s.tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "alpha",
                "browser",
                "level",
                "long",
                "obj",
                "os",
                "release",
                "runtime",
                "transaction",
                "zeta"
            ]
        );
        assert_eq!(tag(&s, "alpha"), Some("2"));
        assert_eq!(tag(&s, "level"), Some("info"));
        assert_eq!(tag(&s, "browser"), Some("Chrome 120.0"));
        assert_eq!(tag(&s, "os"), Some("Windows 10"));
        assert_eq!(tag(&s, "runtime"), Some("node"));
        assert_eq!(tag(&s, "obj"), Some("true"));
        assert_eq!(
            tag(&s, "long").unwrap().chars().count(),
            MAX_TAG_VALUE_CHARS
        );
        // contexts.os wins over client_os.
        let s = summarize(&json!({"contexts": {
            "os": {"name": "Linux", "version": "6.1"}, "client_os": {"name": "Windows"}}}));
        assert_eq!(tag(&s, "os"), Some("Linux 6.1"));
    }

    #[test]
    fn top_frame_prefers_the_innermost_in_app_frame_and_falls_back() {
        let ev = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"filename": "app.py", "lineno": 3, "function": "main", "in_app": true},
            {"filename": "lib/site.py", "lineno": 99, "function": "call", "in_app": false}
        ]}}]}});
        assert_eq!(
            summarize(&ev).top_frame.as_deref(),
            Some("app.py:3 in main")
        );
        let no_app = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"module": "lib.site", "function": "call", "in_app": false}
        ]}}]}});
        assert_eq!(
            summarize(&no_app).top_frame.as_deref(),
            Some("lib.site in call")
        );
        assert_eq!(summarize(&json!({"message": "hi"})).top_frame, None);
    }
}
