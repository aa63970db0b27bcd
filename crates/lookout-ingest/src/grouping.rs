//! Deterministic, Sentry-like default grouping of error events into issues.
//!
//! [`compute_grouping`] turns an event (the JSON payload of an `event` item)
//! into a 32-character grouping hash. Events with the same hash belong to the
//! same issue. The rules, in order of precedence:
//!
//! 1. a custom `fingerprint` sent by the SDK (`{{ default }}` expands to the
//!    hash computed by rules 2–5);
//! 2. the stack trace(s) of the exception chain: exception types plus, per
//!    frame, module (or file name) and normalised function name — never line
//!    numbers or source context;
//! 3. the exception types and normalised values;
//! 4. the normalised log message;
//! 5. a fallback on level and transaction/culprit.
//!
//! The exact hash input encoding is documented in `docs/grouping.md`. Any
//! change that alters a hash for some event must bump [`GROUPING_VERSION`].

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::normalize::{normalize_function_name, normalize_message};
use crate::summary::normalize_level;

/// Identifier of the grouping algorithm implemented here. Stored with each
/// issue; bump it whenever the hash of any event would change.
pub const GROUPING_VERSION: &str = "lookout-1";

/// The value hashed for events that have no usable stack trace, exception
/// or message.
const NO_MESSAGE: &str = "<no message>";

/// Which rule produced a [`Grouping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupingMethod {
    /// The SDK sent a custom `fingerprint`.
    Fingerprint,
    /// Exception types plus in-app (or all) stack frames.
    Stacktrace,
    /// Exception types plus normalised exception values (no usable frames).
    Exception,
    /// Normalised log message.
    Message,
    /// Nothing usable: level plus transaction/culprit.
    Fallback,
}

impl GroupingMethod {
    /// Stable lower-case name, also used as part of the hash input.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupingMethod::Fingerprint => "fingerprint",
            GroupingMethod::Stacktrace => "stacktrace",
            GroupingMethod::Exception => "exception",
            GroupingMethod::Message => "message",
            GroupingMethod::Fallback => "fallback",
        }
    }
}

/// Result of grouping one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// 32 lowercase hex characters: the first 16 bytes of a SHA-256 over the
    /// encoded components.
    pub hash: String,
    /// The grouping algorithm version, always [`GROUPING_VERSION`].
    pub version: &'static str,
    /// The rule that produced the hash.
    pub method: GroupingMethod,
    /// Human-readable form of the hashed records, one per record, in order
    /// (`"frame: shopbot.handlers | load_order"`). For debugging and display
    /// only; the hash is computed over the unambiguous encoding, not over
    /// these strings.
    pub components: Vec<String>,
}

/// Compute the grouping hash of an event. Never panics, whatever the shape
/// of `event`.
pub fn compute_grouping(event: &Value) -> Grouping {
    if let Some(g) = fingerprint_grouping(event) {
        return g;
    }
    default_grouping(event)
}

/// Incremental hash input: a sequence of length-prefixed fields.
struct Builder {
    hasher: Sha256,
    method: GroupingMethod,
    components: Vec<String>,
}

impl Builder {
    fn new(method: GroupingMethod) -> Self {
        let mut b = Builder {
            hasher: Sha256::new(),
            method,
            components: Vec::new(),
        };
        b.field(GROUPING_VERSION);
        b.field(method.as_str());
        b
    }

    fn field(&mut self, s: &str) {
        self.hasher.update((s.len() as u64).to_be_bytes());
        self.hasher.update(s.as_bytes());
    }

    /// A record is a tag followed by a fixed number of fields (the arity is
    /// implied by the tag), which keeps the encoding unambiguous.
    fn record(&mut self, tag: &str, fields: &[&str]) {
        self.field(tag);
        for f in fields {
            self.field(f);
        }
        self.components
            .push(format!("{tag}: {}", fields.join(" | ")));
    }

    fn finish(self) -> Grouping {
        let digest = self.hasher.finalize();
        Grouping {
            hash: hex::encode(&digest[..16]),
            version: GROUPING_VERSION,
            method: self.method,
            components: self.components,
        }
    }
}

// ---------------------------------------------------------------------------
// Rule 1: custom fingerprint

