//! Monitors in the UI (issue #5): the project's monitor list (status,
//! uptime, response-time sparkline), a monitor's page (response-time
//! chart, incidents with causes, health sub-checks, heartbeat output and
//! push URL), and the create/edit forms. Validation is the API's
//! (`routes::monitors::save_monitor`): errors come back per field with
//! their position and are shown next to the form.
//!
//! Charts are SVG attributes (the CSP forbids inline style).

use super::common::*;
use super::session::Viewer;
use super::{ProjectTab, layout, project_nav, relative_time};
use crate::access::Role;
use crate::routes::monitors::{MonitorInput, SaveError, read_monitor, save_monitor, write_monitor};
use crate::state::AppState;
use crate::ui::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use lookout_model::Project;
use lookout_monitor::{FieldError, Kind, MonitorSpec};
use lookout_storage::{MonitorRecord, MonitorResult, UptimeSummary};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::BTreeMap;

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "Monitor created. Its first check runs within one interval.",
    ),
    ("saved", "Monitor saved."),
    ("paused", "Monitor paused."),
    ("resumed", "Monitor resumed."),
    ("deleted", "Monitor deleted."),
];

/// A status badge.
pub fn status_badge(status: &str) -> Markup {
    html! { span class={ "badge mon-" (status) } { (status) } }
}

fn pct(v: Option<f64>) -> String {
    match v {
        Some(p) if p >= 99.995 => "100%".into(),
        Some(p) => format!("{p:.2}%"),
        None => "–".into(),
    }
}

/// A response-time sparkline (oldest left), as SVG attributes only.
pub fn sparkline(results: &[MonitorResult], width: f64, height: f64, class: &str) -> Markup {
    let pts: Vec<(f64, &MonitorResult)> = results
        .iter()
        .rev()
        .filter_map(|r| r.latency_ms.map(|l| (l, r)))
        .collect();
    if pts.len() < 2 {
        return html! { span.muted { "no data yet" } };
    }
    let max = pts.iter().map(|(l, _)| *l).fold(1.0_f64, f64::max);
    let step = width / (pts.len() - 1) as f64;
    let mut line = String::new();
    for (i, (l, _)) in pts.iter().enumerate() {
        let x = i as f64 * step;
        let y = height - 1.0 - (l / max) * (height - 2.0);
        line.push_str(&format!("{x:.1},{y:.1} "));
    }
    let fails: Vec<f64> = pts
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| r.status == "down")
        .map(|(i, _)| i as f64 * step)
        .collect();
    html! {
        svg class=(class) viewBox={ "0 0 " (width) " " (height) } preserveAspectRatio="none" role="img" aria-label={ "response time, max " (format!("{max:.0}")) " ms" } {
            title { "response time (max " (format!("{max:.0}")) " ms)" }
            @for x in fails { rect.fail x=(format!("{:.1}", (x - 1.0).max(0.0))) y="0" width="2" height=(height) {} }
            polyline points=(line.trim_end()) {}
        }
    }
}

fn uptime_cells(u: &UptimeSummary) -> Markup {
    html! { td.uptime { (pct(u.h24)) } td.uptime.optional { (pct(u.d30)) } }
}

fn target_of(m: &MonitorRecord) -> String {
    let s = &m.spec;
    let get = |k: &str| s.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match m.kind.as_str() {
        "http" | "health" => get("url").to_string(),
        "tcp" => format!(
            "{}:{}",
            get("host"),
            s.get("port").and_then(|v| v.as_u64()).unwrap_or(0)
        ),
        "dns" => get("host").to_string(),
        _ => match s.get("cron").and_then(|v| v.as_str()) {
            Some(c) => format!("cron {c}"),
            None => format!(
                "every {} s",
                s.get("interval_secs")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(60)
            ),
        },
    }
}

