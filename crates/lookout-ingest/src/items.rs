//! Turning envelope items into storage records. Pure, apart from the
//! compression dictionary it is handed: no I/O, no clock (the receive time
//! is passed in).

use crate::error::IngestError;
use crate::grouping::compute_grouping;
use crate::scrub::Scrubber;
use crate::summary::summarize;
use chrono::{DateTime, Utc};
use lookout_model::errors::{
    CheckInRow, Feedback, IngestBatch, LogRow, NewAttachment, NewEvent, NewSpan, NewTransaction,
    Outcome, SessionUpdate, TransactionRow, parse_event_id,
};
use lookout_model::settings::{InboundFilters, glob_match};
use lookout_protocol::{Envelope, Item, ItemType};
use lookout_storage::codec::{self, Dict};
use serde_json::Value;

/// What processing needs besides the items.
#[derive(Debug)]
pub struct ItemContext<'a> {
    /// The project.
    pub project_id: i64,
    /// When the envelope arrived (ms).
    pub received_ms: i64,
    /// The envelope header's event id, if any.
    pub envelope_event_id: Option<[u8; 16]>,
    /// Scrubber (server keys plus project keys).
    pub scrubber: &'a Scrubber,
    /// Inbound filters of the project.
    pub filters: &'a InboundFilters,
    /// Dictionary to compress payloads with.
    pub dict: Option<&'a Dict>,
}

/// The result of processing an envelope's items.
#[derive(Debug, Default)]
pub struct Processed {
    /// Records to store.
    pub batch: IngestBatch,
    /// Events dropped by inbound filters.
    pub filtered: u64,
    /// Items of unknown or unsupported types, skipped.
    pub skipped: u64,
    /// The id to answer with.
    pub answer_id: Option<String>,
    /// Events stored without a dictionary.
    pub plain_compressed: u64,
    /// Per event of `batch.events`, in the same order: what alert messages
    /// show and storage does not keep as columns.
    pub alert_extras: Vec<AlertExtras>,
}

/// What an alert message shows about an event beyond its stored columns.
#[derive(Debug, Clone, Default)]
pub struct AlertExtras {
    /// `file:line in function` of the top in-app frame.
    pub top_frame: Option<String>,
    /// The outermost exception's value.
    pub exception_value: Option<String>,
}