fn fingerprint_grouping(event: &Value) -> Option<Grouping> {
    let entries: &[Value] = match event.get("fingerprint")? {
        Value::Array(a) if !a.is_empty() => a,
        v @ Value::String(_) => std::slice::from_ref(v),
        _ => return None,
    };
    let is_default = |v: &Value| v.as_str().is_some_and(is_default_placeholder);
    if entries.iter().all(is_default) {
        // `["{{ default }}"]` is the same as sending no fingerprint.
        return None;
    }
    let default_hash = entries
        .iter()
        .any(is_default)
        .then(|| default_grouping(event).hash);
    let mut b = Builder::new(GroupingMethod::Fingerprint);
    for entry in entries {
        match (entry, &default_hash) {
            (Value::String(s), Some(hash)) if is_default_placeholder(s) => {
                b.record("default", &[hash]);
            }
            (Value::String(s), _) => b.record("value", &[s]),
            (Value::Null, _) => b.record("value", &["null"]),
            (Value::Bool(v), _) => b.record("value", &[if *v { "true" } else { "false" }]),
            (Value::Number(n), _) => b.record("value", &[&n.to_string()]),
            (other, _) => b.record("value", &[&other.to_string()]),
        }
    }
    Some(b.finish())
}

/// `{{ default }}`, with any whitespace inside the braces, case-insensitive.
fn is_default_placeholder(s: &str) -> bool {
    s.trim()
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
        .is_some_and(|inner| inner.trim().eq_ignore_ascii_case("default"))
}

// ---------------------------------------------------------------------------
// Rules 2-5

fn default_grouping(event: &Value) -> Grouping {
    if let Some(g) = stacktrace_grouping(event) {
        return g;
    }
    if let Some(g) = exception_grouping(event) {
        return g;
    }
    if let Some(g) = message_grouping(event) {
        return g;
    }
    fallback_grouping(event)
}

/// What one frame contributes: module-or-file and function.
type FrameKey<'a> = (Cow<'a, str>, String);

fn stacktrace_grouping(event: &Value) -> Option<Grouping> {
    let exceptions = exception_values(event);
    if exceptions.iter().any(Value::is_object) {
        let any_in_app = exceptions
            .iter()
            .flat_map(|e| frames(e.get("stacktrace")))
            .any(is_in_app);
        let per_exception: Vec<(&Value, Vec<FrameKey<'_>>)> = exceptions
            .iter()
            .filter(|e| e.is_object())
            .map(|e| (e, frame_keys(frames(e.get("stacktrace")), any_in_app)))
            .collect();
        if per_exception.iter().all(|(_, keys)| keys.is_empty()) {
            return None;
        }
        let mut b = Builder::new(GroupingMethod::Stacktrace);
        for (exc, keys) in &per_exception {
            let ty = exception_type(exc);
            if keys.is_empty() {
                let value = normalize_message(&exception_value(exc));
                b.record("exception", &[&ty, &value]);
            } else {
                b.record("type", &[&ty]);
                for (module, function) in keys {
                    b.record("frame", &[module, function]);
                }
            }
        }
        return Some(b.finish());
    }

    // No exception: a stack trace attached to a message event.
    let frames = event_stacktrace_frames(event)?;
    let any_in_app = frames.iter().any(is_in_app);
    let keys = frame_keys(frames, any_in_app);
    if keys.is_empty() {
        return None;
    }
    let mut b = Builder::new(GroupingMethod::Stacktrace);
    for (module, function) in &keys {
        b.record("frame", &[module, function]);
    }
    // Two different messages logged from the same function must not merge.
    if let Some(msg) = grouping_message(event) {
        let msg = normalize_message(msg);
        if !msg.is_empty() {
            b.record("message", &[&msg]);
        }
    }
    Some(b.finish())
}

/// The contributing frames of one stack trace: in-app frames only unless
/// `use_all` says no frame of the event is in-app; frames contributing
/// nothing are skipped and consecutive identical contributions (recursion)
/// are collapsed into one.
fn frame_keys(frames: &[Value], any_in_app: bool) -> Vec<FrameKey<'_>> {
    let mut keys: Vec<FrameKey<'_>> = Vec::new();
    for frame in frames {
        if any_in_app && !is_in_app(frame) {
            continue;
        }
        let Some(key) = frame_key(frame) else {
            continue;
        };
        if keys.last() != Some(&key) {
            keys.push(key);
        }
    }
    keys
}