/// `GET /projects/{id}/monitors`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Page {
    let (project, role) = viewer
        .access()
        .read_project(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let store = state.store();
    let monitors = store.list_monitors(Some(id)).await.map_err(server_error)?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for m in &monitors {
        let up = store
            .monitor_uptime(m.id, now)
            .await
            .map_err(server_error)?;
        let recent = store
            .monitor_results(m.id, now - Duration::hours(24), 60)
            .await
            .map_err(server_error)?;
        let status = state
            .monitoring()
            .live_status(m.id)
            .unwrap_or_else(|| m.state.status.clone());
        rows.push((m, up, recent, status));
    }
    let body = html! {
        (project_nav(&project, ProjectTab::Monitors))
        (notice(done.done.as_deref(), NOTICES))
        div.actions {
            @if role >= Role::Member { a.button #new-monitor href={ "/projects/" (id) "/monitors/new" } { "New monitor" } }
            @if role == Role::Admin { " " a href="/admin/status-pages" { "Status pages" } }
        }
        @if rows.is_empty() {
            div.empty-state {
                p { "No monitors yet." }
                p.muted { "Watch an URL or a /health endpoint, a TCP port or a DNS name, or give a cron job a push URL. Sentry cron check-ins (" code { "@monitor" } ", " code { "capture_checkin" } ") create monitors here by themselves." }
            }
        } @else {
            table #monitors {
                thead { tr { th { "Status" } th { "Monitor" } th.optional { "Target" } th { "24 h" } th.optional { "30 d" } th { "Response time (24 h)" } th.optional { "Last check" } } }
                tbody {
                    @for (m, up, recent, status) in &rows {
                        tr.monitor-row data-status=(status) {
                            td { (status_badge(status)) }
                            td {
                                a.monitor-name href={ "/monitors/" (m.id) } { (m.name) }
                                " " span.muted { (m.kind) }
                                @if m.source == "config" { " " span.badge { "config" } }
                                @if m.source == "sentry" { " " span.badge { "sentry" } }
                            }
                            td.optional { code { (target_of(m)) } }
                            (uptime_cells(up))
                            td { (sparkline(recent, 120.0, 24.0, "spark")) }
                            td.optional.last-message {
                                @if let Some(t) = m.state.last_check_at { (relative_time(t)) " " }
                                span.muted { (m.state.last_message.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&format!("Monitors · {}", project.name), Some(&viewer), body),
    ))
}

fn duration_words(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `GET /monitors/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Page {
    let (m, project, role) = read_monitor(&state, &viewer.access(), id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let store = state.store();
    let now = Utc::now();
    let up = store.monitor_uptime(id, now).await.map_err(server_error)?;
    let recent = store
        .monitor_results(id, now - Duration::hours(24), 500)
        .await
        .map_err(server_error)?;
    let incidents = store
        .monitor_incidents(id, 50)
        .await
        .map_err(server_error)?;
    let status = state
        .monitoring()
        .live_status(id)
        .unwrap_or_else(|| m.state.status.clone());
    let csrf = &viewer.session.csrf_token;
    let details = m.state.last_details.clone().unwrap_or_default();
    let checks = details["health"]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let conditions = details["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ping_url = m
        .ping_token
        .as_ref()
        .map(|t| format!("{}/ping/{t}", state.config().public_url()));
    let can_edit = role >= Role::Member;
    let body = html! {
        (project_nav(&project, ProjectTab::Monitors))
        (notice(done.done.as_deref(), NOTICES))
        h2 #monitor-title { (m.name) " " (status_badge(&status)) }
        p.muted {
            (m.kind) " · " code { (target_of(&m)) }
            @if m.source == "config" { " · " span.badge #from-config { "from lookout.toml" } " (edit it there)" }
            @if m.source == "sentry" { " · created by a Sentry check-in" }
            " · state changed " (relative_time(m.state.since))
        }
        @if let Some(msg) = &m.state.last_message { p #last-message { "Last check: " (msg) } }
        table.uptime-summary {
            tr { th { "24 h" } th { "7 d" } th { "30 d" } th { "90 d" } }
            tr #uptime { td { (pct(up.h24)) } td { (pct(up.d7)) } td { (pct(up.d30)) } td { (pct(up.d90)) } }
        }
        @if can_edit {
            div.actions {
                @if m.source != "config" { a.button #edit-monitor href={ "/monitors/" (id) "/edit" } { "Edit" } " " }
                form.inline method="post" action={ "/monitors/" (id) "/pause" } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    @if m.paused {
                        input type="hidden" name="paused" value="false";
                        button.secondary #resume-monitor type="submit" { "Resume" }
                    } @else {
                        input type="hidden" name="paused" value="true";
                        button.secondary #pause-monitor type="submit" { "Pause" }
                    }
                }
                @if m.source != "config" {
                    " "
                    form.inline method="post" action={ "/monitors/" (id) "/delete" } {
                        input type="hidden" name="csrf_token" value=(csrf);
                        button.danger #delete-monitor type="submit" { "Delete" }
                    }
                }
            }
        }
        section {
            h2 { "Response time, last 24 hours" }
            (sparkline(&recent, 560.0, 120.0, "chart response-time"))
        }
        @if !checks.is_empty() {
            section #sub-checks {
                h2 { "Health checks" }
                table {
                    thead { tr { th { "Check" } th { "Status" } th { "Latency" } th { "Message" } } }
                    tbody {
                        @for c in &checks {
                            tr.sub-check {
                                td { (c["name"].as_str().unwrap_or("")) }
                                td { (status_badge(match c["health"].as_str() { Some("healthy") => "up", Some("degraded") => "degraded", _ => "down" })) }
                                td { @if let Some(l) = c["latency_ms"].as_f64() { (format!("{l:.1} ms")) } }
                                td { (c["message"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        @if !conditions.is_empty() {
            section #conditions {
                h2 { "Conditions" }
                ul { @for c in &conditions { li { @if c["ok"] == true { "✓ " } @else { "✗ " } code { (c["result"].as_str().unwrap_or("")) } } } }
            }
        }
        @if m.kind == "heartbeat" {
            section #heartbeat {
                h2 { "Heartbeat" }
                @if let Some(u) = &ping_url {
                    p { "Push URL (GET or POST; append " code { "/start" } " or " code { "/fail" } "):" }
                    pre #ping-url { (u) }
                    pre.muted { "curl -fsS -m 10 --retry 3 " (u) " > /dev/null" }
                }
                p { "Last ping: " @if let Some(t) = m.state.last_ping_at { (relative_time(t)) } @else { "never" } }
                @if let Some(o) = &m.state.last_output { h3 { "Last output" } pre #last-output { (o) } }
            }
        }
        section {
            h2 { "Incidents" }
            @if incidents.is_empty() { p.muted #no-incidents { "No incidents." } } @else {
                table #incidents {
                    thead { tr { th { "Status" } th { "Started" } th { "Duration" } th { "Cause" } } }
                    tbody {
                        @for i in &incidents {
                            tr.incident {
                                td { (status_badge(&i.status)) }
                                td { (relative_time(i.started_at)) }
                                td { (duration_words((i.ended_at.unwrap_or(now) - i.started_at).num_seconds())) @if i.ended_at.is_none() { " (ongoing)" } }
                                td.cause { (i.cause) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Recent checks" }
            table #results {
                tbody {
                    @for r in recent.iter().take(20) {
                        tr { td { (status_badge(&r.status)) } td { (relative_time(r.at)) } td { @if let Some(l) = r.latency_ms { (format!("{l:.0} ms")) } } td { (r.message) } }
                    }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&m.name, Some(&viewer), body),
    ))
}

/// The monitor form's fields, all as typed.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct MonitorForm {
    csrf_token: String,
    name: String,
    slug: String,
    kind: String,
    url: String,
    method: String,
    headers: String,
    body: String,
    accepted_status: String,
    follow_redirects: Option<String>,
    verify_tls: Option<String>,
    keyword: String,
    keyword_absent: Option<String>,
    conditions: String,
    host: String,
    port: String,
    expected_address: String,
    interval_secs: String,
    retry_interval_secs: String,
    timeout_secs: String,
    failure_threshold: String,
    success_threshold: String,
    cron: String,
    timezone: String,
    grace_secs: String,
    max_runtime_secs: String,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl MonitorForm {
    fn from_record(m: &MonitorRecord) -> MonitorForm {
        let spec: MonitorSpec =
            serde_json::from_value(m.spec.clone()).unwrap_or_else(|_| MonitorSpec::new(Kind::Http));
        let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        MonitorForm {
            csrf_token: String::new(),
            name: m.name.clone(),
            slug: m.slug.clone(),
            kind: spec.kind.as_str().into(),
            url: spec.url.clone().unwrap_or_default(),
            method: spec.method.clone(),
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            body: spec.body.clone().unwrap_or_default(),
            accepted_status: spec.accepted_status.clone(),
            follow_redirects: spec.follow_redirects.then(|| "on".into()),
            verify_tls: spec.verify_tls.then(|| "on".into()),
            keyword: spec.keyword.clone().unwrap_or_default(),
            keyword_absent: spec.keyword_absent.then(|| "on".into()),
            conditions: spec.conditions.join("\n"),
            host: spec.host.clone().unwrap_or_default(),
            port: spec.port.map(|p| p.to_string()).unwrap_or_default(),
            expected_address: spec.expected_address.clone().unwrap_or_default(),
            interval_secs: spec.interval_secs.to_string(),
            retry_interval_secs: n(spec.retry_interval_secs),
            timeout_secs: spec.timeout_secs.to_string(),
            failure_threshold: n(spec.failure_threshold),
            success_threshold: n(spec.success_threshold),
            cron: spec.cron.clone().unwrap_or_default(),
            timezone: spec.timezone.clone().unwrap_or_default(),
            grace_secs: n(spec.grace_secs),
            max_runtime_secs: n(spec.max_runtime_secs),
        }
    }

    /// Builds the definition; numbers that do not parse are field errors.
    fn spec(&self) -> Result<MonitorSpec, Vec<FieldError>> {
        let mut errs = Vec::new();
        let kind = Kind::parse(self.kind.trim()).unwrap_or_else(|| {
            errs.push(FieldError {
                field: "kind".into(),
                position: None,
                reason: "choose a kind".into(),
            });
            Kind::Http
        });
        let mut num = |field: &str, v: &str| -> Option<u32> {
            let t = v.trim();
            if t.is_empty() {
                return None;
            }
            match t.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errs.push(FieldError {
                        field: field.into(),
                        position: Some(1),
                        reason: format!("`{t}` is not a whole number"),
                    });
                    None
                }
            }
        };
        let mut s = MonitorSpec::new(kind);
        s.url = opt(&self.url);
        s.method = opt(&self.method)
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        s.body = opt(&self.body);
        s.accepted_status = opt(&self.accepted_status).unwrap_or_else(|| "200-399".into());
        s.follow_redirects = self.follow_redirects.is_some();
        s.verify_tls = self.verify_tls.is_some();
        s.keyword = opt(&self.keyword);
        s.keyword_absent = self.keyword_absent.is_some();
        s.conditions = self
            .conditions
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        s.host = opt(&self.host);
        s.port = num("port", &self.port).map(|p| p.min(65_535) as u16);
        s.expected_address = opt(&self.expected_address);
        if let Some(n) = num("interval_secs", &self.interval_secs) {
            s.interval_secs = n;
        }
        s.retry_interval_secs = num("retry_interval_secs", &self.retry_interval_secs);
        if let Some(n) = num("timeout_secs", &self.timeout_secs) {
            s.timeout_secs = n;
        }
        s.failure_threshold = num("failure_threshold", &self.failure_threshold);
        s.success_threshold = num("success_threshold", &self.success_threshold);
        s.cron = opt(&self.cron);
        s.timezone = opt(&self.timezone);
        s.grace_secs = num("grace_secs", &self.grace_secs);
        s.max_runtime_secs = num("max_runtime_secs", &self.max_runtime_secs);
        let mut headers = BTreeMap::new();
        for line in self
            .headers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            match line.split_once(':') {
                Some((k, v)) => {
                    headers.insert(k.trim().to_string(), v.trim().to_string());
                }
                None => errs.push(FieldError {
                    field: "headers".into(),
                    position: None,
                    reason: format!("`{line}` is not `Name: value`"),
                }),
            }
        }
        s.headers = headers;
        if errs.is_empty() { Ok(s) } else { Err(errs) }
    }
}

fn field_errors<'a>(errs: &'a [FieldError], field: &str) -> Vec<&'a FieldError> {
    errs.iter()
        .filter(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
        .collect()
}

fn form_page(
    viewer: &Viewer,
    project: &Project,
    action: &str,
    f: &MonitorForm,
    errs: &[FieldError],
    problem: Option<&str>,
    new: bool,
) -> Markup {
    let csrf = &viewer.session.csrf_token;
    let input = |name: &'static str, label: &'static str, value: &str, hint: &'static str| {
        let es = field_errors(errs, name);
        html! {
            div.field {
                label for=(name) { (label) }
                input id=(name) type="text" name=(name) value=(value) aria-invalid=[(!es.is_empty()).then_some("true")];
                @if !hint.is_empty() { span.muted { (hint) } }
                @for e in es { span.error.field-error data-field=(e.field) { (e.to_string()) } }
            }
        }
    };
    let check = |name: &'static str, label: &'static str, on: bool| {
        html! {
            label { input type="checkbox" name=(name) checked[on]; " " (label) }
        }
    };
    let kinds = [
        ("http", "HTTP(S)"),
        ("health", "Health endpoint (JSON)"),
        ("tcp", "TCP port"),
        ("dns", "DNS"),
        ("heartbeat", "Heartbeat / cron job"),
    ];
    html! {
        (project_nav(project, ProjectTab::Monitors))
        h2 { @if new { "New monitor" } @else { "Edit " (f.name) } }
        @if let Some(p) = problem { p.error #form-problem { (p) } }
        @if !errs.is_empty() {
            div.error #form-errors role="alert" {
                p { "The monitor was not saved:" }
                ul { @for e in errs { li { (e.to_string()) } } }
            }
        }
        form #monitor-form method="post" action=(action) {
            input type="hidden" name="csrf_token" value=(csrf);
            (input("name", "Name", &f.name, ""))
            @if new { (input("slug", "Slug (optional; Sentry's monitor_slug)", &f.slug, "letters, digits, - _ .")) }
            div.field {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    @for (k, l) in kinds { option value=(k) selected[f.kind == k] { (l) } }
                }
            }
            fieldset {
                legend { "HTTP and health endpoints" }
                (input("url", "URL", &f.url, "http:// or https://"))
                (input("method", "Method", &f.method, "GET, HEAD, POST, …"))
                div.field {
                    label for="headers" { "Headers (one `Name: value` per line)" }
                    textarea #headers name="headers" rows="2" { (f.headers) }
                    @for e in field_errors(errs, "headers") { span.error.field-error { (e.to_string()) } }
                }
                (input("body", "Request body", &f.body, ""))
                (input("accepted_status", "Accepted status codes", &f.accepted_status, "e.g. 200-299,301"))
                (check("follow_redirects", "Follow redirects", f.follow_redirects.is_some()))
                " "
                (check("verify_tls", "Verify the TLS certificate", f.verify_tls.is_some()))
                (input("keyword", "Keyword", &f.keyword, ""))
                (check("keyword_absent", "The keyword must be absent", f.keyword_absent.is_some()))
                div.field {
                    label for="conditions" { "Conditions (one per line)" }
                    textarea #conditions name="conditions" rows="3" placeholder="[STATUS] == 200\n[RESPONSE_TIME] < 500\n[BODY].status == \"healthy\"" { (f.conditions) }
                    @for e in field_errors(errs, "conditions") { span.error.field-error data-field=(e.field) { (e.to_string()) } }
                }
            }
            fieldset {
                legend { "TCP and DNS" }
                (input("host", "Host", &f.host, ""))
                (input("port", "Port (TCP)", &f.port, ""))
                (input("expected_address", "Expected address (DNS)", &f.expected_address, ""))
            }
            fieldset {
                legend { "Heartbeat / cron" }
                (input("cron", "Cron expression (empty: every interval)", &f.cron, "e.g. 0 3 * * *"))
                (input("timezone", "Time zone", &f.timezone, "e.g. Europe/Paris (default UTC)"))
                (input("grace_secs", "Grace (seconds)", &f.grace_secs, "default 60"))
                (input("max_runtime_secs", "Max runtime of a run (seconds)", &f.max_runtime_secs, ""))
            }
            fieldset {
                legend { "Schedule and thresholds" }
                (input("interval_secs", "Interval (seconds)", &f.interval_secs, ""))
                (input("retry_interval_secs", "Retry interval after a failure (seconds)", &f.retry_interval_secs, "default: a third of the interval"))
                (input("timeout_secs", "Timeout (seconds)", &f.timeout_secs, ""))
                (input("failure_threshold", "Failures before down", &f.failure_threshold, "default 3 (heartbeats 1)"))
                (input("success_threshold", "Successes before up", &f.success_threshold, "default 2 (heartbeats 1)"))
            }
            button #save-monitor type="submit" { "Save" }
        }
    }
}

/// `GET /projects/{id}/monitors/new`.
pub async fn new_form(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Page {
    let project = viewer
        .access()
        .write_project(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let f = MonitorForm {
        kind: "http".into(),
        method: "GET".into(),
        accepted_status: "200-399".into(),
        follow_redirects: Some("on".into()),
        verify_tls: Some("on".into()),
        interval_secs: "60".into(),
        timeout_secs: "10".into(),
        ..Default::default()
    };
    let action = format!("/projects/{id}/monitors");
    Ok(html_page(
        StatusCode::OK,
        layout(
            "New monitor",
            Some(&viewer),
            form_page(&viewer, &project, &action, &f, &[], None, true),
        ),
    ))
}

async fn submit(
    state: &AppState,
    viewer: &Viewer,
    project: &Project,
    existing: Option<&MonitorRecord>,
    f: MonitorForm,
) -> Response {
    let action = match existing {
        Some(m) => format!("/monitors/{}/edit", m.id),
        None => format!("/projects/{}/monitors", project.id),
    };
    let again = |errs: &[FieldError], problem: Option<&str>, status: StatusCode| {
        html_page(
            status,
            layout(
                "Monitor",
                Some(viewer),
                form_page(
                    viewer,
                    project,
                    &action,
                    &f,
                    errs,
                    problem,
                    existing.is_none(),
                ),
            ),
        )
    };
    let spec = match f.spec() {
        Ok(s) => s,
        Err(errs) => {
            state.monitoring().count_rejection("other");
            return again(&errs, None, StatusCode::BAD_REQUEST);
        }
    };
    let input = MonitorInput {
        name: f.name.trim().to_string(),
        slug: opt(&f.slug),
        spec,
        source: "ui",
    };
    match save_monitor(state, &viewer.access(), project, existing, input).await {
        Ok(m) => Redirect::to(&format!(
            "/monitors/{}?done={}",
            m.id,
            if existing.is_some() {
                "saved"
            } else {
                "created"
            }
        ))
        .into_response(),
        Err(SaveError::Invalid(e)) => again(&e.0, None, StatusCode::BAD_REQUEST),
        Err(SaveError::Api(crate::error::ApiError::Forbidden(m))) => {
            again(&[], Some(&m), StatusCode::FORBIDDEN)
        }
        Err(SaveError::Api(crate::error::ApiError::Conflict(m))) => {
            again(&[], Some(&m), StatusCode::CONFLICT)
        }
        Err(SaveError::Api(e)) => error_page(viewer, e),
    }
}

/// `POST /projects/{id}/monitors`.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<MonitorForm>,
) -> Page {
    let project = viewer
        .access()
        .write_project(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    Ok(submit(&state, &viewer, &project, None, f).await)
}

/// `GET /monitors/{id}/edit`.
pub async fn edit_form(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Page {
    let (m, project) = write_monitor(&state, &viewer.access(), id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let f = MonitorForm::from_record(&m);
    let action = format!("/monitors/{id}/edit");
    Ok(html_page(
        StatusCode::OK,
        layout(
            "Edit monitor",
            Some(&viewer),
            form_page(&viewer, &project, &action, &f, &[], None, false),
        ),
    ))
}

/// `POST /monitors/{id}/edit`.
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<MonitorForm>,
) -> Page {
    let (m, project) = write_monitor(&state, &viewer.access(), id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    Ok(submit(&state, &viewer, &project, Some(&m), f).await)
}

/// Pause form.
#[derive(Debug, Deserialize)]
pub struct PauseForm {
    #[serde(default)]
    csrf_token: String,
    paused: String,
}

/// `POST /monitors/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<PauseForm>,
) -> Page {
    write_monitor(&state, &viewer.access(), id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let paused = f.paused == "true";
    state
        .monitoring()
        .set_paused(id, paused)
        .await
        .map_err(|e| error_page(&viewer, e.into()))?;
    Ok(Redirect::to(&format!(
        "/monitors/{id}?done={}",
        if paused { "paused" } else { "resumed" }
    ))
    .into_response())
}

/// `POST /monitors/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    let (m, project) = write_monitor(&state, &viewer.access(), id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    if m.source == "config" {
        return Err(error_page(
            &viewer,
            crate::error::ApiError::Conflict(
                "this monitor is declared in lookout.toml; remove it there".into(),
            ),
        ));
    }
    state
        .store()
        .delete_monitor(id)
        .await
        .map_err(server_error)?;
    state.monitoring().remove(id);
    Ok(Redirect::to(&format!("/projects/{}/monitors?done=deleted", project.id)).into_response())
}

/// `POST /monitors/validate`: the form's problems as JSON, for validation
/// as you type (`assets/app.js`). Checks the definition only: the
/// private-address rule and slugs are checked when saving.
pub async fn validate(Posted { form: f, .. }: Posted<MonitorForm>) -> Response {
    let mut errs = match f.spec() {
        Ok(spec) => spec.compile().err().map(|e| e.0).unwrap_or_default(),
        Err(errs) => errs,
    };
    if f.name.trim().is_empty() {
        errs.insert(
            0,
            FieldError {
                field: "name".into(),
                position: None,
                reason: "the name is empty".into(),
            },
        );
    }
    let items: Vec<serde_json::Value> = errs
        .iter()
        .map(|e| serde_json::json!({"field": e.field, "position": e.position, "reason": e.reason, "text": e.to_string()}))
        .collect();
    axum::Json(serde_json::json!({ "errors": items })).into_response()
}

crate::ui::posted::csrf_token_field!(MonitorForm, PauseForm);
