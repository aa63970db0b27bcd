//! The condition language, Gatus-style: one comparison per condition,
//! between a placeholder that the check fills in and a literal.
//!
//! ```text
//! [STATUS] == 200
//! [RESPONSE_TIME] < 500          (milliseconds; `< 2s` works too)
//! [BODY].status == "healthy"     (a JSON path into the body; bare words are strings)
//! [BODY].checks.database.healthy == true
//! [BODY].items[0].id != null
//! len([BODY].items) > 0
//! [CERTIFICATE_EXPIRATION] > 14d (durations: ms, s, m, h, d)
//! [CONNECTED] == true
//! ```
//!
//! Parsing errors carry the 1-based column and the reason. Evaluation
//! never fails: a missing value makes the condition false, and the outcome
//! names the actual value so that an incident says why.

use serde_json::Value;
use std::fmt;

/// A parse error: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {reason}")]
pub struct ConditionError {
    /// 1-based column (in characters) where the problem starts.
    pub column: usize,
    /// What is wrong, in words.
    pub reason: String,
}

/// What a condition reads from the check.
#[derive(Debug, Clone, PartialEq)]
pub enum Placeholder {
    /// The HTTP status code.
    Status,
    /// Milliseconds to the full (capped) response.
    ResponseTime,
    /// The body, or a JSON path into it.
    Body(Vec<PathStep>),
    /// Time left on the peer certificate, in milliseconds.
    CertificateExpiration,
    /// Whether a connection was made.
    Connected,
    /// The resolved IP address (DNS checks).
    Ip,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    /// `.name`
    Key(String),
    /// `[n]`
    Index(usize),
}

/// A literal on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number (durations are converted to milliseconds).
    Number(f64),
    /// A string, quoted or a bare word.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// The comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The text as written (trimmed).
    pub text: String,
    /// `len(...)` around the placeholder.
    pub len: bool,
    /// The left-hand side.
    pub left: Placeholder,
    /// The operator.
    pub op: Op,
    /// The right-hand side.
    pub right: Literal,
}

/// What a check observed, for conditions to read.
#[derive(Debug, Clone, Default)]
pub struct Observed<'a> {
    /// HTTP status.
    pub status: Option<u16>,
    /// Response time in milliseconds.
    pub response_time_ms: Option<f64>,
    /// The body parsed as JSON, when it is JSON.
    pub body_json: Option<&'a Value>,
    /// The body as text (capped).
    pub body_text: Option<&'a str>,
    /// Milliseconds until the peer certificate expires (negative: expired).
    pub cert_expires_in_ms: Option<f64>,
    /// Whether a connection was made.
    pub connected: bool,
    /// The resolved address.
    pub ip: Option<String>,
}

/// The result of evaluating one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionResult {
    /// Whether it held.
    pub ok: bool,
    /// The condition with the actual value, e.g. `[STATUS] (503) == 200`.
    pub description: String,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