fn frame_key(frame: &Value) -> Option<FrameKey<'_>> {
    let module = match non_empty_str(frame.get("module")) {
        Some(m) => Cow::Owned(normalize_function_name(m)),
        None => non_empty_str(frame.get("filename"))
            .or_else(|| non_empty_str(frame.get("abs_path")))
            .map(basename)
            .map(Cow::Borrowed)
            .unwrap_or_default(),
    };
    let function = non_empty_str(frame.get("function"))
        .map(normalize_function_name)
        .unwrap_or_default();
    if module.is_empty() && function.is_empty() {
        None
    } else {
        Some((module, function))
    }
}

/// Last path segment of a file name or URL, without query or fragment.
fn basename(path: &str) -> &str {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let path = path.trim_end_matches(['/', '\\']);
    path.rsplit(['/', '\\']).next().unwrap_or(path).trim()
}

fn exception_grouping(event: &Value) -> Option<Grouping> {
    let mut b = Builder::new(GroupingMethod::Exception);
    for exc in exception_values(event) {
        if !exc.is_object() {
            continue;
        }
        let ty = exception_type(exc);
        let value = normalize_message(&exception_value(exc));
        if ty.is_empty() && value.is_empty() {
            continue;
        }
        b.record("exception", &[&ty, &value]);
    }
    (!b.components.is_empty()).then(|| b.finish())
}

fn message_grouping(event: &Value) -> Option<Grouping> {
    let msg = normalize_message(grouping_message(event)?);
    if msg.is_empty() {
        return None;
    }
    let mut b = Builder::new(GroupingMethod::Message);
    b.record("message", &[&msg]);
    Some(b.finish())
}

fn fallback_grouping(event: &Value) -> Grouping {
    let level = event
        .get("level")
        .and_then(Value::as_str)
        .map_or("error", normalize_level);
    let culprit = non_empty_str(event.get("transaction"))
        .or_else(|| non_empty_str(event.get("culprit")))
        .unwrap_or("");
    let mut b = Builder::new(GroupingMethod::Fallback);
    b.record("level", &[level]);
    b.record("culprit", &[culprit]);
    b.record("message", &[NO_MESSAGE]);
    b.finish()
}

// ---------------------------------------------------------------------------
// Event accessors shared with `summary`. All are total: wrong JSON types read
// as "absent".

/// A string field, trimmed, if present and non-empty.
pub(crate) fn non_empty_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `exception.values` (or a bare `exception` array); empty if absent.
pub(crate) fn exception_values(event: &Value) -> &[Value] {
    match event.get("exception") {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(a)) => a,
            _ => &[],
        },
        _ => &[],
    }
}

/// `stacktrace.frames`; empty if absent.
pub(crate) fn frames(stacktrace: Option<&Value>) -> &[Value] {
    match stacktrace.and_then(|s| s.get("frames")) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// `in_app: true` exactly.
pub(crate) fn is_in_app(frame: &Value) -> bool {
    frame.get("in_app") == Some(&Value::Bool(true))
}

/// An exception's `type`, trimmed (empty if absent).
pub(crate) fn exception_type(exc: &Value) -> Cow<'_, str> {
    scalar_text(exc.get("type")).unwrap_or_default()
}

/// An exception's `value` (empty if absent). Numbers and booleans are
/// stringified.
pub(crate) fn exception_value(exc: &Value) -> Cow<'_, str> {
    scalar_text(exc.get("value")).unwrap_or_default()
}

