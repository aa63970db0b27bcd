//! Server-side data scrubbing: replaces values stored under sensitive keys
//! (passwords, tokens, cookies, ...) with `"[Filtered]"` before an event is
//! stored.
//!
//! Matching is by *key name* only: a key matches when it contains one of the
//! configured patterns, ASCII case-insensitively and with `-` and `_`
//! treated alike (`X-Api-Key` matches `api_key`). Free text such as log
//! messages, exception values or source context lines is never searched for
//! secrets.
//!
//! Left untouched on purpose:
//! - `sdk`, `fingerprint` and `modules` (SDK metadata, grouping input and
//!   package names);
//! - `type`, `value` and `module` of exceptions and the identifying fields of
//!   stack frames (`function`, `module`, `filename`, `abs_path`, ...), which
//!   grouping relies on. An exception value may contain a secret (for example
//!   an error message that echoes a token); it is kept because it is the
//!   primary description of the problem.
//!
//! Special cases: `request.cookies` is always filtered as a whole;
//! `request.headers` and `request.query_string` may be arrays of
//! `[name, value]` pairs; `request.query_string`, the query part of
//! `request.url` and form-encoded `request.data` strings have their matching
//! `key=value` pairs filtered.

use regex::Regex;
use serde_json::Value;
use serde_json::map::Map;

/// Replacement for scrubbed values.
pub const FILTERED: &str = "[Filtered]";

/// Containers nested deeper than this are replaced by [`FILTERED`] as a
/// whole instead of being walked.
pub const MAX_SCRUB_DEPTH: usize = 64;

/// The default list of sensitive key patterns used by [`Scrubber::default`].
pub const DEFAULT_SCRUB_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_token",
    "auth",
    "authorization",
    "credentials",
    "cookie",
    "set-cookie",
    "session",
    "sessionid",
    "csrf",
    "xsrf",
    "private_key",
    "credit_card",
    "card_number",
    "cvv",
    "ssn",
];

/// Top-level event keys that are never scrubbed.
const SKIPPED_TOP_LEVEL: &[&str] = &["sdk", "fingerprint", "modules"];

/// Exception fields that are never scrubbed.
const PROTECTED_EXCEPTION_KEYS: &[&str] = &["type", "value", "module"];

/// Stack frame fields that are never scrubbed (grouping and display rely on
/// them).
const PROTECTED_FRAME_KEYS: &[&str] = &[
    "filename",
    "abs_path",
    "function",
    "raw_function",
    "module",
    "package",
    "symbol",
    "in_app",
    "lineno",
    "colno",
    "platform",
    "instruction_addr",
];

/// Replaces sensitive values in events. Cheap to share: build once, use for
/// many events.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// Alternation of all patterns; `None` if there are none.
    matcher: Option<Regex>,
}

impl Default for Scrubber {
    /// A scrubber using [`DEFAULT_SCRUB_KEYS`].
    fn default() -> Self {
        Self::from_patterns(DEFAULT_SCRUB_KEYS.iter().copied())
    }
}

impl Scrubber {
    /// A scrubber matching the given key patterns (substring match, ASCII
    /// case-insensitive, `-` and `_` equivalent). Empty patterns are
    /// ignored; an empty list scrubs nothing except `request.cookies`.
    pub fn new(keys: &[String]) -> Scrubber {
        Self::from_patterns(keys.iter().map(String::as_str))
    }