impl Processed {
    fn new(ctx: &ItemContext<'_>) -> Self {
        Processed {
            batch: IngestBatch {
                project_id: ctx.project_id,
                received_ms: ctx.received_ms,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Adds the accepted and filtered counts to the batch's outcomes.
    fn count_outcomes(&mut self) {
        let counts = [
            (Outcome::Accepted, "error", self.batch.events.len() as i64),
            (
                Outcome::Accepted,
                "transaction",
                self.batch.transactions.len() as i64,
            ),
            (Outcome::Filtered, "error", self.filtered as i64),
        ];
        for (outcome, category, n) in counts {
            if n > 0 {
                self.batch.outcomes.push((outcome, category.into(), n));
            }
        }
    }
}

fn invalid(item: &str, index: usize, e: impl std::fmt::Display) -> IngestError {
    IngestError::Invalid(format!("{item} item {index} is not valid JSON: {e}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn string_of(v: &Value, key: &str) -> Option<String> {
    str_of(v, key).map(str::to_string)
}

/// Seconds since the epoch from a number or an RFC 3339 string.
pub fn timestamp_secs(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .or_else(|| {
                DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|d| d.timestamp_micros() as f64 / 1e6)
            })
            .or_else(|| {
                // RFC 3339 without an offset means UTC.
                DateTime::parse_from_rfc3339(&format!("{s}Z"))
                    .ok()
                    .map(|d| d.timestamp_micros() as f64 / 1e6)
            }),
        _ => None,
    }
}

fn ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// Processes every item of `env`.
pub fn process_envelope(env: &Envelope, ctx: &ItemContext<'_>) -> Result<Processed, IngestError> {
    let mut out = Processed::new(ctx);
    for (i, item) in env.items.iter().enumerate() {
        process_item(i, item, ctx, &mut out)?;
    }
    if out.answer_id.is_none() {
        out.answer_id = ctx
            .envelope_event_id
            .map(|id| lookout_model::errors::event_id_hex(&id));
    }
    out.count_outcomes();
    Ok(out)
}

/// Processes one legacy `/store/` body: a single event.
pub fn process_store_body(body: &[u8], ctx: &ItemContext<'_>) -> Result<Processed, IngestError> {
    let mut out = Processed::new(ctx);
    let value: Value = serde_json::from_slice(body).map_err(|e| invalid("event", 0, e))?;
    let is_transaction = str_of(&value, "type") == Some("transaction");
    if is_transaction {
        process_transaction(0, value, ctx, &mut out)?;
    } else {
        process_event(0, value, body, ctx, &mut out)?;
    }
    out.count_outcomes();
    Ok(out)
}

fn process_item(
    i: usize,
    item: &Item,
    ctx: &ItemContext<'_>,
    out: &mut Processed,
) -> Result<(), IngestError> {
    let json = || -> Result<Value, IngestError> {
        serde_json::from_slice(&item.payload).map_err(|e| invalid(item.item_type.as_str(), i, e))
    };
    match &item.item_type {
        ItemType::Event => process_event(i, json()?, &item.payload, ctx, out),
        ItemType::Transaction => process_transaction(i, json()?, ctx, out),
        ItemType::Attachment => {
            let event_id = ctx.envelope_event_id.ok_or_else(|| {
                IngestError::Invalid(format!(
                    "attachment item {i} needs an event_id in the envelope header"
                ))
            })?;
            out.batch.attachments.push(NewAttachment {
                event_id,
                filename: item
                    .filename()
                    .unwrap_or("attachment")
                    .chars()
                    .take(200)
                    .collect(),
                content_type: item.content_type().map(str::to_string),
                attachment_type: item.attachment_type().map(str::to_string),
                data: item.payload.to_vec(),
            });
            Ok(())
        }
        ItemType::Session => {
            let v = json()?;
            if let Some(s) = session_update(&v, ctx.received_ms) {
                out.batch.sessions.push(s);
            }
            Ok(())
        }
        ItemType::Sessions => {
            let v = json()?;
            out.batch
                .sessions
                .extend(session_aggregates(&v, ctx.received_ms));
            Ok(())
        }
        ItemType::ClientReport => {
            let v = json()?;
            for (reason_key, list) in [
                ("discarded_events", v.get("discarded_events")),
                ("rate_limited_events", v.get("rate_limited_events")),
                ("filtered_events", v.get("filtered_events")),
            ] {
                for d in list.and_then(Value::as_array).into_iter().flatten() {
                    let reason = str_of(d, "reason").unwrap_or(reason_key);
                    let category = str_of(d, "category").unwrap_or("unknown");
                    let q = d.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                    if q > 0 {
                        out.batch.outcomes.push((
                            Outcome::ClientDiscard,
                            format!("{}:{}", truncate(reason, 64), truncate(category, 32)),
                            q,
                        ));
                    }
                }
            }
            Ok(())
        }
        ItemType::CheckIn => {
            let v = json()?;
            let slug = str_of(&v, "monitor_slug").ok_or_else(|| {
                IngestError::Invalid(format!("check_in item {i} has no monitor_slug"))
            })?;
            let status = str_of(&v, "status").unwrap_or("ok");
            if !matches!(status, "in_progress" | "ok" | "error") {
                return Err(IngestError::Invalid(format!(
                    "check_in item {i}: status `{status}` is not in_progress, ok or error"
                )));
            }
            out.batch.check_ins.push(CheckInRow {
                check_in_id: string_of(&v, "check_in_id").unwrap_or_default(),
                monitor_slug: truncate(slug, 128),
                status: status.to_string(),
                duration: v.get("duration").and_then(Value::as_f64),
                environment: string_of(&v, "environment"),
                release: string_of(&v, "release"),
                monitor_config: v.get("monitor_config").cloned().filter(|c| !c.is_null()),
                received_at: DateTime::from_timestamp_millis(ctx.received_ms).unwrap_or_default(),
            });
            Ok(())
        }
        ItemType::Log => {
            let v = json()?;
            for rec in v
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ts = timestamp_secs(rec.get("timestamp"))
                    .map(ms)
                    .unwrap_or(ctx.received_ms);
                out.batch.logs.push(LogRow {
                    timestamp: DateTime::from_timestamp_millis(ts).unwrap_or_default(),
                    level: string_of(rec, "level"),
                    body: rec
                        .get("body")
                        .map(|b| {
                            b.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| b.to_string())
                        })
                        .unwrap_or_default(),
                    trace_id: string_of(rec, "trace_id"),
                    attributes: rec.get("attributes").cloned(),
                });
            }
            Ok(())
        }
        ItemType::UserReport => {
            let v = json()?;
            let comments = str_of(&v, "comments").unwrap_or("").to_string();
            out.batch.feedback.push((
                str_of(&v, "event_id").and_then(parse_event_id),
                Feedback {
                    event_id: None,
                    name: string_of(&v, "name"),
                    email: string_of(&v, "email"),
                    comments,
                    received_at: DateTime::from_timestamp_millis(ctx.received_ms)
                        .unwrap_or_default(),
                },
            ));
            Ok(())
        }
        ItemType::Feedback => {
            let v = json()?;
            let fb = v
                .pointer("/contexts/feedback")
                .cloned()
                .unwrap_or(Value::Null);
            out.batch.feedback.push((
                str_of(&fb, "associated_event_id").and_then(parse_event_id),
                Feedback {
                    event_id: None,
                    name: string_of(&fb, "name"),
                    email: string_of(&fb, "contact_email"),
                    comments: str_of(&fb, "message").unwrap_or("").to_string(),
                    received_at: DateTime::from_timestamp_millis(ctx.received_ms)
                        .unwrap_or_default(),
                },
            ));
            Ok(())
        }
        _ => {
            out.skipped += 1;
            Ok(())
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn filtered(filters: &InboundFilters, s: &crate::summary::EventSummary) -> bool {
    if let Some(t) = &s.exception_type
        && filters.exception_types.iter().any(|f| f == t)
    {
        return true;
    }
    if filters
        .message_patterns
        .iter()
        .any(|p| glob_match(p, &s.title) || s.message.as_deref().is_some_and(|m| glob_match(p, m)))
    {
        return true;
    }
    if let Some(r) = &s.release
        && filters.releases.iter().any(|p| glob_match(p, r))
    {
        return true;
    }
    if let Some(e) = &s.environment
        && filters.environments.iter().any(|f| f == e)
    {
        return true;
    }
    false
}

fn process_event(
    i: usize,
    mut value: Value,
    raw: &[u8],
    ctx: &ItemContext<'_>,
    out: &mut Processed,
) -> Result<(), IngestError> {
    if !value.is_object() {
        return Err(IngestError::Invalid(format!(
            "event item {i} must be a JSON object"
        )));
    }
    let summary = summarize(&value);
    if filtered(ctx.filters, &summary) {
        out.filtered += 1;
        return Ok(());
    }
    let event_id = summary
        .event_id
        .as_deref()
        .and_then(parse_event_id)
        .or(ctx.envelope_event_id)
        .unwrap_or_else(|| *uuid::Uuid::new_v4().as_bytes());
    let grouping = compute_grouping(&value);
    let scrubbed = ctx.scrubber.scrub(&mut value);
    // Keep the bytes as sent unless scrubbing changed them.
    let owned;
    let json: &[u8] = if scrubbed > 0 {
        owned = serde_json::to_vec(&value)
            .map_err(|e| IngestError::Invalid(format!("event item {i}: {e}")))?;
        &owned
    } else {
        raw
    };
    let (dict_id, payload) = codec::compress(json, ctx.dict).map_err(IngestError::Storage)?;
    if dict_id == 0 {
        out.plain_compressed += 1;
    }
    let timestamp_ms = summary
        .timestamp
        .map(ms)
        .filter(|t| *t > 0)
        .unwrap_or(ctx.received_ms);
    if out.answer_id.is_none() {
        out.answer_id = Some(lookout_model::errors::event_id_hex(&event_id));
    }
    out.alert_extras.push(AlertExtras {
        top_frame: summary.top_frame,
        exception_value: summary.exception_value,
    });
    out.batch.events.push(NewEvent {
        event_id,
        grouping_hash: grouping.hash,
        grouping_version: grouping.version.to_string(),
        title: summary.title,
        culprit: summary.culprit,
        level: summary.level,
        exception_type: summary.exception_type,
        platform: Some(summary.platform),
        timestamp_ms,
        release: summary.release,
        environment: summary.environment,
        user_key: summary.user.map(|u| u.0),
        trace_id: summary.trace_id,
        tags: summary.tags,
        dict_id,
        payload,
    });
    Ok(())
}

fn process_transaction(
    i: usize,
    mut value: Value,
    ctx: &ItemContext<'_>,
    out: &mut Processed,
) -> Result<(), IngestError> {
    if !value.is_object() {
        return Err(IngestError::Invalid(format!(
            "transaction item {i} must be a JSON object"
        )));
    }
    let event_id = str_of(&value, "event_id")
        .and_then(parse_event_id)
        .or(ctx.envelope_event_id)
        .unwrap_or_else(|| *uuid::Uuid::new_v4().as_bytes());
    let start = timestamp_secs(value.get("start_timestamp"));
    let end = timestamp_secs(value.get("timestamp"));
    let (start_ms, duration_ms) = match (start, end) {
        (Some(s), Some(e)) => (ms(s), ((e - s) * 1000.0).max(0.0)),
        (Some(s), None) => (ms(s), 0.0),
        (None, Some(e)) => (ms(e), 0.0),
        (None, None) => (ctx.received_ms, 0.0),
    };
    let trace = value
        .pointer("/contexts/trace")
        .cloned()
        .unwrap_or(Value::Null);
    let spans: Vec<NewSpan> = value
        .get("spans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let span_id = str_of(s, "span_id")?.to_string();
            let st = timestamp_secs(s.get("start_timestamp"));
            let et = timestamp_secs(s.get("timestamp"));
            Some(NewSpan {
                span_id,
                parent_span_id: string_of(s, "parent_span_id"),
                op: string_of(s, "op"),
                description: s
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| truncate(d, 2000)),
                status: string_of(s, "status"),
                start_ms: st.map(ms).unwrap_or(start_ms),
                duration_ms: match (st, et) {
                    (Some(a), Some(b)) => ((b - a) * 1000.0).max(0.0),
                    _ => 0.0,
                },
            })
        })
        .collect();
    ctx.scrubber.scrub(&mut value);
    let json = serde_json::to_vec(&value)
        .map_err(|e| IngestError::Invalid(format!("transaction item {i}: {e}")))?;
    let (_, payload) = codec::compress(&json, None).map_err(IngestError::Storage)?;
    if out.answer_id.is_none() {
        out.answer_id = Some(lookout_model::errors::event_id_hex(&event_id));
    }
    out.batch.transactions.push(NewTransaction {
        event_id,
        row: TransactionRow {
            event_id: lookout_model::errors::event_id_hex(&event_id),
            trace_id: string_of(&trace, "trace_id"),
            transaction: str_of(&value, "transaction")
                .map(|t| truncate(t, 500))
                .unwrap_or_else(|| "<unnamed transaction>".into()),
            op: string_of(&trace, "op"),
            status: string_of(&trace, "status"),
            start: DateTime::<Utc>::from_timestamp_millis(start_ms).unwrap_or_default(),
            duration_ms,
            release: string_of(&value, "release"),
            environment: string_of(&value, "environment"),
            span_count: spans.len() as i64,
        },
        spans,
        payload,
    });
    Ok(())
}

fn attrs(v: &Value) -> (Option<String>, String) {
    let a = v.get("attrs").unwrap_or(&Value::Null);
    (
        string_of(a, "release"),
        string_of(a, "environment").unwrap_or_else(|| "production".into()),
    )
}

fn session_update(v: &Value, received_ms: i64) -> Option<SessionUpdate> {
    let (release, environment) = attrs(v);
    let status = str_of(v, "status").unwrap_or("ok");
    let init = v.get("init").and_then(Value::as_bool).unwrap_or(false);
    let started = timestamp_secs(v.get("started"))
        .map(ms)
        .unwrap_or(received_ms);
    Some(SessionUpdate {
        release: release?,
        environment,
        started_ms: started,
        total: i64::from(init),
        errored: i64::from(status == "errored"),
        crashed: i64::from(status == "crashed"),
        abnormal: i64::from(status == "abnormal"),
    })
}

fn session_aggregates(v: &Value, received_ms: i64) -> Vec<SessionUpdate> {
    let (release, environment) = attrs(v);
    let Some(release) = release else {
        return Vec::new();
    };
    let n = |a: &Value, k: &str| a.get(k).and_then(Value::as_i64).unwrap_or(0).max(0);
    v.get("aggregates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let (exited, errored, abnormal, crashed) = (
                n(a, "exited"),
                n(a, "errored"),
                n(a, "abnormal"),
                n(a, "crashed"),
            );
            SessionUpdate {
                release: release.clone(),
                environment: environment.clone(),
                started_ms: timestamp_secs(a.get("started"))
                    .map(ms)
                    .unwrap_or(received_ms),
                total: exited + errored + abnormal + crashed,
                errored,
                crashed,
                abnormal,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use lookout_protocol::{Limits, parse_envelope};

    fn ctx<'a>(scrubber: &'a Scrubber, filters: &'a InboundFilters) -> ItemContext<'a> {
        ItemContext {
            project_id: 1,
            received_ms: 1_700_000_000_000,
            envelope_event_id: None,
            scrubber,
            filters,
            dict: None,
        }
    }

    fn env(text: &str) -> Envelope {
        parse_envelope(Bytes::from(text.to_string()), &Limits::default()).unwrap()
    }

    #[test]
    fn every_known_item_type_becomes_a_record() {
        let s = Scrubber::default();
        let f = InboundFilters::default();
        let e = env(concat!(
            "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n",
            "{\"type\":\"event\"}\n",
            "{\"message\":\"hello 42\",\"level\":\"warning\"}\n",
            "{\"type\":\"attachment\",\"filename\":\"a.txt\",\"length\":3}\n",
            "abc\n",
            "{\"type\":\"session\"}\n",
            "{\"sid\":\"x\",\"init\":true,\"status\":\"crashed\",\"attrs\":{\"release\":\"1.0\"}}\n",
            "{\"type\":\"sessions\"}\n",
            "{\"aggregates\":[{\"started\":\"2024-01-01T00:00:00Z\",\"exited\":5,\"crashed\":1}],\"attrs\":{\"release\":\"1.0\",\"environment\":\"staging\"}}\n",
            "{\"type\":\"client_report\"}\n",
            "{\"discarded_events\":[{\"reason\":\"queue_overflow\",\"category\":\"error\",\"quantity\":4}]}\n",
            "{\"type\":\"check_in\"}\n",
            "{\"check_in_id\":\"c1\",\"monitor_slug\":\"nightly\",\"status\":\"ok\",\"duration\":1.5}\n",
            "{\"type\":\"log\"}\n",
            "{\"items\":[{\"timestamp\":1700000000.5,\"level\":\"info\",\"body\":\"started\"}]}\n",
            "{\"type\":\"user_report\"}\n",
            "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"name\":\"Ann\",\"email\":\"a@b.c\",\"comments\":\"broke\"}\n",
            "{\"type\":\"future_thing\"}\n",
            "{}\n",
        ));
        let mut c = ctx(&s, &f);
        c.envelope_event_id = parse_event_id("9ec79c33ec9942ab8353589fcb2e04dc");
        let p = process_envelope(&e, &c).unwrap();
        assert_eq!(p.batch.events.len(), 1);
        assert_eq!(p.batch.events[0].level, "warning");
        assert_eq!(p.batch.attachments.len(), 1);
        assert_eq!(p.batch.attachments[0].data, b"abc");
        assert_eq!(p.batch.sessions.len(), 2);
        assert_eq!(p.batch.sessions[0].crashed, 1);
        assert_eq!(p.batch.sessions[1].total, 6);
        assert_eq!(p.batch.check_ins[0].monitor_slug, "nightly");
        assert_eq!(p.batch.logs[0].body, "started");
        assert_eq!(p.batch.feedback[0].1.comments, "broke");
        assert_eq!(p.skipped, 1, "unknown item type skipped");
        assert!(
            p.batch
                .outcomes
                .iter()
                .any(|(o, c, q)| *o == Outcome::ClientDiscard
                    && c == "queue_overflow:error"
                    && *q == 4)
        );
        assert_eq!(
            p.answer_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        let json = codec::decompress(&p.batch.events[0].payload, None).unwrap();
        assert_eq!(json, b"{\"message\":\"hello 42\",\"level\":\"warning\"}");
    }

    #[test]
    fn bad_json_names_the_item() {
        let s = Scrubber::default();
        let f = InboundFilters::default();
        let e = env("{}\n{\"type\":\"event\"}\n{not json\n");
        let err = process_envelope(&e, &ctx(&s, &f)).unwrap_err();
        assert!(err.to_string().contains("event item 0"), "{err}");
        let e = env("{}\n{\"type\":\"check_in\"}\n{\"status\":\"ok\"}\n");
        let err = process_envelope(&e, &ctx(&s, &f)).unwrap_err();
        assert!(err.to_string().contains("monitor_slug"), "{err}");
    }

    #[test]
    fn filters_drop_and_count() {
        let s = Scrubber::default();
        let f = InboundFilters {
            exception_types: vec!["KeyboardInterrupt".into()],
            message_patterns: vec!["*healthcheck*".into()],
            releases: vec!["0.*".into()],
            environments: vec!["dev".into()],
        };
        let events = [
            r#"{"exception":{"values":[{"type":"KeyboardInterrupt","value":""}]}}"#,
            r#"{"message":"GET /healthcheck failed"}"#,
            r#"{"message":"x","release":"0.9"}"#,
            r#"{"message":"x","environment":"dev"}"#,
            r#"{"message":"kept","environment":"production"}"#,
        ];
        let mut text = String::from("{}\n");
        for e in events {
            text.push_str("{\"type\":\"event\"}\n");
            text.push_str(e);
            text.push('\n');
        }
        let p = process_envelope(&env(&text), &ctx(&s, &f)).unwrap();
        assert_eq!(p.filtered, 4);
        assert_eq!(p.batch.events.len(), 1);
        assert!(
            p.batch
                .outcomes
                .contains(&(Outcome::Filtered, "error".into(), 4))
        );
    }

    #[test]
    fn secrets_are_scrubbed_before_storage() {
        let s = Scrubber::default();
        let f = InboundFilters::default();
        let e = env(
            "{}\n{\"type\":\"event\"}\n{\"message\":\"m\",\"extra\":{\"password\":\"hunter2\"}}\n",
        );
        let p = process_envelope(&e, &ctx(&s, &f)).unwrap();
        let json = codec::decompress(&p.batch.events[0].payload, None).unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(
            !text.contains("hunter2") && text.contains("[Filtered]"),
            "{text}"
        );
    }

    #[test]
    fn transactions_keep_spans_and_duration() {
        let s = Scrubber::default();
        let f = InboundFilters::default();
        let e = env(concat!(
            "{}\n{\"type\":\"transaction\"}\n",
            "{\"type\":\"transaction\",\"transaction\":\"batch\",\"start_timestamp\":100.0,\"timestamp\":100.25,",
            "\"contexts\":{\"trace\":{\"trace_id\":\"t1\",\"op\":\"task\"}},",
            "\"spans\":[{\"span_id\":\"s1\",\"op\":\"db\",\"start_timestamp\":100.01,\"timestamp\":100.11}]}\n"
        ));
        let p = process_envelope(&e, &ctx(&s, &f)).unwrap();
        let t = &p.batch.transactions[0];
        assert_eq!(t.row.transaction, "batch");
        assert!((t.row.duration_ms - 250.0).abs() < 0.01);
        assert_eq!(t.spans.len(), 1);
        assert!((t.spans[0].duration_ms - 100.0).abs() < 0.01);
        assert_eq!(t.row.op.as_deref(), Some("task"));
        assert!(p.batch.events.is_empty());
    }
}