impl Parser<'_> {
    fn err<T>(&self, at: usize, reason: impl Into<String>) -> Result<T, ConditionError> {
        Err(ConditionError {
            column: at + 1,
            reason: reason.into(),
        })
    }
    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn starts_with(&self, s: &str) -> bool {
        let n = s.chars().count();
        self.chars.len() >= self.pos + n
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }

    fn placeholder(&mut self) -> Result<Placeholder, ConditionError> {
        let start = self.pos;
        if self.peek() != Some('[') {
            return self.err(
                start,
                "expected a placeholder: [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION], [CONNECTED] or [IP]",
            );
        }
        let Some(end) = self.chars[start..].iter().position(|c| *c == ']') else {
            return self.err(start, "`[` is never closed with `]`");
        };
        let name: String = self.chars[start + 1..start + end].iter().collect();
        self.pos = start + end + 1;
        let p = match name.to_ascii_uppercase().as_str() {
            "STATUS" => Placeholder::Status,
            "RESPONSE_TIME" => Placeholder::ResponseTime,
            "BODY" => Placeholder::Body(self.path()?),
            "CERTIFICATE_EXPIRATION" => Placeholder::CertificateExpiration,
            "CONNECTED" => Placeholder::Connected,
            "IP" => Placeholder::Ip,
            _ => {
                return self.err(
                    start,
                    format!(
                        "unknown placeholder [{name}]: use [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION], [CONNECTED] or [IP]"
                    ),
                );
            }
        };
        Ok(p)
    }

    fn path(&mut self) -> Result<Vec<PathStep>, ConditionError> {
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let s = self.pos;
                    while let Some(c) = self.peek() {
                        if c.is_alphanumeric() || c == '_' || c == '-' {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    if s == self.pos {
                        return self.err(s, "expected a field name after `.`");
                    }
                    steps.push(PathStep::Key(self.chars[s..self.pos].iter().collect()));
                }
                Some('[') => {
                    let s = self.pos;
                    self.pos += 1;
                    let ds = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    let digits: String = self.chars[ds..self.pos].iter().collect();
                    if digits.is_empty() || self.peek() != Some(']') {
                        return self.err(s, "expected an array index such as [0]");
                    }
                    self.pos += 1;
                    let n = digits
                        .parse()
                        .or_else(|_| self.err(s, "array index too large"))?;
                    steps.push(PathStep::Index(n));
                }
                _ => return Ok(steps),
            }
        }
    }

    fn op(&mut self) -> Result<Op, ConditionError> {
        let at = self.pos;
        for (s, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(s) {
                return Ok(op);
            }
        }
        if self.peek() == Some('=') {
            return self.err(at, "`=` is not an operator; did you mean `==`?");
        }
        if self.peek().is_none() {
            return self.err(
                at,
                "expected an operator (==, !=, <, <=, >, >=) after the placeholder",
            );
        }
        self.err(at, "expected an operator: ==, !=, <, <=, > or >=")
    }

    fn literal(&mut self) -> Result<Literal, ConditionError> {
        let start = self.pos;
        match self.peek() {
            None => self.err(start, "expected a value after the operator"),
            Some('"') => {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None => return self.err(start, "string is never closed with `\"`"),
                        Some('"') => {
                            self.pos += 1;
                            return Ok(Literal::Str(s));
                        }
                        Some('\\') => {
                            self.pos += 1;
                            match self.peek() {
                                Some(c @ ('"' | '\\')) => s.push(c),
                                Some('n') => s.push('\n'),
                                _ => {
                                    return self
                                        .err(self.pos - 1, "unknown escape; use \\\" or \\\\");
                                }
                            }
                            self.pos += 1;
                        }
                        Some(c) => {
                            s.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            Some(_) => {
                let word: String = self.chars[start..].iter().collect::<String>();
                let word = word.trim_end().to_string();
                self.pos = self.chars.len();
                if word.is_empty() {
                    return self.err(start, "expected a value after the operator");
                }
                Ok(match word.as_str() {
                    "true" => Literal::Bool(true),
                    "false" => Literal::Bool(false),
                    "null" => Literal::Null,
                    w => {
                        match parse_number_or_duration(w) {
                            Some(n) => Literal::Number(n),
                            None if w.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                                && w.chars().any(|c| c.is_ascii_alphabetic()) =>
                            {
                                return self.err(
                                start,
                                format!("`{w}` is not a number or a duration (units: ms, s, m, h, d)"),
                            );
                            }
                            None => Literal::Str(w.to_string()),
                        }
                    }
                })
            }
        }
    }
}

/// Parses `500`, `1.5`, `250ms`, `2s`, `5m`, `48h`, `14d` (durations in
/// milliseconds).
pub fn parse_number_or_duration(w: &str) -> Option<f64> {
    if let Ok(n) = w.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let split = w.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = w.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some(n * mult)
}

/// Parses one condition.
pub fn parse(text: &str) -> Result<Condition, ConditionError> {
    let trimmed = text.trim();
    let lead = text.chars().count() - text.trim_start().chars().count();
    let mut p = Parser {
        chars: trimmed.chars().collect(),
        pos: 0,
        _src: trimmed,
    };
    let shift = |mut e: ConditionError| {
        e.column += lead;
        e
    };
    if p.chars.is_empty() {
        return Err(ConditionError {
            column: 1,
            reason: "the condition is empty".into(),
        });
    }
    if p.chars.len() > 1000 {
        return Err(ConditionError {
            column: 1001,
            reason: "the condition is longer than 1000 characters".into(),
        });
    }
    let len = p.eat("len(");
    let left = p.placeholder().map_err(shift)?;
    if len {
        if !matches!(left, Placeholder::Body(_)) {
            return Err(shift(ConditionError {
                column: 5,
                reason: "len() applies to [BODY] only".into(),
            }));
        }
        if !p.eat(")") {
            return Err(shift(ConditionError {
                column: p.pos + 1,
                reason: "expected `)` to close len(".into(),
            }));
        }
    }
    p.skip_ws();
    let op = p.op().map_err(shift)?;
    p.skip_ws();
    let right = p.literal().map_err(shift)?;
    if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && !matches!(right, Literal::Number(_)) {
        return Err(ConditionError {
            column: lead + trimmed.chars().count(),
            reason: format!(
                "`{}` compares numbers; the right-hand side is not a number",
                op.as_str()
            ),
        });
    }
    if matches!(
        left,
        Placeholder::Status | Placeholder::ResponseTime | Placeholder::CertificateExpiration
    ) && !matches!(right, Literal::Number(_))
    {
        return Err(ConditionError {
            column: lead + trimmed.chars().count(),
            reason: "this placeholder is a number; compare it with a number or a duration".into(),
        });
    }
    Ok(Condition {
        text: trimmed.to_string(),
        len,
        left,
        op,
        right,
    })
}

fn lookup<'v>(mut v: &'v Value, path: &[PathStep]) -> Option<&'v Value> {
    for step in path {
        v = match step {
            PathStep::Key(k) => v.get(k.as_str())?,
            PathStep::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn label(p: &Placeholder, len: bool) -> String {
    let base = match p {
        Placeholder::Status => "[STATUS]".to_string(),
        Placeholder::ResponseTime => "[RESPONSE_TIME]".to_string(),
        Placeholder::CertificateExpiration => "[CERTIFICATE_EXPIRATION]".to_string(),
        Placeholder::Connected => "[CONNECTED]".to_string(),
        Placeholder::Ip => "[IP]".to_string(),
        Placeholder::Body(path) => {
            let mut s = "[BODY]".to_string();
            for step in path {
                match step {
                    PathStep::Key(k) => {
                        s.push('.');
                        s.push_str(k);
                    }
                    PathStep::Index(i) => s.push_str(&format!("[{i}]")),
                }
            }
            s
        }
    };
    if len { format!("len({base})") } else { base }
}

fn fmt_ms(ms: f64) -> String {
    let abs = ms.abs();
    let sign = if ms < 0.0 { "-" } else { "" };
    if abs >= 86_400_000.0 {
        format!("{sign}{:.1}d", abs / 86_400_000.0)
    } else if abs >= 3_600_000.0 {
        format!("{sign}{:.1}h", abs / 3_600_000.0)
    } else if abs >= 1000.0 {
        format!("{sign}{:.1}s", abs / 1000.0)
    } else {
        format!("{sign}{abs:.0}ms")
    }
}

fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

impl Condition {
    /// Evaluates the condition against what a check observed.
    pub fn evaluate(&self, o: &Observed<'_>) -> ConditionResult {
        let actual: Option<Value> = match &self.left {
            Placeholder::Status => o.status.map(|s| Value::from(s as u64)),
            Placeholder::ResponseTime => o.response_time_ms.map(Value::from),
            Placeholder::CertificateExpiration => o.cert_expires_in_ms.map(Value::from),
            Placeholder::Connected => Some(Value::Bool(o.connected)),
            Placeholder::Ip => o.ip.clone().map(Value::String),
            Placeholder::Body(path) => match (o.body_json, path.is_empty()) {
                (Some(j), _) => lookup(j, path).cloned(),
                (None, true) => o.body_text.map(|t| Value::String(t.to_string())),
                (None, false) => None,
            },
        };
        let actual = if self.len {
            actual.and_then(|v| match v {
                Value::Array(a) => Some(Value::from(a.len() as u64)),
                Value::Object(m) => Some(Value::from(m.len() as u64)),
                Value::String(s) => Some(Value::from(s.chars().count() as u64)),
                _ => None,
            })
        } else {
            actual
        };
        let shown = match (&actual, &self.left) {
            (None, Placeholder::CertificateExpiration) => "no certificate".to_string(),
            (None, _) => "missing".to_string(),
            (Some(v), Placeholder::ResponseTime | Placeholder::CertificateExpiration) => {
                v.as_f64().map(fmt_ms).unwrap_or_else(|| show(v))
            }
            (Some(v), _) => show(v),
        };
        let ok = actual
            .as_ref()
            .is_some_and(|a| compare(a, self.op, &self.right));
        let right = match &self.right {
            Literal::Str(s) => format!("\"{s}\""),
            Literal::Number(n) => {
                if matches!(
                    self.left,
                    Placeholder::ResponseTime | Placeholder::CertificateExpiration
                ) {
                    fmt_ms(*n)
                } else {
                    trim_num(*n)
                }
            }
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "null".into(),
        };
        ConditionResult {
            ok,
            description: format!(
                "{} ({shown}) {} {right}",
                label(&self.left, self.len),
                self.op.as_str()
            ),
        }
    }
}

fn trim_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(actual: &Value, op: Op, right: &Literal) -> bool {
    match op {
        Op::Eq => equal(actual, right),
        Op::Ne => !equal(actual, right),
        _ => {
            let (Some(a), Literal::Number(b)) = (as_number(actual), right) else {
                return false;
            };
            match op {
                Op::Lt => a < *b,
                Op::Le => a <= *b,
                Op::Gt => a > *b,
                Op::Ge => a >= *b,
                Op::Eq | Op::Ne => unreachable!(),
            }
        }
    }
}

fn equal(actual: &Value, right: &Literal) -> bool {
    match right {
        Literal::Null => actual.is_null(),
        Literal::Bool(b) => match actual {
            Value::Bool(a) => a == b,
            Value::String(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            _ => false,
        },
        Literal::Number(n) => as_number(actual).is_some_and(|a| (a - n).abs() < 1e-9),
        Literal::Str(s) => match actual {
            Value::String(a) => a == s,
            Value::Number(_) | Value::Bool(_) => s.as_str() == actual.to_string().as_str(),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(cond: &str, o: &Observed<'_>) -> ConditionResult {
        parse(cond).unwrap().evaluate(o)
    }

    #[test]
    fn the_examples_from_the_issue_parse_and_evaluate() {
        let body = json!({"status": "healthy", "checks": {"database": {"healthy": true, "latency_ms": 5.2}}, "items": [1,2]});
        let o = Observed {
            status: Some(200),
            response_time_ms: Some(120.0),
            body_json: Some(&body),
            cert_expires_in_ms: Some(20.0 * 86_400_000.0),
            connected: true,
            ..Default::default()
        };
        for c in [
            "[STATUS] == 200",
            "[RESPONSE_TIME] < 500",
            "[BODY].status == \"healthy\"",
            "[BODY].status == healthy",
            "[BODY].checks.database.healthy == true",
            "[BODY].checks.database.latency_ms < 10",
            "[CERTIFICATE_EXPIRATION] > 14d",
            "len([BODY].items) == 2",
            "[BODY].items[1] == 2",
            "[CONNECTED] == true",
            "[RESPONSE_TIME] <= 2s",
        ] {
            assert!(ok(c, &o).ok, "{c} should hold: {:?}", ok(c, &o));
        }
        for c in [
            "[STATUS] != 200",
            "[BODY].status == degraded",
            "[CERTIFICATE_EXPIRATION] > 30d",
            "[BODY].missing.path == 1",
        ] {
            assert!(!ok(c, &o).ok, "{c} should fail");
        }
    }

    #[test]
    fn outcomes_name_the_actual_value() {
        let body = json!({"status": "unhealthy"});
        let o = Observed {
            status: Some(503),
            response_time_ms: Some(1500.0),
            body_json: Some(&body),
            cert_expires_in_ms: Some(5.0 * 86_400_000.0),
            ..Default::default()
        };
        assert_eq!(
            ok("[STATUS] == 200", &o).description,
            "[STATUS] (503) == 200"
        );
        assert_eq!(
            ok("[BODY].status == \"healthy\"", &o).description,
            "[BODY].status (\"unhealthy\") == \"healthy\""
        );
        assert_eq!(
            ok("[RESPONSE_TIME] < 500", &o).description,
            "[RESPONSE_TIME] (1.5s) < 500ms"
        );
        assert_eq!(
            ok("[CERTIFICATE_EXPIRATION] > 14d", &o).description,
            "[CERTIFICATE_EXPIRATION] (5.0d) > 14.0d"
        );
        assert_eq!(
            ok("[BODY].db.ok == true", &o).description,
            "[BODY].db.ok (missing) == true"
        );
    }

    #[test]
    fn errors_carry_column_and_reason() {
        let e = parse("[STATUS] = 200").unwrap_err();
        assert_eq!(e.column, 10);
        assert!(e.reason.contains("=="), "{e}");
        let e = parse("[STATS] == 200").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(e.reason.contains("unknown placeholder [STATS]"), "{e}");
        let e = parse("  [BODY]. == 1").unwrap_err();
        assert_eq!(e.column, 10, "{e}");
        let e = parse("[STATUS] ==").unwrap_err();
        assert!(e.reason.contains("expected a value"), "{e}");
        let e = parse("[BODY].a == \"open").unwrap_err();
        assert!(e.reason.contains("never closed"), "{e}");
        let e = parse("[RESPONSE_TIME] < fast").unwrap_err();
        assert!(e.reason.contains("compares numbers"), "{e}");
        let e = parse("[CERTIFICATE_EXPIRATION] > 14x").unwrap_err();
        assert!(e.reason.contains("not a number or a duration"), "{e}");
        let e = parse("[STATUS]").unwrap_err();
        assert!(e.reason.contains("operator"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("len([STATUS]) > 1").is_err());
    }

    #[test]
    fn durations_are_milliseconds() {
        assert_eq!(parse_number_or_duration("250ms"), Some(250.0));
        assert_eq!(parse_number_or_duration("2s"), Some(2000.0));
        assert_eq!(parse_number_or_duration("48h"), Some(172_800_000.0));
        assert_eq!(parse_number_or_duration("14d"), Some(1_209_600_000.0));
        assert_eq!(parse_number_or_duration("1y"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "[",
            "]",
            "[BODY][",
            "[BODY].[0]",
            "len(",
            "len([BODY]",
            "[BODY][99999999999999999999] == 1",
            "\"",
            "é[STATUS]==1",
            "[BODY].é == ü",
        ] {
            let _ = parse(s);
        }
        let o = Observed::default();
        assert!(
            !ok("[STATUS] == 200", &o).ok,
            "no status: fails, never panics"
        );
    }
}
