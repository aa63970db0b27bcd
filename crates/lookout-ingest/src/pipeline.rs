//! The [`Ingestor`]: admission (auth, origin, quota, size), processing, and
//! hand-off to storage. The HTTP layer calls [`Ingestor::submit`] and maps
//! the result to a response; it does nothing else.
//!
//! The path of an envelope:
//! 1. authenticate the DSN key (header, query, or the envelope's `dsn`);
//! 2. decode the body with capped decompression and parse the envelope;
//! 3. check the project's quota;
//! 4. turn items into records (filters, scrubbing, grouping, compression);
//! 5. `Store::ingest`, which answers only once the records are durable;
//! 6. count the outcome.
//!
//! Every submission ends in exactly one outcome: accepted, or rejected with
//! a reason that is counted in `lookout_ingest_rejected_total`.

use crate::dicts::Dictionaries;
use crate::error::IngestError;
use crate::items::{ItemContext, Processed, process_envelope, process_store_body};
use crate::projects::ProjectCache;
use crate::quota::{QuotaDecision, Quotas};
use crate::scrub::Scrubber;
use bytes::Bytes;
use lookout_metrics::{Counter, CounterVec, HistogramVec, LATENCY_BUCKETS};
use lookout_model::errors::{EventResult, Outcome, parse_event_id};
use lookout_protocol::{
    DecodeError, Dsn, EnvelopeError, Limits, decode_body_bytes, parse_envelope,
    parse_sentry_auth_header, sentry_key_from_query,
};
use lookout_storage::Store;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Ingest limits and defaults.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Largest body before decompression.
    pub max_body_bytes: usize,
    /// Largest envelope after decompression.
    pub max_envelope_bytes: usize,
    /// Item size limits.
    pub limits: Limits,
    /// Default quota (0 = unlimited) for projects without their own.
    pub events_per_minute: u32,
    /// Keys to scrub (empty = built-in list).
    pub scrub_keys: Vec<String>,
}

/// Which endpoint a submission came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/api/{id}/envelope/`.
    Envelope,
    /// `/api/{id}/store/` (legacy: one JSON event).
    Store,
}

/// One HTTP submission, as the server parsed it.
#[derive(Debug)]
pub struct Submission<'a> {
    /// The `{project_id}` path segment.
    pub project_id: &'a str,
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// `X-Sentry-Auth` header.
    pub auth_header: Option<&'a str>,
    /// `Authorization` header (some SDKs send `Sentry …` there).
    pub authorization: Option<&'a str>,
    /// The URL query string.
    pub query: Option<&'a str>,
    /// `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
    /// `Origin`, for browser SDKs.
    pub origin: Option<&'a str>,
    /// The raw body (already capped at `max_body_bytes` by the server).
    pub body: Bytes,
}

