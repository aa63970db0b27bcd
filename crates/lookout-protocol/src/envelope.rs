//! The Sentry envelope format.
//!
//! An envelope is the body of `POST /api/{project_id}/envelope/`:
//!
//! ```text
//! {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://key@host/42"}\n
//! {"type":"attachment","length":10,"filename":"hello.txt"}\n
//! \xef\xbb\xbfHello\r\n\n
//! {"type":"event"}\n
//! {"message":"hello world","level":"error"}\n
//! ```
//!
//! * The first line is the envelope header, a JSON object (possibly `{}`).
//!   It may be the whole body, with no trailing newline.
//! * Then zero or more items, each an item header line (a JSON object with a
//!   required string `type` and an optional non-negative integer `length`)
//!   followed by the payload:
//!   * with `length`, the payload is exactly that many bytes after the
//!     header's newline and may be followed by a newline, which is skipped;
//!   * without `length`, the payload runs up to the next newline or the end
//!     of the body.
//! * Blank lines where an item header is expected (such as a trailing
//!   newline) are ignored, and a `\r` ending a header line is tolerated.
//!
//! [`parse_envelope`] slices payloads out of the input [`Bytes`] without
//! copying, checks each payload against a per-type size limit ([`Limits`])
//! and keeps items of unknown types (as [`ItemType::Unknown`]) so the caller
//! can decide to skip them.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Size limits applied while parsing an envelope.
///
/// The defaults follow the limits Sentry documents for its ingestion
/// service (Relay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of an `event`, `transaction`, `feedback` or
    /// `user_report` item (default 1 MiB).
    pub max_event_bytes: usize,
    /// Largest payload of an `attachment` item, and of every item type
    /// without a limit of its own (profiles, replays, spans, metrics, client
    /// reports and unknown types). Default 100 MiB.
    pub max_attachment_bytes: usize,
    /// Largest payload of a `check_in` item (default 100 KiB).
    pub max_check_in_bytes: usize,
    /// Largest payload of a `session` or `sessions` item (default 100 KiB).
    pub max_session_bytes: usize,
    /// Largest payload of a `log` item (default 1 MiB).
    pub max_log_bytes: usize,
    /// Most items an envelope may hold (default 1000).
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        Self {
            max_event_bytes: MIB,
            max_attachment_bytes: 100 * MIB,
            max_check_in_bytes: 100 * KIB,
            max_session_bytes: 100 * KIB,
            max_log_bytes: MIB,
            max_items: 1000,
        }
    }
}

impl Limits {
    /// The largest payload accepted for an item of type `item_type`.
    pub fn limit_for(&self, item_type: &ItemType) -> usize {
        match item_type {
            ItemType::Event | ItemType::Transaction | ItemType::Feedback | ItemType::UserReport => {
                self.max_event_bytes
            }
            ItemType::CheckIn => self.max_check_in_bytes,
            ItemType::Session | ItemType::Sessions => self.max_session_bytes,
            ItemType::Log => self.max_log_bytes,
            ItemType::Attachment
            | ItemType::ClientReport
            | ItemType::Profile
            | ItemType::ReplayEvent
            | ItemType::ReplayRecording
            | ItemType::Span
            | ItemType::Statsd
            | ItemType::MetricBuckets
            | ItemType::Unknown(_) => self.max_attachment_bytes,
        }
    }
}