    fn from_patterns<'a>(keys: impl Iterator<Item = &'a str>) -> Scrubber {
        let mut alternatives: Vec<String> = keys
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                let mut alt = String::with_capacity(k.len() + 8);
                for c in k.chars() {
                    if c == '-' || c == '_' {
                        alt.push_str("[-_]");
                    } else {
                        let mut buf = [0; 4];
                        alt.push_str(&regex::escape(c.encode_utf8(&mut buf)));
                    }
                }
                alt
            })
            .collect();
        alternatives.sort();
        alternatives.dedup();
        let matcher = (!alternatives.is_empty()).then(|| {
            // ASCII-only case folding (`-u`) keeps this independent of the
            // regex crate's Unicode case tables.
            let pattern = format!("(?i-u:{})", alternatives.join("|"));
            Regex::new(&pattern)
                .or_else(|_| Regex::new(&format!("(?i:{})", alternatives.join("|"))))
                .or_else(|_| Regex::new(&alternatives.join("|")))
                .expect("escaped literal alternation is a valid regex")
        });
        Scrubber { matcher }
    }

    /// Whether values under `key` are scrubbed.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(key))
    }

    /// Scrub `event` in place. Returns the number of values replaced (each
    /// filtered value, each filtered `key=value` pair and each container cut
    /// at [`MAX_SCRUB_DEPTH`] counts once). Null, empty and already filtered
    /// values are not counted, so scrubbing twice returns 0 the second time.
    pub fn scrub(&self, event: &mut Value) -> usize {
        let mut count = 0;
        match event {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match key.as_str() {
                        k if SKIPPED_TOP_LEVEL.contains(&k) => {}
                        "exception" => self.exception_container(child, 1, &mut count),
                        "threads" => self.threads(child, 1, &mut count),
                        "stacktrace" => self.stacktrace(child, 1, &mut count),
                        "request" if !self.is_sensitive_key(key) => {
                            self.request(child, 1, &mut count)
                        }
                        _ => self.entry(key, child, 1, &mut count),
                    }
                }
            }
            other => self.walk(other, 0, &mut count),
        }
        count
    }

    /// A generic object entry: filter if the key matches, else walk.
    fn entry(&self, key: &str, value: &mut Value, depth: usize, count: &mut usize) {
        if self.is_sensitive_key(key) {
            *count += filter(value);
        } else {
            self.walk(value, depth, count);
        }
    }

    fn walk(&self, value: &mut Value, depth: usize, count: &mut usize) {
        match value {
            Value::Object(map) => {
                if depth >= MAX_SCRUB_DEPTH {
                    *count += filter(value);
                    return;
                }
                for (key, child) in map.iter_mut() {
                    self.entry(key, child, depth + 1, count);
                }
            }
            Value::Array(items) => {
                if depth >= MAX_SCRUB_DEPTH {
                    *count += filter(value);
                    return;
                }
                for child in items {
                    self.walk(child, depth + 1, count);
                }
            }
            _ => {}
        }
    }

    /// Object entries, leaving `protected` keys alone.
    fn entries_except(
        &self,
        map: &mut Map<String, Value>,
        protected: &[&str],
        depth: usize,
        count: &mut usize,
    ) {
        for (key, child) in map.iter_mut() {
            if !protected.contains(&key.as_str()) {
                self.entry(key, child, depth + 1, count);
            }
        }
    }

    fn exception_container(&self, value: &mut Value, depth: usize, count: &mut usize) {
        match value {
            Value::Array(items) => {
                for exc in items {
                    self.exception(exc, depth + 1, count);
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match (key.as_str(), child) {
                        ("values", Value::Array(items)) => {
                            for exc in items {
                                self.exception(exc, depth + 2, count);
                            }
                        }
                        (_, child) => self.entry(key, child, depth + 1, count),
                    }
                }
            }
            other => self.walk(other, depth, count),
        }
    }

    fn exception(&self, value: &mut Value, depth: usize, count: &mut usize) {
        let Value::Object(map) = value else {
            return self.walk(value, depth, count);
        };
        for (key, child) in map.iter_mut() {
            match key.as_str() {
                k if PROTECTED_EXCEPTION_KEYS.contains(&k) => {}
                "stacktrace" | "raw_stacktrace" => self.stacktrace(child, depth + 1, count),
                _ => self.entry(key, child, depth + 1, count),
            }
        }
    }

    fn threads(&self, value: &mut Value, depth: usize, count: &mut usize) {
        let has_values = value.get("values").is_some_and(Value::is_array);
        let threads = match value {
            Value::Array(items) => items,
            Value::Object(map) if has_values => match map.get_mut("values") {
                Some(Value::Array(items)) => items,
                _ => return,
            },
            other => return self.walk(other, depth, count),
        };
        for thread in threads {
            let Value::Object(map) = thread else {
                continue;
            };
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "stacktrace" | "raw_stacktrace" => self.stacktrace(child, depth + 2, count),
                    _ => self.entry(key, child, depth + 2, count),
                }
            }
        }
    }

    fn stacktrace(&self, value: &mut Value, depth: usize, count: &mut usize) {
        let Value::Object(map) = value else {
            return self.walk(value, depth, count);
        };
        for (key, child) in map.iter_mut() {
            match (key.as_str(), child) {
                ("frames", Value::Array(frames)) => {
                    for frame in frames {
                        match frame {
                            Value::Object(f) => {
                                self.entries_except(f, PROTECTED_FRAME_KEYS, depth + 2, count)
                            }
                            other => self.walk(other, depth + 2, count),
                        }
                    }
                }
                (_, child) => self.entry(key, child, depth + 1, count),
            }
        }
    }

    fn request(&self, value: &mut Value, depth: usize, count: &mut usize) {
        let Value::Object(map) = value else {
            return self.walk(value, depth, count);
        };
        for (key, child) in map.iter_mut() {
            if self.is_sensitive_key(key) {
                *count += filter(child);
                continue;
            }
            match (key.as_str(), child) {
                ("cookies", child) => *count += filter(child),
                ("headers" | "query_string", Value::Array(pairs)) => {
                    self.pairs(pairs, depth + 1, count)
                }
                ("query_string", Value::String(s)) => {
                    let s_trimmed = s.strip_prefix('?').unwrap_or(s);
                    if let Some(new) = self.scrub_form(s_trimmed, count) {
                        *s = new;
                    }
                }
                ("data", Value::String(s)) if looks_like_form(s) => {
                    if let Some(new) = self.scrub_form(s, count) {
                        *s = new;
                    }
                }
                ("url", Value::String(s)) => {
                    if let Some(new) = self.scrub_url(s, count) {
                        *s = new;
                    }
                }
                (_, child) => self.walk(child, depth + 1, count),
            }
        }
    }

    /// `[[name, value], ...]` as used for headers and query strings.
    fn pairs(&self, pairs: &mut [Value], depth: usize, count: &mut usize) {
        for pair in pairs {
            match pair {
                Value::Array(kv) if kv.len() == 2 => {
                    let sensitive = kv[0].as_str().is_some_and(|k| self.is_sensitive_key(k));
                    if sensitive {
                        *count += filter(&mut kv[1]);
                    } else {
                        self.walk(&mut kv[1], depth + 2, count);
                    }
                }
                other => self.walk(other, depth + 1, count),
            }
        }
    }

    /// Filter matching pairs of an `a=1&b=2` string; `None` if unchanged.
    fn scrub_form(&self, s: &str, count: &mut usize) -> Option<String> {
        let mut out = String::new();
        let mut changed = false;
        for (i, part) in s.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match part.split_once('=') {
                Some((k, v)) if v != FILTERED && !v.is_empty() && self.is_sensitive_key(k) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(FILTERED);
                    *count += 1;
                    changed = true;
                }
                _ => out.push_str(part),
            }
        }
        changed.then_some(out)
    }

    /// Filter matching query parameters of a URL; `None` if unchanged.
    fn scrub_url(&self, url: &str, count: &mut usize) -> Option<String> {
        let (before, rest) = url.split_once('?')?;
        let (query, fragment) = match rest.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (rest, None),
        };
        let query = self.scrub_form(query, count)?;
        let mut out = format!("{before}?{query}");
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        Some(out)
    }
}