/// Strings (trimmed, non-empty), numbers and booleans as text.
pub(crate) fn scalar_text(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then_some(Cow::Borrowed(s))
        }
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// The frames of the stack trace of an event without exception: the
/// top-level `stacktrace`, else the crashed thread, else the current thread,
/// else the only thread that has a stack trace.
pub(crate) fn event_stacktrace_frames(event: &Value) -> Option<&[Value]> {
    let top = frames(event.get("stacktrace"));
    if !top.is_empty() {
        return Some(top);
    }
    let threads: &[Value] = match event.get("threads") {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(a)) => a,
            _ => return None,
        },
        _ => return None,
    };
    let with_frames = || {
        threads
            .iter()
            .map(|t| (t, frames(t.get("stacktrace"))))
            .filter(|(_, f)| !f.is_empty())
    };
    let flag = |t: &Value, name: &str| t.get(name) == Some(&Value::Bool(true));
    if let Some((_, f)) = with_frames().find(|(t, _)| flag(t, "crashed")) {
        return Some(f);
    }
    if let Some((_, f)) = with_frames().find(|(t, _)| flag(t, "current")) {
        return Some(f);
    }
    let mut it = with_frames();
    match (it.next(), it.next()) {
        (Some((_, f)), None) => Some(f),
        _ => None,
    }
}

/// The message used for grouping: the `logentry.message` template when
/// `logentry.params` is non-empty (so parameters never split issues), else
/// the formatted message (see [`display_message`]).
pub(crate) fn grouping_message(event: &Value) -> Option<&str> {
    if let Some(logentry) = event.get("logentry").filter(|l| l.is_object()) {
        let has_params = match logentry.get("params") {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            _ => false,
        };
        if has_params && let Some(template) = non_empty_str(logentry.get("message")) {
            return Some(template);
        }
    }
    display_message(event)
}