/// Why an envelope could not be parsed. Item indexes are 0-based positions
/// among the envelope's items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The body is empty or only whitespace.
    #[error("envelope is empty")]
    Empty,
    /// The first line is not a JSON object.
    #[error("invalid envelope header: {reason}")]
    InvalidHeader {
        /// What was wrong.
        reason: String,
    },
    /// An item header line is not a JSON object, or a field has the wrong type.
    #[error("invalid header of item {index}: {reason}")]
    InvalidItemHeader {
        /// Which item (0-based).
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// An item header has no `type`.
    #[error("header of item {index} has no `type`")]
    MissingItemType {
        /// Which item (0-based).
        index: usize,
    },
    /// An item's `length` runs past the end of the body.
    #[error("item {index} declares a length of {length} bytes but only {remaining} bytes remain")]
    LengthOutOfBounds {
        /// Which item (0-based).
        index: usize,
        /// The declared length (saturated to `usize::MAX`).
        length: usize,
        /// How many bytes follow the item header.
        remaining: usize,
    },
    /// An item's payload is larger than the limit for its type.
    #[error("item {index} ({item_type}) is {size} bytes, over the limit of {limit} bytes")]
    ItemTooLarge {
        /// Which item (0-based).
        index: usize,
        /// The item's type as written in its header.
        item_type: String,
        /// The payload size in bytes.
        size: usize,
        /// The limit for this type in bytes.
        limit: usize,
    },
    /// The envelope holds more items than allowed.
    #[error("envelope has more than {limit} items")]
    TooManyItems {
        /// The maximum number of items.
        limit: usize,
    },
}

/// A parsed envelope: its header and its items, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The envelope header (first line).
    pub header: EnvelopeHeader,
    /// Every item, including items of unknown types.
    pub items: Vec<Item>,
}

/// The envelope header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvelopeHeader {
    /// `event_id`, if present and a string (not validated).
    pub event_id: Option<String>,
    /// `dsn`, if present and a string (not validated).
    pub dsn: Option<String>,
    /// `sent_at`, if present and a string (an RFC 3339 timestamp, not validated).
    pub sent_at: Option<String>,
    /// The whole header object, including the fields above.
    pub raw: Map<String, Value>,
}

/// One item of an envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item's `type`.
    pub item_type: ItemType,
    /// The whole item header object, including `type` and `length`.
    pub header: Map<String, Value>,
    /// The payload, a zero-copy slice of the envelope body.
    pub payload: Bytes,
}

impl Item {
    /// The header's `filename` (attachments), if it is a string.
    pub fn filename(&self) -> Option<&str> {
        self.header_str("filename")
    }

    /// The header's `content_type`, if it is a string.
    pub fn content_type(&self) -> Option<&str> {
        self.header_str("content_type")
    }

    /// The header's `attachment_type` (such as `event.attachment` or
    /// `event.minidump`), if it is a string.
    pub fn attachment_type(&self) -> Option<&str> {
        self.header_str("attachment_type")
    }

    /// A string field of the item header.
    pub fn header_str(&self, key: &str) -> Option<&str> {
        self.header.get(key).and_then(Value::as_str)
    }
}

/// The type of an envelope item, from its header's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// `event`: an error or message event.
    Event,
    /// `transaction`: a performance transaction.
    Transaction,
    /// `attachment`: a file attached to an event.
    Attachment,
    /// `session`: a single release-health session update.
    Session,
    /// `sessions`: aggregated release-health sessions.
    Sessions,
    /// `client_report`: counts of events the SDK dropped.
    ClientReport,
    /// `check_in`: a cron monitor check-in.
    CheckIn,
    /// `log`: a batch of structured logs.
    Log,
    /// `feedback`: user feedback.
    Feedback,
    /// `user_report`: legacy user feedback.
    UserReport,
    /// `profile`: a profiling payload.
    Profile,
    /// `replay_event`: session replay metadata.
    ReplayEvent,
    /// `replay_recording`: session replay recording.
    ReplayRecording,
    /// `span`: a standalone span.
    Span,
    /// `statsd`: metrics in statsd format.
    Statsd,
    /// `metric_buckets`: pre-aggregated metric buckets.
    MetricBuckets,
    /// Any other type, kept verbatim.
    Unknown(String),
}