/// Replace a value by [`FILTERED`]; returns 1 if something was replaced.
fn filter(value: &mut Value) -> usize {
    let nothing = match &*value {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == FILTERED,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    };
    if nothing {
        return 0;
    }
    *value = Value::String(FILTERED.to_owned());
    1
}

/// `a=1&b=2`-style bodies: contain `=`, no whitespace, not JSON.
fn looks_like_form(s: &str) -> bool {
    s.contains('=') && !s.starts_with(['{', '[']) && !s.chars().any(char::is_whitespace)
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

    #[test]
    fn key_matching() {
        let s = Scrubber::default();
        for k in [
            "password",
            "PASSWORD",
            "db_password",
            "X-Api-Key",
            "api-key",
            "apiKey",
            "Authorization",
            "Set-Cookie",
            "sessionid",
            "X-CSRFToken",
            "credit-card",
            "mysql_pwd",
        ] {
            assert!(s.is_sensitive_key(k), "{k}");
        }
        for k in ["user", "id", "email", "ip_address", "order_id", "name", ""] {
            assert!(!s.is_sensitive_key(k), "{k}");
        }
        let custom = Scrubber::new(&["iban".to_string(), "".to_string(), "a.b".into()]);
        assert!(custom.is_sensitive_key("IBAN_number"));
        assert!(custom.is_sensitive_key("x_a.b"));
        assert!(!custom.is_sensitive_key("axb"));
        assert!(!custom.is_sensitive_key("password"));
        let none = Scrubber::new(&[]);
        assert!(!none.is_sensitive_key("password"));
    }

    #[test]
    fn scrubs_nested_values_of_any_type() {
        let mut e = json!({
            "extra": {"password": "hunter2", "nested": {"api_key": 12345, "ok": "keep"},
                      "list": [{"token": {"a": 1}}, {"auth": [1, 2]}], "session": null},
            "user": {"id": "1", "email": "a@b.c"},
            "contexts": {"app": {"secret": true}},
            "tags": {"session_id": "abc"},
            "breadcrumbs": {"values": [{"data": {"Authorization": "Bearer x"}}]}
        });
        let n = Scrubber::default().scrub(&mut e);
        assert_eq!(n, 7);
        assert_eq!(e["extra"]["password"], FILTERED);
        assert_eq!(e["extra"]["nested"]["api_key"], FILTERED);
        assert_eq!(e["extra"]["nested"]["ok"], "keep");
        assert_eq!(e["extra"]["list"][0]["token"], FILTERED);
        assert_eq!(e["extra"]["list"][1]["auth"], FILTERED);
        assert_eq!(e["extra"]["session"], Value::Null);
        assert_eq!(e["user"], json!({"id": "1", "email": "a@b.c"}));
        assert_eq!(e["contexts"]["app"]["secret"], FILTERED);
        assert_eq!(e["tags"]["session_id"], FILTERED);
        assert_eq!(
            e["breadcrumbs"]["values"][0]["data"]["Authorization"],
            FILTERED
        );
        // Idempotent.
        assert_eq!(Scrubber::default().scrub(&mut e), 0);
    }

    #[test]
    fn request_special_cases() {
        let mut e = json!({"request": {
            "url": "https://x.test/login?user=bob&token=abc#frag",
            "method": "POST",
            "headers": [["Authorization", "Bearer abc"], ["Accept", "*/*"], ["Cookie", "a=b"]],
            "cookies": "sessionid=abc; theme=dark",
            "query_string": "user=bob&password=pw&empty=&api_key=",
            "data": "username=bob&password=hunter2&remember=1",
            "env": {"REMOTE_ADDR": "10.0.0.1"}
        }});
        let n = Scrubber::default().scrub(&mut e);
        let r = &e["request"];
        assert_eq!(
            r["url"],
            "https://x.test/login?user=bob&token=[Filtered]#frag"
        );
        assert_eq!(
            r["headers"],
            json!([
                ["Authorization", FILTERED],
                ["Accept", "*/*"],
                ["Cookie", FILTERED]
            ])
        );
        assert_eq!(r["cookies"], FILTERED);
        assert_eq!(
            r["query_string"],
            "user=bob&password=[Filtered]&empty=&api_key="
        );
        assert_eq!(r["data"], "username=bob&password=[Filtered]&remember=1");
        assert_eq!(r["env"]["REMOTE_ADDR"], "10.0.0.1");
        assert_eq!(r["method"], "POST");
        assert_eq!(n, 6);

        let mut e = json!({"request": {
            "headers": {"X-Api-Key": "k", "Content-Type": "text/plain"},
            "cookies": {"theme": "dark"},
            "query_string": [["token", "t"], ["page", "2"]],
            "data": {"card_number": "4111", "items": [1, 2]}
        }});
        assert_eq!(Scrubber::default().scrub(&mut e), 4);
        assert_eq!(e["request"]["headers"]["X-Api-Key"], FILTERED);
        assert_eq!(e["request"]["headers"]["Content-Type"], "text/plain");
        assert_eq!(e["request"]["cookies"], FILTERED);
        assert_eq!(
            e["request"]["query_string"],
            json!([["token", FILTERED], ["page", "2"]])
        );
        assert_eq!(e["request"]["data"]["card_number"], FILTERED);
        // JSON-looking or prose data strings are left alone.
        let mut e = json!({"request": {"data": "{\"password\": \"x\"}"}});
        assert_eq!(Scrubber::default().scrub(&mut e), 0);
        // Even with no patterns, cookies are always filtered.
        let mut e = json!({"request": {"cookies": "a=b", "headers": [["Authorization", "x"]]}});
        assert_eq!(Scrubber::new(&[]).scrub(&mut e), 1);
        assert_eq!(e["request"]["headers"][0][1], "x");
    }

    #[test]
    fn frame_vars_are_scrubbed_but_grouping_fields_are_kept() {
        let mut e = json!({
            "exception": {"values": [{
                "type": "AuthError",
                "value": "bad token abc",
                "module": "auth",
                "mechanism": {"type": "generic", "data": {"password": "x"}},
                "stacktrace": {"frames": [{
                    "function": "check_password",
                    "module": "app.auth",
                    "filename": "auth.py",
                    "vars": {"password": "'hunter2'", "user": "'bob'", "self": {"token": "t"}}
                }]}
            }]},
            "threads": {"values": [{"stacktrace": {"frames": [
                {"function": "f", "vars": {"secret": "s"}}]}}]},
            "sdk": {"name": "sentry.python", "integrations": ["auth"], "token": "x"},
            "fingerprint": ["token"],
            "modules": {"verbose_csrf_middleware": "5.2.0"}
        });
        // A custom list that would hit the protected fields.
        let s = Scrubber::new(&[
            "password".into(),
            "token".into(),
            "secret".into(),
            "function".into(),
            "type".into(),
            "value".into(),
            "csrf".into(),
        ]);
        let n = s.scrub(&mut e);
        let exc = &e["exception"]["values"][0];
        assert_eq!(exc["type"], "AuthError");
        assert_eq!(exc["value"], "bad token abc");
        assert_eq!(exc["module"], "auth");
        assert_eq!(exc["mechanism"]["type"], FILTERED);
        assert_eq!(exc["mechanism"]["data"]["password"], FILTERED);
        let frame = &exc["stacktrace"]["frames"][0];
        assert_eq!(frame["function"], "check_password");
        assert_eq!(frame["vars"]["password"], FILTERED);
        assert_eq!(frame["vars"]["user"], "'bob'");
        assert_eq!(frame["vars"]["self"]["token"], FILTERED);
        assert_eq!(
            e["threads"]["values"][0]["stacktrace"]["frames"][0]["vars"]["secret"],
            FILTERED
        );
        assert_eq!(e["sdk"]["token"], "x");
        assert_eq!(e["fingerprint"], json!(["token"]));
        assert_eq!(e["modules"]["verbose_csrf_middleware"], "5.2.0");
        assert_eq!(n, 5);
    }

    #[test]
    fn fixture_scrubbing_keeps_grouping_and_summary() {
        for n in 1..=7 {
            let original = fixture(n);
            let mut scrubbed = original.clone();
            Scrubber::default().scrub(&mut scrubbed);
            assert_eq!(
                crate::grouping::compute_grouping(&scrubbed),
                crate::grouping::compute_grouping(&original)
            );
            assert_eq!(
                crate::summary::summarize(&scrubbed),
                crate::summary::summarize(&original)
            );
        }
    }

    #[test]
    fn depth_limit() {
        let mut deep = json!({"password": "x"});
        for _ in 0..(MAX_SCRUB_DEPTH + 20) {
            deep = json!({"a": [deep]});
        }
        let mut e = json!({"extra": deep});
        let n = Scrubber::default().scrub(&mut e);
        assert_eq!(n, 1);
        // The cut happens at the depth limit, not at the secret.
        let mut v = &e["extra"];
        let mut levels = 0;
        while let Some(next) = v.get("a").and_then(|a| a.get(0)) {
            v = next;
            levels += 1;
        }
        assert!(levels > 10 && levels < MAX_SCRUB_DEPTH, "{levels}");
        assert!(!e.to_string().contains("\"x\""));
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        let s = Scrubber::default();
        for mut v in [
            json!(null),
            json!("password"),
            json!([{"password": 1}]),
            json!({"exception": "x", "threads": 5, "stacktrace": [], "request": "r"}),
            json!({"exception": [null, {"stacktrace": {"frames": [null, 1, {"vars": "x"}]}}]}),
            json!({"exception": {"values": {"password": 1}}}),
            json!({"threads": {"values": [1, {"stacktrace": 2}]}}),
            json!({"request": {"headers": [1, [1, 2], ["a"], ["token", {"x": 1}]],
                               "query_string": 5, "data": 5, "url": 5, "cookies": null}}),
            json!({"request": {"query_string": "&&==&token", "url": "??#", "data": "="}}),
        ] {
            s.scrub(&mut v);
        }
        let mut top = json!([{"password": 1}]);
        assert_eq!(s.scrub(&mut top), 1);
    }
}