/// The human-readable message: `logentry.formatted`, else
/// `logentry.message`, else `message` (a string, or an object with
/// `formatted`/`message`).
pub(crate) fn display_message(event: &Value) -> Option<&str> {
    fn from_obj(o: &Value) -> Option<&str> {
        non_empty_str(o.get("formatted")).or_else(|| non_empty_str(o.get("message")))
    }
    if let Some(m) = event.get("logentry").and_then(from_obj) {
        return Some(m);
    }
    match event.get("message") {
        Some(Value::String(s)) => Some(s.trim()).filter(|s| !s.is_empty()),
        Some(o @ Value::Object(_)) => from_obj(o),
        _ => None,
    }
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

    fn hash(event: &Value) -> String {
        compute_grouping(event).hash
    }

    fn small_event() -> Value {
        json!({
            "platform": "python",
            "exception": {"values": [{
                "type": "KeyError",
                "value": "'missing-0'",
                "stacktrace": {"frames": [
                    {"module": "__main__", "function": "<module>", "lineno": 1},
                    {"module": "app.handlers", "function": "handle", "lineno": 10,
                     "context_line": "    return load(x)", "in_app": true},
                    {"module": "app.handlers", "function": "load", "lineno": 5,
                     "context_line": "    return items[x]", "in_app": true}
                ]}
            }]}
        })
    }

    #[test]
    fn fixtures_group_into_four_issues() {
        let events: Vec<Value> = (1..=7).map(fixture).collect();
        let g: Vec<Grouping> = events.iter().map(compute_grouping).collect();
        for x in &g {
            assert_eq!(x.hash.len(), 32);
            assert!(
                x.hash
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
            assert_eq!(x.version, GROUPING_VERSION);
        }
        // Three KeyErrors from the same code path.
        assert_eq!(g[0].hash, g[1].hash);
        assert_eq!(g[1].hash, g[2].hash);
        assert_eq!(g[0].method, GroupingMethod::Stacktrace);
        // Chained ConnectionError -> RuntimeError.
        assert_ne!(g[3].hash, g[0].hash);
        assert_eq!(g[3].method, GroupingMethod::Stacktrace);
        // Custom fingerprint ["{{ default }}", "charge-limit"].
        assert_eq!(g[4].hash, g[5].hash);
        assert_eq!(g[4].method, GroupingMethod::Fingerprint);
        // Message event.
        assert_eq!(g[6].method, GroupingMethod::Message);
        let mut distinct: Vec<&str> = g.iter().map(|x| x.hash.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{g:#?}");

        assert_eq!(
            g[0].components,
            vec![
                "type: KeyError",
                "frame: shopbot.handlers | handle_update",
                "frame: shopbot.handlers | load_order",
            ]
        );
        assert_eq!(
            g[3].components,
            vec![
                "type: ConnectionError",
                "frame: shopbot.handlers | save_task",
                "frame: shopbot.handlers | db_call",
                "type: RuntimeError",
                "frame: shopbot.handlers | save_task",
            ]
        );
        assert_eq!(
            g[6].components,
            vec!["message: Task has excessive tag count"]
        );
        // The fingerprint embeds the default hash of the event.
        let mut without_fp = events[4].clone();
        without_fp.as_object_mut().unwrap().remove("fingerprint");
        let default = compute_grouping(&without_fp);
        assert_eq!(
            g[4].components,
            vec![
                format!("default: {}", default.hash),
                "value: charge-limit".into()
            ]
        );
    }

    #[test]
    fn fixture_001_hash_is_stable() {
        // Same value as the worked example in docs/grouping.md.
        assert_eq!(hash(&fixture(1)), "80103e8b864d960caddfb81826525099");
    }

    #[test]
    fn literal_hash_is_stable() {
        // Changing this value means the algorithm changed: bump
        // GROUPING_VERSION and update docs/grouping.md.
        assert_eq!(hash(&small_event()), "2ce537398a8bb438a6dfd3e1b17a9eee");
    }

    #[test]
    fn line_numbers_and_context_do_not_matter() {
        let base = small_event();
        let mut e = base.clone();
        for f in e["exception"]["values"][0]["stacktrace"]["frames"]
            .as_array_mut()
            .unwrap()
        {
            f["lineno"] = json!(999);
            f["colno"] = json!(7);
            f["context_line"] = json!("something else entirely");
            f["pre_context"] = json!(["a", "b"]);
            f["vars"] = json!({"x": "42"});
        }
        e["exception"]["values"][0]["value"] = json!("'other-key'");
        assert_eq!(hash(&e), hash(&base));
    }

    #[test]
    fn in_app_function_name_matters() {
        let base = small_event();
        let mut e = base.clone();
        e["exception"]["values"][0]["stacktrace"]["frames"][2]["function"] = json!("load2");
        assert_ne!(hash(&e), hash(&base));
    }

    #[test]
    fn non_in_app_frames_are_ignored_when_some_are_in_app() {
        let base = small_event();
        let mut e = base.clone();
        e["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] = json!("other");
        assert_eq!(hash(&e), hash(&base));
    }

    #[test]
    fn exception_type_matters() {
        let base = small_event();
        let mut e = base.clone();
        e["exception"]["values"][0]["type"] = json!("IndexError");
        assert_ne!(hash(&e), hash(&base));
    }

    #[test]
    fn all_frames_used_when_none_in_app() {
        let mut a = small_event();
        for f in a["exception"]["values"][0]["stacktrace"]["frames"]
            .as_array_mut()
            .unwrap()
        {
            f.as_object_mut().unwrap().remove("in_app");
        }
        let g = compute_grouping(&a);
        assert_eq!(g.method, GroupingMethod::Stacktrace);
        assert_eq!(g.components.len(), 4);
        let mut b = a.clone();
        b["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] = json!("other");
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn frame_contribution_fallbacks() {
        let e = json!({"exception": [{
            "type": "TypeError",
            "stacktrace": {"frames": [
                {"filename": "https://cdn.example.com/static/app.js?v=3", "function": "?"},
                {"abs_path": "C:\\src\\lib\\util.ts", "function": "Foo$$Lambda$12/0x00000008000c1234"},
                {"lineno": 3},
                {"module": "", "filename": "", "function": ""},
                {"module": "m", "function": "recurse", "in_app": false},
                {"module": "m", "function": "recurse"},
                {"module": "m", "function": "recurse"}
            ]}
        }]});
        let g = compute_grouping(&e);
        assert_eq!(
            g.components,
            vec![
                "type: TypeError",
                "frame: app.js | ?",
                "frame: util.ts | Foo$$Lambda",
                "frame: m | recurse",
            ]
        );
    }

    #[test]
    fn frameless_exception_values_are_normalised() {
        let a = json!({"exception": {"values": [{"type": "ValueError",
            "value": "user 42 not found (id 550e8400-e29b-41d4-a716-446655440000)"}]}});
        let b = json!({"exception": {"values": [{"type": "ValueError",
            "value": "user 7 not found (id 123e4567-e89b-12d3-a456-426614174000)"}]}});
        let c = json!({"exception": {"values": [{"type": "ValueError",
            "value": "order 7 not found"}]}});
        let ga = compute_grouping(&a);
        assert_eq!(ga.method, GroupingMethod::Exception);
        assert_eq!(
            ga.components,
            vec!["exception: ValueError | user <num> not found (id <uuid>)"]
        );
        assert_eq!(ga.hash, hash(&b));
        assert_ne!(ga.hash, hash(&c));
        // Frames without any contribution count as no stack trace.
        let d = json!({"exception": {"values": [{"type": "ValueError",
            "value": "user 9 not found (id 00000000-0000-0000-0000-000000000000)",
            "stacktrace": {"frames": [{"lineno": 1}, {"instruction_addr": "0x1"}]}}]}});
        assert_eq!(hash(&d), ga.hash);
    }

    #[test]
    fn messages_with_different_numbers_group_together() {
        let a = json!({"message": "Charge 120.50 exceeds limit for order 17"});
        let b = json!({"message": {"formatted": "Charge 99 exceeds limit for order 18"}});
        let c = json!({"logentry": {"formatted": "Charge 5 exceeds limit for order 1"}});
        assert_eq!(compute_grouping(&a).method, GroupingMethod::Message);
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(hash(&a), hash(&c));
        assert_ne!(hash(&a), hash(&json!({"message": "Something else"})));
    }

    #[test]
    fn logentry_template_is_preferred_when_params_present() {
        let a = json!({"logentry": {"message": "user %s logged in", "params": ["bob"],
            "formatted": "user bob logged in"}});
        let b = json!({"logentry": {"message": "user %s logged in", "params": ["alice"],
            "formatted": "user alice logged in"}});
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(
            compute_grouping(&a).components,
            vec!["message: user %s logged in"]
        );
        // Without params, the formatted message is used.
        let c = json!({"logentry": {"message": "user %s", "params": [], "formatted": "user bob"}});
        assert_eq!(compute_grouping(&c).components, vec!["message: user bob"]);
    }

    #[test]
    fn thread_stacktrace_is_used_without_exception() {
        let frames = json!({"frames": [{"module": "app", "function": "tick", "in_app": true}]});
        let a = json!({"message": "slow tick 120ms",
            "threads": {"values": [{"id": 1, "current": true, "stacktrace": frames}]}});
        let b = json!({"message": "slow tick 80ms",
            "threads": {"values": [{"id": 2, "current": true, "stacktrace": frames}]}});
        let c = json!({"message": "another message",
            "threads": {"values": [{"id": 1, "current": true, "stacktrace": frames}]}});
        let ga = compute_grouping(&a);
        assert_eq!(ga.method, GroupingMethod::Stacktrace);
        assert_eq!(ga.hash, hash(&b));
        assert_ne!(ga.hash, hash(&c));
        // Ambiguous threads (none crashed/current) are not used.
        let d = json!({"message": "slow tick 1ms", "threads": {"values": [
            {"stacktrace": frames}, {"stacktrace": frames}]}});
        assert_eq!(compute_grouping(&d).method, GroupingMethod::Message);
    }

    #[test]
    fn fingerprint_default_expansion() {
        let base = small_event();
        let default = compute_grouping(&base);

        let mut with_default = base.clone();
        with_default["fingerprint"] = json!(["{{ default }}", "extra"]);
        let g = compute_grouping(&with_default);
        assert_eq!(g.method, GroupingMethod::Fingerprint);
        assert_ne!(g.hash, default.hash);
        assert_eq!(
            g.components,
            vec![format!("default: {}", default.hash), "value: extra".into()]
        );
        // Whitespace/case inside the braces does not matter; it is stable.
        let mut tight = base.clone();
        tight["fingerprint"] = json!(["{{default}}", "extra"]);
        assert_eq!(hash(&tight), g.hash);
        let mut spaced = base.clone();
        spaced["fingerprint"] = json!(["{{  Default }}", "extra"]);
        assert_eq!(hash(&spaced), g.hash);
        // The default part follows the event.
        let mut other = with_default.clone();
        other["exception"]["values"][0]["type"] = json!("IndexError");
        assert_ne!(hash(&other), g.hash);

        // Only `{{ default }}` is the same as no fingerprint.
        let mut only = base.clone();
        only["fingerprint"] = json!(["{{ default }}"]);
        assert_eq!(compute_grouping(&only), default);
        // Empty or wrongly typed fingerprints are ignored.
        let mut empty = base.clone();
        empty["fingerprint"] = json!([]);
        assert_eq!(hash(&empty), default.hash);
        let mut wrong = base.clone();
        wrong["fingerprint"] = json!({"a": 1});
        assert_eq!(hash(&wrong), default.hash);
    }

    #[test]
    fn fingerprint_without_default_ignores_event_content() {
        let a = json!({"fingerprint": ["db-down", 42, true, null], "message": "one"});
        let b = json!({"fingerprint": ["db-down", 42, true, null],
            "exception": {"values": [{"type": "X"}]}});
        let ga = compute_grouping(&a);
        assert_eq!(ga.hash, hash(&b));
        assert_eq!(
            ga.components,
            vec!["value: db-down", "value: 42", "value: true", "value: null"]
        );
        // Stringified entries are distinct from different strings but the
        // encoding keeps entry boundaries: ["a b"] != ["a", "b"].
        let c = json!({"fingerprint": ["a b"]});
        let d = json!({"fingerprint": ["a", "b"]});
        let e = json!({"fingerprint": ["ab"]});
        assert_ne!(hash(&c), hash(&d));
        assert_ne!(hash(&d), hash(&e));
        // A single string is accepted as a one-entry fingerprint.
        assert_eq!(
            hash(&json!({"fingerprint": "db-down"})),
            hash(&json!({"fingerprint": ["db-down"]}))
        );
    }

    #[test]
    fn fallback_is_deterministic() {
        let a = json!({"level": "warn", "transaction": "/checkout"});
        let g = compute_grouping(&a);
        assert_eq!(g.method, GroupingMethod::Fallback);
        assert_eq!(
            g.components,
            vec![
                "level: warning",
                "culprit: /checkout",
                "message: <no message>"
            ]
        );
        assert_eq!(
            g.hash,
            hash(&json!({"level": "warning", "transaction": "/checkout"}))
        );
        assert_ne!(
            g.hash,
            hash(&json!({"level": "error", "transaction": "/checkout"}))
        );
        assert_eq!(hash(&json!({})), hash(&json!({"message": "   "})));
        assert_eq!(
            compute_grouping(&json!(null)).method,
            GroupingMethod::Fallback
        );
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        let mut deep = json!("leaf");
        for _ in 0..100 {
            deep = json!({"exception": {"values": [deep]}, "stacktrace": {"frames": [1]}});
        }
        let shapes = vec![
            json!(null),
            json!([]),
            json!("string"),
            json!(42),
            json!({"exception": "x"}),
            json!({"exception": {"values": "x"}}),
            json!({"exception": {"values": [null, 1, "x", [], {"stacktrace": "x"}]}}),
            json!({"exception": {"values": [{"stacktrace": {"frames": [null, 1, {"module": 5, "function": []}]}}]}}),
            json!({"exception": {"values": [{"type": 5, "value": {"a": 1}}]}}),
            json!({"fingerprint": [{"a": [1, 2]}, [], null, "{{ default }}"]}),
            json!({"fingerprint": "{{ default }}"}),
            json!({"threads": {"values": [null, {"stacktrace": {"frames": "x"}}]}}),
            json!({"threads": [{"crashed": "yes", "stacktrace": {"frames": [{"function": "f"}]}}]}),
            json!({"logentry": {"message": 5, "params": {"a": 1}}, "message": ["x"]}),
            json!({"logentry": "x", "level": 3, "transaction": {}}),
            deep,
        ];
        for s in &shapes {
            let g = compute_grouping(s);
            assert_eq!(g.hash.len(), 32);
            assert_eq!(compute_grouping(s), g);
        }
    }
}