/// What an [`EventObserver`] learns about one stored error event.
#[derive(Debug, Clone)]
pub struct EventFacts {
    /// The result storage returned (issue, new issue, regression).
    pub result: EventResult,
    /// When it was received (ms).
    pub received_ms: i64,
    /// Title (`Type: value` or the message).
    pub title: String,
    /// Culprit (the top in-app frame's function and module).
    pub culprit: String,
    /// `file:line in function` of the top in-app frame.
    pub top_frame: Option<String>,
    /// The outermost exception's value.
    pub exception_value: Option<String>,
    /// Level.
    pub level: String,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// Told about error events once they are durable (the alerting engine).
/// Called on the request path, so it must never block or wait: queue and
/// return.
pub trait EventObserver: Send + Sync + std::fmt::Debug {
    /// Whether it wants events at all now (no alert rule about errors:
    /// nothing is collected).
    fn interested(&self) -> bool {
        true
    }
    /// Events of `project_id` that were just stored.
    fn stored(&self, project_id: i64, events: Vec<EventFacts>);
}

/// A successful submission.
#[derive(Debug)]
pub struct Accepted {
    /// The id to answer `{"id": …}` with.
    pub id: Option<String>,
    /// What happened to each event.
    pub events: Vec<EventResult>,
}

struct IngestMetrics {
    rejected: CounterVec,
    accepted_events: Counter,
    accepted_envelopes: Counter,
    items: CounterVec,
    duplicates: Counter,
    duration: HistogramVec,
}

impl IngestMetrics {
    fn new() -> Self {
        let r = lookout_metrics::global();
        let rejected = r.counter_vec(
            "lookout_ingest_rejected",
            "Ingest submissions refused, by reason.",
            &["reason"],
        );
        for reason in [
            "unauthorized",
            "forbidden",
            "too_large",
            "invalid",
            "rate_limited",
            "overloaded",
            "filtered",
            "internal",
        ] {
            rejected.with(&[reason]);
        }
        IngestMetrics {
            rejected,
            accepted_events: r.counter(
                "lookout_ingest_accepted",
                "Error events stored (durable and grouped).",
            ),
            accepted_envelopes: r.counter(
                "lookout_ingest_envelopes_accepted",
                "Envelopes (or store requests) acknowledged.",
            ),
            items: r.counter_vec(
                "lookout_ingest_items",
                "Envelope items received, by type.",
                &["type"],
            ),
            duplicates: r.counter(
                "lookout_ingest_duplicate_events",
                "Events whose event_id was already stored (stored once).",
            ),
            duration: r.histogram_vec(
                "lookout_ingest_duration_seconds",
                "Time from request body to durable acknowledgement.",
                &["endpoint"],
                LATENCY_BUCKETS,
            ),
        }
    }
}

/// Outcome counts for rejections, per project and hour, flushed to storage
/// periodically (rejections do not touch the database on the hot path).
#[derive(Debug, Default)]
struct OutcomeTally(Mutex<HashMap<(i64, i64, Outcome, String), i64>>);

/// The ingest pipeline.
pub struct Ingestor {
    store: Arc<dyn Store>,
    settings: IngestSettings,
    projects: ProjectCache,
    quotas: Quotas,
    dicts: Arc<Dictionaries>,
    scrubber: Scrubber,
    tally: OutcomeTally,
    metrics: IngestMetrics,
    now_ms: Box<dyn Fn() -> i64 + Send + Sync>,
    observer: std::sync::OnceLock<Arc<dyn EventObserver>>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Ingestor {
    /// Builds the pipeline over `store`, reading the wall clock.
    pub fn new(store: Arc<dyn Store>, settings: IngestSettings) -> Self {
        Self::with_clock(store, settings, || chrono::Utc::now().timestamp_millis())
    }

    /// Builds the pipeline with an injected clock (milliseconds).
    pub fn with_clock(
        store: Arc<dyn Store>,
        settings: IngestSettings,
        now_ms: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Self {
        let scrubber = if settings.scrub_keys.is_empty() {
            Scrubber::default()
        } else {
            Scrubber::new(&settings.scrub_keys)
        };
        Ingestor {
            store,
            settings,
            projects: ProjectCache::default(),
            quotas: Quotas::default(),
            dicts: Arc::new(Dictionaries::default()),
            scrubber,
            tally: OutcomeTally::default(),
            metrics: IngestMetrics::new(),
            now_ms: Box::new(now_ms),
            observer: std::sync::OnceLock::new(),
        }
    }

    /// Sets the observer told about stored error events (once; later calls
    /// are ignored).
    pub fn set_observer(&self, observer: Arc<dyn EventObserver>) {
        let _ = self.observer.set(observer);
    }

    /// The project cache (the API invalidates it after settings changes).
    pub fn projects(&self) -> &ProjectCache {
        &self.projects
    }

    /// Counts a refusal that happened before [`submit`](Self::submit)
    /// (e.g. the body could not be read).
    pub fn count_rejection(&self, e: &IngestError) {
        self.metrics.rejected.with(&[e.reason()]).inc();
    }

    /// Whether browsers from `origin` may submit to `project_id`; used for
    /// CORS preflight requests.
    pub async fn origin_allowed(&self, project_id: i64, origin: &str) -> bool {
        match self.projects.settings(&*self.store, project_id).await {
            Ok(s) => s.origin_allowed(origin),
            Err(_) => false,
        }
    }

    /// Admits, processes and durably stores one submission.
    pub async fn submit(&self, sub: Submission<'_>) -> Result<Accepted, IngestError> {
        let started = Instant::now();
        let endpoint = sub.endpoint;
        let mut project_for_tally = None;
        let result = self.submit_inner(sub, &mut project_for_tally).await;
        match &result {
            Ok(a) => {
                self.metrics.accepted_envelopes.inc();
                let stored = a.events.iter().filter(|e| !e.duplicate).count() as u64;
                self.metrics.accepted_events.inc_by(stored);
                self.metrics
                    .duplicates
                    .inc_by(a.events.len() as u64 - stored);
                self.metrics
                    .duration
                    .with(&[match endpoint {
                        Endpoint::Envelope => "envelope",
                        Endpoint::Store => "store",
                    }])
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(e) => {
                self.metrics.rejected.with(&[e.reason()]).inc();
                let outcome = match e {
                    IngestError::TooLarge(_) => Some(Outcome::TooLarge),
                    IngestError::Invalid(_) | IngestError::UnsupportedEncoding(_) => {
                        Some(Outcome::Invalid)
                    }
                    IngestError::RateLimited { .. } => Some(Outcome::RateLimited),
                    IngestError::Overloaded | IngestError::ShuttingDown => {
                        Some(Outcome::Overloaded)
                    }
                    _ => None,
                };
                if let (Some(o), Some(p)) = (outcome, project_for_tally) {
                    let hour = (self.now_ms)().div_euclid(3_600_000);
                    *self
                        .tally
                        .0
                        .lock()
                        .entry((p, hour, o, "error".into()))
                        .or_default() += 1;
                }
            }
        }
        result
    }

    async fn submit_inner(
        &self,
        sub: Submission<'_>,
        project_for_tally: &mut Option<i64>,
    ) -> Result<Accepted, IngestError> {
        let project_id: i64 = sub.project_id.parse().map_err(|_| {
            IngestError::Invalid(format!("`{}` is not a project id", sub.project_id))
        })?;
        if sub.body.len() > self.settings.max_body_bytes {
            return Err(IngestError::TooLarge(format!(
                "request body exceeds the limit of {} bytes",
                self.settings.max_body_bytes
            )));
        }
        // Credentials from headers or the query come before any decoding.
        let mut key = sub
            .auth_header
            .and_then(parse_sentry_auth_header)
            .or_else(|| {
                sub.authorization
                    .filter(|a| a.trim_start().to_ascii_lowercase().starts_with("sentry "))
                    .and_then(parse_sentry_auth_header)
            })
            .map(|a| a.key)
            .or_else(|| sub.query.and_then(sentry_key_from_query));
        let admitted = match &key {
            Some(k) => Some(self.admit(project_id, k, sub.origin).await?),
            None => None,
        };
        if admitted.is_some() {
            *project_for_tally = Some(project_id);
        }

        let decoded = decode_body_bytes(
            sub.content_encoding,
            sub.body,
            self.settings.max_envelope_bytes,
        )
        .map_err(|e| match e {
            DecodeError::TooLarge { limit } => IngestError::TooLarge(format!(
                "decompressed body exceeds the limit of {limit} bytes"
            )),
            DecodeError::UnsupportedEncoding(enc) => IngestError::UnsupportedEncoding(format!(
                "unsupported Content-Encoding `{enc}`: use br, gzip, deflate, zstd or none"
            )),
            other => IngestError::Invalid(other.to_string()),
        })?;

        let now = (self.now_ms)();
        let (envelope, store_body) = match sub.endpoint {
            Endpoint::Envelope => {
                let env = parse_envelope(decoded, &self.settings.limits).map_err(|e| match e {
                    EnvelopeError::ItemTooLarge { .. } | EnvelopeError::TooManyItems { .. } => {
                        IngestError::TooLarge(e.to_string())
                    }
                    other => IngestError::Invalid(format!("malformed envelope: {other}")),
                })?;
                (Some(env), None)
            }
            Endpoint::Store => {
                if decoded.len() > self.settings.limits.max_event_bytes {
                    return Err(IngestError::TooLarge(format!(
                        "event exceeds the limit of {} bytes",
                        self.settings.limits.max_event_bytes
                    )));
                }
                (None, Some(decoded))
            }
        };
        if key.is_none() {
            // Last resort: the envelope header's DSN.
            key = envelope
                .as_ref()
                .and_then(|e| e.header.dsn.as_deref())
                .and_then(|d| Dsn::parse(d).ok())
                .map(|d| d.public_key);
        }
        let Some(key) = key else {
            return Err(IngestError::Unauthorized(
                "missing DSN key: send X-Sentry-Auth, ?sentry_key=, or a dsn in the envelope header"
                    .into(),
            ));
        };
        if admitted.is_none() {
            self.admit(project_id, &key, sub.origin).await?;
            *project_for_tally = Some(project_id);
        }
        let settings = self
            .projects
            .settings(&*self.store, project_id)
            .await
            .map_err(IngestError::from)?;
        for item in envelope.iter().flat_map(|e| e.items.iter()) {
            self.metrics.items.with(&[item.item_type.as_str()]).inc();
        }

        // Quota: error events and transactions count.
        let units = match &envelope {
            Some(env) => env
                .items
                .iter()
                .filter(|i| {
                    matches!(
                        i.item_type,
                        lookout_protocol::ItemType::Event | lookout_protocol::ItemType::Transaction
                    )
                })
                .count() as u64,
            None => 1,
        };
        let limit = settings
            .events_per_minute
            .unwrap_or(self.settings.events_per_minute);
        if limit > 0
            && units > 0
            && let QuotaDecision::Exceeded { retry_after } =
                self.quotas.take(project_id, limit, units, now)
        {
            return Err(IngestError::RateLimited { limit, retry_after });
        }

        let project_scrubber;
        let scrubber = if settings.scrub_keys.is_empty() {
            &self.scrubber
        } else {
            let mut keys: Vec<String> = if self.settings.scrub_keys.is_empty() {
                crate::scrub::DEFAULT_SCRUB_KEYS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                self.settings.scrub_keys.clone()
            };
            keys.extend(settings.scrub_keys.iter().cloned());
            project_scrubber = Scrubber::new(&keys);
            &project_scrubber
        };
        let dict = self.dicts.current(&*self.store, project_id).await;
        let ctx = ItemContext {
            project_id,
            received_ms: now,
            envelope_event_id: envelope
                .as_ref()
                .and_then(|e| e.header.event_id.as_deref())
                .and_then(parse_event_id),
            scrubber,
            filters: &settings.filters,
            dict: dict.as_deref(),
        };
        let processed: Processed = match (&envelope, &store_body) {
            (Some(env), _) => process_envelope(env, &ctx)?,
            (None, Some(body)) => process_store_body(body, &ctx)?,
            (None, None) => unreachable!("one of envelope or store body is set"),
        };
        if processed.filtered > 0 {
            // Dropped by a filter: a refusal of those events, counted as such.
            self.metrics
                .rejected
                .with(&["filtered"])
                .inc_by(processed.filtered);
        }
        let plain = processed.plain_compressed;
        let answer_id = processed.answer_id.clone();
        // Only what alerting needs is kept, and only when it listens.
        let observer = self.observer.get().filter(|o| o.interested());
        let facts: Vec<EventFacts> = match observer {
            Some(_) => processed
                .batch
                .events
                .iter()
                .zip(processed.alert_extras.iter())
                .map(|(e, x)| EventFacts {
                    result: EventResult {
                        event_id: lookout_model::errors::event_id_hex(&e.event_id),
                        issue_id: 0,
                        duplicate: false,
                        new_issue: false,
                        transition: lookout_model::errors::Transition::None,
                    },
                    received_ms: processed.batch.received_ms,
                    title: e.title.clone(),
                    culprit: e.culprit.clone(),
                    top_frame: x.top_frame.clone(),
                    exception_value: x.exception_value.clone(),
                    level: e.level.clone(),
                    environment: e.environment.clone(),
                    release: e.release.clone(),
                    tags: e.tags.clone(),
                })
                .collect(),
            None => Vec::new(),
        };
        let events = self
            .store
            .ingest(processed.batch)
            .await
            .map_err(IngestError::from)?;
        if let Some(obs) = observer
            && !facts.is_empty()
        {
            let facts: Vec<EventFacts> = facts
                .into_iter()
                .filter_map(|mut f| {
                    let r = events.iter().find(|r| r.event_id == f.result.event_id)?;
                    (!r.duplicate).then(|| {
                        f.result = r.clone();
                        f
                    })
                })
                .collect();
            if !facts.is_empty() {
                obs.stored(project_id, facts);
            }
        }
        self.dicts.note_plain(self.store.clone(), project_id, plain);
        Ok(Accepted {
            id: answer_id,
            events,
        })
    }

    /// Checks the key, the project and the browser origin.
    async fn admit(
        &self,
        project_id: i64,
        key: &str,
        origin: Option<&str>,
    ) -> Result<(), IngestError> {
        let found = self
            .projects
            .key(&*self.store, key)
            .await
            .map_err(IngestError::from)?;
        let Some(k) = found else {
            return Err(IngestError::Forbidden("unknown DSN key".into()));
        };
        if k.revoked_at.is_some() {
            return Err(IngestError::Forbidden("this DSN key was revoked".into()));
        }
        if k.project_id != project_id {
            return Err(IngestError::Forbidden(format!(
                "this DSN key does not belong to project {project_id}"
            )));
        }
        if let Some(origin) = origin {
            let s = self
                .projects
                .settings(&*self.store, project_id)
                .await
                .map_err(IngestError::from)?;
            if !s.origin_allowed(origin) {
                return Err(IngestError::Forbidden(format!(
                    "origin {origin} is not allowed for this project"
                )));
            }
        }
        Ok(())
    }

    /// Writes the tallied rejection outcomes to storage.
    pub async fn flush_outcomes(&self) -> lookout_storage::Result<()> {
        let rows: Vec<_> = {
            let mut t = self.tally.0.lock();
            t.drain().map(|((p, h, o, c), q)| (p, h, o, c, q)).collect()
        };
        if rows.is_empty() {
            return Ok(());
        }
        self.store.add_outcomes(rows).await
    }
}