impl ItemType {
    /// The name of this type on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Event => "event",
            Self::Transaction => "transaction",
            Self::Attachment => "attachment",
            Self::Session => "session",
            Self::Sessions => "sessions",
            Self::ClientReport => "client_report",
            Self::CheckIn => "check_in",
            Self::Log => "log",
            Self::Feedback => "feedback",
            Self::UserReport => "user_report",
            Self::Profile => "profile",
            Self::ReplayEvent => "replay_event",
            Self::ReplayRecording => "replay_recording",
            Self::Span => "span",
            Self::Statsd => "statsd",
            Self::MetricBuckets => "metric_buckets",
            Self::Unknown(name) => name,
        }
    }

    /// The type for a wire name; unrecognised names (matching is exact and
    /// case-sensitive) become [`ItemType::Unknown`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "event" => Self::Event,
            "transaction" => Self::Transaction,
            "attachment" => Self::Attachment,
            "session" => Self::Session,
            "sessions" => Self::Sessions,
            "client_report" => Self::ClientReport,
            "check_in" => Self::CheckIn,
            "log" => Self::Log,
            "feedback" => Self::Feedback,
            "user_report" => Self::UserReport,
            "profile" => Self::Profile,
            "replay_event" => Self::ReplayEvent,
            "replay_recording" => Self::ReplayRecording,
            "span" => Self::Span,
            "statsd" => Self::Statsd,
            "metric_buckets" => Self::MetricBuckets,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether this is [`ItemType::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown(_))
    }
}

impl FromStr for ItemType {
    type Err = Infallible;

    /// Same as [`ItemType::from_name`]; never fails.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_name(s))
    }
}

impl From<&str> for ItemType {
    fn from(s: &str) -> Self {
        Self::from_name(s)
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Envelope {
    /// The event id: the envelope header's `event_id` if present, else the
    /// `event_id` of the first `event` or `transaction` item's JSON payload.
    ///
    /// Only the `event_id` field of the payload is extracted (other fields
    /// are skipped without being materialised). Returns `None` if neither
    /// exists or the payload is not a JSON object.
    pub fn event_id(&self) -> Option<String> {
        if let Some(id) = &self.header.event_id {
            return Some(id.clone());
        }
        let item = self
            .items
            .iter()
            .find(|item| matches!(item.item_type, ItemType::Event | ItemType::Transaction))?;
        payload_event_id(&item.payload)
    }

    /// The items of the given type, in order.
    pub fn items_of<'a>(&'a self, item_type: &'a ItemType) -> impl Iterator<Item = &'a Item> + 'a {
        self.items
            .iter()
            .filter(move |item| &item.item_type == item_type)
    }
}

/// Normalises an event id to Sentry's canonical form, 32 lower-case hex
/// digits without dashes. Accepts the dashed, undashed, braced and `urn:uuid:`
/// forms in any case; returns `None` for anything that is not a UUID.
pub fn normalize_event_id(id: &str) -> Option<String> {
    let uuid = uuid::Uuid::try_parse(id.trim()).ok()?;
    Some(uuid.simple().to_string())
}

/// Extracts `event_id` from a JSON object without building the whole value.
fn payload_event_id(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct EventIdOnly<'a> {
        #[serde(borrow, default)]
        event_id: Option<Cow<'a, str>>,
    }
    let parsed: EventIdOnly<'_> = serde_json::from_slice(payload).ok()?;
    parsed.event_id.map(Cow::into_owned)
}

/// Parses an envelope body (already decompressed).
///
/// Payloads are zero-copy slices of `body`. Items of unknown types are kept.
///
/// # Errors
///
/// See [`EnvelopeError`]: every variant but `Empty` and `InvalidHeader`
/// names the 0-based index of the offending item.
pub fn parse_envelope(body: Bytes, limits: &Limits) -> Result<Envelope, EnvelopeError> {
    let data: &[u8] = &body;
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(EnvelopeError::Empty);
    }

    let (header_line, mut pos) = next_line(data, 0);
    let raw: Map<String, Value> =
        serde_json::from_slice(trim_cr(header_line)).map_err(|e| EnvelopeError::InvalidHeader {
            reason: json_reason(&e),
        })?;
    let header = EnvelopeHeader {
        event_id: string_field(&raw, "event_id"),
        dsn: string_field(&raw, "dsn"),
        sent_at: string_field(&raw, "sent_at"),
        raw,
    };

    let mut items = Vec::new();
    while pos < data.len() {
        let (line, after_line) = next_line(data, pos);
        let line = trim_cr(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            pos = after_line;
            continue;
        }
        let index = items.len();
        if index >= limits.max_items {
            return Err(EnvelopeError::TooManyItems {
                limit: limits.max_items,
            });
        }

        let item_header: Map<String, Value> =
            serde_json::from_slice(line).map_err(|e| EnvelopeError::InvalidItemHeader {
                index,
                reason: json_reason(&e),
            })?;
        let item_type = match item_header.get("type") {
            None | Some(Value::Null) => return Err(EnvelopeError::MissingItemType { index }),
            Some(Value::String(name)) => ItemType::from_name(name),
            Some(_) => {
                return Err(EnvelopeError::InvalidItemHeader {
                    index,
                    reason: "`type` must be a string".to_owned(),
                });
            }
        };
        let length = match item_header.get("length") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_u64() => {
                n.as_u64().map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            }
            Some(_) => {
                return Err(EnvelopeError::InvalidItemHeader {
                    index,
                    reason: "`length` must be a non-negative integer".to_owned(),
                });
            }
        };

        let start = after_line;
        let (end, next) = match length {
            Some(length) => {
                let remaining = data.len() - start;
                if length > remaining {
                    return Err(EnvelopeError::LengthOutOfBounds {
                        index,
                        length,
                        remaining,
                    });
                }
                let end = start + length;
                let next = if data.get(end) == Some(&b'\n') {
                    end + 1
                } else {
                    end
                };
                (end, next)
            }
            None => match memchr::memchr(b'\n', &data[start..]) {
                Some(offset) => (start + offset, start + offset + 1),
                None => (data.len(), data.len()),
            },
        };

        let size = end - start;
        let limit = limits.limit_for(&item_type);
        if size > limit {
            return Err(EnvelopeError::ItemTooLarge {
                index,
                item_type: item_type.as_str().to_owned(),
                size,
                limit,
            });
        }

        items.push(Item {
            item_type,
            header: item_header,
            payload: body.slice(start..end),
        });
        pos = next;
    }

    Ok(Envelope { header, items })
}

/// The line starting at `start` (without its `\n`) and the offset just past
/// its `\n` (or the end of `data`).
fn next_line(data: &[u8], start: usize) -> (&[u8], usize) {
    let rest = &data[start..];
    match memchr::memchr(b'\n', rest) {
        Some(offset) => (&rest[..offset], start + offset + 1),
        None => (rest, data.len()),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn string_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn json_reason(err: &serde_json::Error) -> String {
    match err.classify() {
        serde_json::error::Category::Data => format!("expected a JSON object ({err})"),
        _ => format!("not valid JSON ({err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &'static [u8]) -> Result<Envelope, EnvelopeError> {
        parse_envelope(Bytes::from_static(body), &Limits::default())
    }

    fn types(env: &Envelope) -> Vec<&str> {
        env.items.iter().map(|i| i.item_type.as_str()).collect()
    }

    fn payloads(env: &Envelope) -> Vec<&[u8]> {
        env.items.iter().map(|i| &i.payload[..]).collect()
    }

    #[test]
    fn spec_example_with_attachment_and_event() {
        let env = parse(
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42\"}\n\
              {\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n\
              \xef\xbb\xbfHello\r\n\n\
              {\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\",\"filename\":\"application.log\"}\n\
              {\"message\":\"hello world\",\"level\":\"error\"}\n",
        )
        .unwrap();
        assert_eq!(
            env.header.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(
            env.header.dsn.as_deref(),
            Some("https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42")
        );
        assert_eq!(env.header.raw.len(), 2);
        assert_eq!(types(&env), ["attachment", "event"]);
        assert_eq!(env.items[0].payload, &b"\xef\xbb\xbfHello\r\n"[..]);
        assert_eq!(env.items[0].filename(), Some("hello.txt"));
        assert_eq!(env.items[0].content_type(), Some("text/plain"));
        assert_eq!(env.items[0].attachment_type(), None);
        assert_eq!(
            env.items[1].payload,
            &b"{\"message\":\"hello world\",\"level\":\"error\"}"[..]
        );
    }

    #[test]
    fn implicit_length_items() {
        let env = parse(
            b"{}\n{\"type\":\"session\"}\n{\"started\":\"2020-02-07T14:16:00Z\"}\n{\"type\":\"log\"}\n{\"items\":[]}",
        )
        .unwrap();
        assert_eq!(types(&env), ["session", "log"]);
        assert_eq!(
            payloads(&env),
            [
                &b"{\"started\":\"2020-02-07T14:16:00Z\"}"[..],
                &b"{\"items\":[]}"[..]
            ]
        );
    }

    #[test]
    fn explicit_length_without_trailing_newline() {
        let env = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}").unwrap();
        assert_eq!(payloads(&env), [&b"{}"[..]]);
    }

    #[test]
    fn explicit_length_directly_followed_by_next_header() {
        let env =
            parse(b"{}\n{\"type\":\"attachment\",\"length\":3}\nabc{\"type\":\"event\"}\n{}\n")
                .unwrap();
        assert_eq!(types(&env), ["attachment", "event"]);
        assert_eq!(payloads(&env), [&b"abc"[..], &b"{}"[..]]);
    }

    #[test]
    fn explicit_length_payload_may_contain_newlines() {
        let env = parse(b"{}\n{\"type\":\"attachment\",\"length\":6}\na\nb\n\nc\n{\"type\":\"event\",\"length\":0}\n").unwrap();
        assert_eq!(payloads(&env), [&b"a\nb\n\nc"[..], &b""[..]]);
    }

    #[test]
    fn zero_length_and_empty_implicit_payloads() {
        let env = parse(b"{}\n{\"type\":\"attachment\",\"length\":0}\n{\"type\":\"attachment\"}\n\n{\"type\":\"event\"}").unwrap();
        assert_eq!(types(&env), ["attachment", "attachment", "event"]);
        assert_eq!(payloads(&env), [&b""[..], &b""[..], &b""[..]]);
    }

    #[test]
    fn header_only_envelopes() {
        for body in [
            &b"{}"[..],
            b"{}\n",
            b"{}\n\n\n",
            b"  {}  \r\n",
            b"{\"event_id\":\"abc\"}",
        ] {
            let env = parse_envelope(Bytes::from_static(body), &Limits::default()).unwrap();
            assert!(env.items.is_empty(), "{body:?}");
        }
        assert_eq!(
            parse(b"{\"event_id\":\"abc\"}")
                .unwrap()
                .header
                .event_id
                .as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn empty_body() {
        assert_eq!(parse(b"").unwrap_err(), EnvelopeError::Empty);
        assert_eq!(parse(b" \n\r\n").unwrap_err(), EnvelopeError::Empty);
        assert_eq!(EnvelopeError::Empty.to_string(), "envelope is empty");
    }

    #[test]
    fn crlf_header_lines_tolerated() {
        let env = parse(b"{\"event_id\":\"x\"}\r\n{\"type\":\"event\",\"length\":2}\r\n{}\r\n{\"type\":\"check_in\"}\r\n{}\r\n").unwrap();
        assert_eq!(types(&env), ["event", "check_in"]);
        // An explicit length is exact; an implicit payload keeps its `\r`.
        assert_eq!(payloads(&env), [&b"{}"[..], &b"{}\r"[..]]);
    }

    #[test]
    fn trailing_blank_lines_are_ignored() {
        let env = parse(b"{}\n{\"type\":\"event\"}\n{}\n\n\n   \n").unwrap();
        assert_eq!(types(&env), ["event"]);
    }

    #[test]
    fn unknown_types_are_kept() {
        let env =
            parse(b"{}\n{\"type\":\"otel_thing\",\"length\":1}\nx\n{\"type\":\"event\"}\n{}\n")
                .unwrap();
        assert_eq!(
            env.items[0].item_type,
            ItemType::Unknown("otel_thing".into())
        );
        assert!(env.items[0].item_type.is_unknown());
        assert_eq!(env.items[1].item_type, ItemType::Event);
    }

    #[test]
    fn payloads_are_zero_copy() {
        let body = Bytes::from_static(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n");
        let env = parse_envelope(body.clone(), &Limits::default()).unwrap();
        let offset = env.items[0].payload.as_ptr() as usize - body.as_ptr() as usize;
        assert_eq!(offset, body.len() - 3);
    }

    #[test]
    fn invalid_envelope_header() {
        let err = parse(b"not json\n{\"type\":\"event\"}\n{}").unwrap_err();
        match &err {
            EnvelopeError::InvalidHeader { reason } => {
                assert!(reason.contains("not valid JSON"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("invalid envelope header: "));
        let err = parse(b"[1,2]\n").unwrap_err();
        match &err {
            EnvelopeError::InvalidHeader { reason } => {
                assert!(reason.contains("expected a JSON object"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
        // A header must be a single line.
        assert!(matches!(
            parse(b"{\n}\n"),
            Err(EnvelopeError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn invalid_item_header() {
        let err = parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"event\"\n").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::InvalidItemHeader { index: 1, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("invalid header of item 1: not valid JSON"),
            "{err}"
        );
        let err = parse(b"{}\n\"event\"\n").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::InvalidItemHeader { index: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn missing_or_bad_item_type() {
        assert_eq!(
            parse(b"{}\n{\"length\":2}\n{}").unwrap_err(),
            EnvelopeError::MissingItemType { index: 0 }
        );
        assert_eq!(
            parse(b"{}\n{\"type\":null}\n{}").unwrap_err(),
            EnvelopeError::MissingItemType { index: 0 }
        );
        let err = parse(b"{}\n{\"type\":7}\n{}").unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::InvalidItemHeader {
                index: 0,
                reason: "`type` must be a string".into()
            }
        );
    }

    #[test]
    fn bad_lengths() {
        for body in [
            &b"{}\n{\"type\":\"event\",\"length\":-1}\n{}"[..],
            b"{}\n{\"type\":\"event\",\"length\":1.5}\n{}",
            b"{}\n{\"type\":\"event\",\"length\":\"2\"}\n{}",
        ] {
            let err = parse_envelope(Bytes::from_static(body), &Limits::default()).unwrap_err();
            assert!(
                matches!(err, EnvelopeError::InvalidItemHeader { index: 0, .. }),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .contains("`length` must be a non-negative integer")
            );
        }
        // `length: null` means no length.
        let env = parse(b"{}\n{\"type\":\"event\",\"length\":null}\n{}\n").unwrap();
        assert_eq!(payloads(&env), [&b"{}"[..]]);
    }

    #[test]
    fn length_past_end() {
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":10}\n{}\n").unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::LengthOutOfBounds {
                index: 0,
                length: 10,
                remaining: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "item 0 declares a length of 10 bytes but only 3 bytes remain"
        );
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\n").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::LengthOutOfBounds { remaining: 0, .. }),
            "{err:?}"
        );
        // A header at the very end without newline has nothing after it.
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":1}").unwrap_err();
        assert!(
            matches!(err, EnvelopeError::LengthOutOfBounds { remaining: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn oversized_items() {
        let limits = Limits {
            max_event_bytes: 4,
            max_check_in_bytes: 2,
            max_attachment_bytes: 3,
            ..Limits::default()
        };
        let err = parse_envelope(
            Bytes::from_static(b"{}\n{\"type\":\"event\"}\n12345\n"),
            &limits,
        )
        .unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::ItemTooLarge {
                index: 0,
                item_type: "event".into(),
                size: 5,
                limit: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "item 0 (event) is 5 bytes, over the limit of 4 bytes"
        );
        let err = parse_envelope(
            Bytes::from_static(
                b"{}\n{\"type\":\"event\"}\n1234\n{\"type\":\"check_in\",\"length\":3}\n123",
            ),
            &limits,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::ItemTooLarge {
                    index: 1,
                    limit: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = parse_envelope(
            Bytes::from_static(b"{}\n{\"type\":\"whatever\"}\n1234\n"),
            &limits,
        )
        .unwrap_err();
        assert!(
            matches!(err, EnvelopeError::ItemTooLarge { limit: 3, .. }),
            "{err:?}"
        );
        // Exactly at the limit is fine.
        assert!(
            parse_envelope(
                Bytes::from_static(b"{}\n{\"type\":\"event\"}\n1234"),
                &limits
            )
            .is_ok()
        );
    }

    #[test]
    fn default_event_limit_is_one_mib() {
        let mut body = b"{}\n{\"type\":\"event\"}\n".to_vec();
        body.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 1));
        let err = parse_envelope(Bytes::from(body), &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::ItemTooLarge {
                    limit: 1_048_576,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn too_many_items() {
        let limits = Limits {
            max_items: 2,
            ..Limits::default()
        };
        let ok = b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"attachment\"}\nx\n\n";
        assert_eq!(
            parse_envelope(Bytes::from_static(ok), &limits)
                .unwrap()
                .items
                .len(),
            2
        );
        let too_many = b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"attachment\"}\nx\n{\"type\":\"attachment\"}\ny\n";
        let err = parse_envelope(Bytes::from_static(too_many), &limits).unwrap_err();
        assert_eq!(err, EnvelopeError::TooManyItems { limit: 2 });
        assert_eq!(err.to_string(), "envelope has more than 2 items");
    }

    #[test]
    fn limit_for_each_type() {
        let l = Limits::default();
        assert_eq!(l.max_event_bytes, 1024 * 1024);
        assert_eq!(l.max_attachment_bytes, 100 * 1024 * 1024);
        assert_eq!(l.max_check_in_bytes, 100 * 1024);
        assert_eq!(l.max_session_bytes, 100 * 1024);
        assert_eq!(l.max_log_bytes, 1024 * 1024);
        assert_eq!(l.max_items, 1000);
        for t in [
            ItemType::Event,
            ItemType::Transaction,
            ItemType::Feedback,
            ItemType::UserReport,
        ] {
            assert_eq!(l.limit_for(&t), l.max_event_bytes);
        }
        assert_eq!(l.limit_for(&ItemType::CheckIn), l.max_check_in_bytes);
        assert_eq!(l.limit_for(&ItemType::Session), l.max_session_bytes);
        assert_eq!(l.limit_for(&ItemType::Sessions), l.max_session_bytes);
        assert_eq!(l.limit_for(&ItemType::Log), l.max_log_bytes);
        for t in [
            ItemType::Attachment,
            ItemType::Profile,
            ItemType::ReplayEvent,
            ItemType::ReplayRecording,
            ItemType::Unknown("x".into()),
        ] {
            assert_eq!(l.limit_for(&t), l.max_attachment_bytes);
        }
    }

    #[test]
    fn item_type_names_round_trip() {
        let all = [
            ItemType::Event,
            ItemType::Transaction,
            ItemType::Attachment,
            ItemType::Session,
            ItemType::Sessions,
            ItemType::ClientReport,
            ItemType::CheckIn,
            ItemType::Log,
            ItemType::Feedback,
            ItemType::UserReport,
            ItemType::Profile,
            ItemType::ReplayEvent,
            ItemType::ReplayRecording,
            ItemType::Span,
            ItemType::Statsd,
            ItemType::MetricBuckets,
        ];
        for t in all {
            assert!(!t.is_unknown());
            assert_eq!(ItemType::from_name(t.as_str()), t);
            assert_eq!(t.as_str().parse::<ItemType>(), Ok(t.clone()));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(ItemType::from("check_in"), ItemType::CheckIn);
        assert_eq!(ItemType::from("Event"), ItemType::Unknown("Event".into()));
        assert_eq!(ItemType::Unknown("nel".into()).as_str(), "nel");
    }

    #[test]
    fn item_header_helpers() {
        let env = parse(
            b"{}\n{\"type\":\"attachment\",\"length\":1,\"filename\":\"dump.dmp\",\"attachment_type\":\"event.minidump\",\"content_type\":5}\nx",
        )
        .unwrap();
        let item = &env.items[0];
        assert_eq!(item.filename(), Some("dump.dmp"));
        assert_eq!(item.attachment_type(), Some("event.minidump"));
        assert_eq!(item.content_type(), None);
        assert_eq!(item.header_str("type"), Some("attachment"));
        assert_eq!(item.header.get("length"), Some(&Value::from(1)));
    }

    #[test]
    fn header_fields_of_wrong_type_are_ignored() {
        let env = parse(b"{\"event_id\":5,\"dsn\":null,\"sent_at\":\"2020-02-07T14:16:00Z\",\"sdk\":{\"name\":\"x\"}}\n").unwrap();
        assert_eq!(env.header.event_id, None);
        assert_eq!(env.header.dsn, None);
        assert_eq!(env.header.sent_at.as_deref(), Some("2020-02-07T14:16:00Z"));
        assert!(env.header.raw.contains_key("sdk"));
    }

    #[test]
    fn event_id_from_header_or_first_event() {
        let env = parse(b"{\"event_id\":\"aaa\"}\n{\"type\":\"event\"}\n{\"event_id\":\"bbb\"}\n")
            .unwrap();
        assert_eq!(env.event_id().as_deref(), Some("aaa"));
        let env = parse(
            b"{}\n{\"type\":\"attachment\"}\n{\"event_id\":\"zzz\"}\n{\"type\":\"transaction\"}\n{\"spans\":[{\"a\":[1,2,{}]}],\"event_id\":\"b\\u0062b\"}\n{\"type\":\"event\"}\n{\"event_id\":\"ccc\"}",
        )
        .unwrap();
        assert_eq!(env.event_id().as_deref(), Some("bbb"));
        let env = parse(b"{}\n{\"type\":\"event\"}\n{\"message\":\"x\"}\n").unwrap();
        assert_eq!(env.event_id(), None);
        let env = parse(b"{}\n{\"type\":\"event\"}\nnot json\n").unwrap();
        assert_eq!(env.event_id(), None);
        let env = parse(b"{}\n{\"type\":\"event\"}\n{\"event_id\":null}\n").unwrap();
        assert_eq!(env.event_id(), None);
        let env = parse(b"{}\n").unwrap();
        assert_eq!(env.event_id(), None);
    }

    #[test]
    fn event_id_normalization() {
        let want = Some("9ec79c33ec9942ab8353589fcb2e04dc".to_owned());
        for id in [
            "9ec79c33ec9942ab8353589fcb2e04dc",
            "9EC79C33EC9942AB8353589FCB2E04DC",
            "9ec79c33-ec99-42ab-8353-589fcb2e04dc",
            "{9ec79c33-ec99-42ab-8353-589fcb2e04dc}",
            " urn:uuid:9ec79c33-ec99-42ab-8353-589fcb2e04dc ",
        ] {
            assert_eq!(normalize_event_id(id), want, "{id}");
        }
        for id in [
            "",
            "abc",
            "9ec79c33ec9942ab8353589fcb2e04dz",
            "9ec79c33ec9942ab8353589fcb2e04dc0",
        ] {
            assert_eq!(normalize_event_id(id), None, "{id}");
        }
    }

    #[test]
    fn items_of_filters_by_type() {
        let env = parse(b"{}\n{\"type\":\"attachment\"}\na\n{\"type\":\"event\"}\n{}\n{\"type\":\"attachment\"}\nb\n").unwrap();
        let attachments: Vec<_> = env
            .items_of(&ItemType::Attachment)
            .map(|i| &i.payload[..])
            .collect();
        assert_eq!(attachments, [&b"a"[..], &b"b"[..]]);
    }
}
