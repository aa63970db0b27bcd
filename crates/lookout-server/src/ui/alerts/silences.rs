//! `/alerts/silences`: silences and maintenance windows (active, planned
//! and expired in the last week), how many visible alerts each one mutes
//! now, the forms to create one (matchers, or one project or monitor for
//! maintenance) and Expire.

use super::forms::*;
use super::reach::Reach;
use super::{AlertsTab, alerts_nav, engine_status, fail};
use crate::alerting::service::{self, AlertFilter, SilenceInput, SilenceView};
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::posted::Posted;
use crate::ui::session::Viewer;
use crate::ui::{layout, relative_time};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use lookout_alert::{Matcher, Silence, SilenceKind, parse_duration};
use maud::{Markup, html};
use std::collections::HashMap;

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "Silence created. Matching alerts keep firing but notify nobody until it ends.",
    ),
    ("maintenance", "Maintenance window created."),
    ("expired", "Silence expired: matching alerts notify again."),
];

/// How long expired silences stay listed.
const HISTORY_DAYS: i64 = 7;

/// The silence form's fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct SilenceForm {
    kind: String,
    matchers: String,
    project_id: String,
    monitor_id: String,
    duration: String,
    ends_at: String,
    comment: String,
}

impl SilenceForm {
    fn from_pairs(p: &Pairs) -> SilenceForm {
        SilenceForm {
            kind: p.get("kind"),
            matchers: p.get("matchers"),
            project_id: p.get("project_id"),
            monitor_id: p.get("monitor_id"),
            duration: p.get("duration"),
            ends_at: p.get("ends_at"),
            comment: p.get("comment"),
        }
    }

    fn blank() -> SilenceForm {
        SilenceForm {
            duration: "2h".into(),
            ..Default::default()
        }
    }

    /// The silence the form describes (starting `now`), or its problems.
    /// `monitor_project` finds a monitor's project.
    pub fn to_silence(
        &self,
        now: DateTime<Utc>,
        created_by: &str,
        monitor_project: impl Fn(i64) -> Option<i64>,
    ) -> Result<Silence, FieldErrors> {
        let mut errs = FieldErrors::new();
        let maintenance = self.kind == "maintenance";
        let mut matchers = Vec::new();
        if maintenance {
            let monitor: Option<i64> = self.monitor_id.trim().parse().ok();
            let project = match monitor {
                Some(m) => match monitor_project(m) {
                    Some(p) => Some(p),
                    None => {
                        errs.push(("monitor_id".into(), format!("no monitor {m}")));
                        None
                    }
                },
                None => self.project_id.trim().parse().ok(),
            };
            match project {
                Some(p) => matchers.push(Matcher::eq("project_id", &p.to_string())),
                None if errs.is_empty() => {
                    errs.push(("project_id".into(), "choose a project or a monitor".into()))
                }
                None => {}
            }
            if let Some(m) = monitor {
                matchers.push(Matcher::eq("monitor_id", &m.to_string()));
            }
        } else {
            for line in lines(&self.matchers) {
                match line.parse::<Matcher>() {
                    Ok(m) => matchers.push(m),
                    Err(e) => errs.push(("matchers".into(), e.to_string())),
                }
            }
            if matchers.is_empty() && errs.is_empty() {
                errs.push((
                    "matchers".into(),
                    "a silence needs at least one matcher, e.g. alertname=\"New issue\"".into(),
                ));
            }
        }
        let ends_at = if !self.ends_at.trim().is_empty() {
            match NaiveDateTime::parse_from_str(self.ends_at.trim(), "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(self.ends_at.trim(), "%Y-%m-%d %H:%M"))
            {
                Ok(t) => Some(t.and_utc()),
                Err(_) => {
                    errs.push((
                        "ends_at".into(),
                        format!(
                            "`{}` is not a time like 2026-05-01T18:30 (UTC)",
                            self.ends_at.trim()
                        ),
                    ));
                    None
                }
            }
        } else {
            match parse_duration(&self.duration) {
                Ok(d) if d > Duration::zero() => Some(now + d),
                Ok(_) => {
                    errs.push(("duration".into(), "must be longer than 0s".into()));
                    None
                }
                Err(e) => {
                    errs.push((
                        "duration".into(),
                        format!("`{}`: {e} (e.g. 30m, 2h, 1d)", self.duration.trim()),
                    ));
                    None
                }
            }
        };
        if let Some(e) = ends_at
            && e <= now
        {
            errs.push(("ends_at".into(), "the end is in the past".into()));
        }
        if self.comment.chars().count() > 1000 {
            errs.push(("comment".into(), "at most 1000 characters".into()));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Silence {
            id: 0,
            kind: if maintenance {
                SilenceKind::Maintenance
            } else {
                SilenceKind::Silence
            },
            matchers,
            starts_at: now,
            ends_at: ends_at.unwrap_or(now),
            created_by: created_by.into(),
            comment: self.comment.trim().to_string(),
        })
    }
}

/// The service's status as the page says it.
/// The form's fields (a service error names one of them).
const FIELDS: [&str; 6] = [
    "matchers",
    "project_id",
    "monitor_id",
    "duration",
    "ends_at",
    "comment",
];

/// What the service takes.
fn input_of(s: &Silence) -> SilenceInput {
    SilenceInput {
        kind: Some(match s.kind {
            SilenceKind::Maintenance => "maintenance".into(),
            SilenceKind::Silence => "silence".into(),
        }),
        matchers: s.matchers.iter().map(|m| m.to_string()).collect(),
        starts_at: Some(s.starts_at),
        ends_at: Some(s.ends_at),
        duration: None,
        comment: s.comment.clone(),
    }
}

fn status_word(status: &str) -> &str {
    if status == "pending" {
        "planned"
    } else {
        status
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    reach: &Reach,
    done: Option<&str>,
    form: &SilenceForm,
    errs: &FieldErrors,
    problem: Option<&str>,
) -> Result<Markup, Response> {
    let now = Utc::now();
    let access = viewer.access();
    let history = now - Duration::days(HISTORY_DAYS);
    let rows: Vec<SilenceView> = service::list_silences(state, &access, None)
        .await
        .map_err(|e| fail(viewer, e))?
        .into_iter()
        .filter(|s| s.ends_at > history)
        .collect();
    // What each silence mutes now, among the alerts the viewer may read.
    let live = service::list_alerts(
        state,
        &access,
        AlertFilter {
            states: vec!["firing".into(), "pending".into()],
            limit: Some(service::MAX_LIMIT),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| fail(viewer, e))?;
    let mut mutes: HashMap<i64, usize> = HashMap::new();
    for id in live.items.iter().flat_map(|a| &a.silenced_by) {
        *mutes.entry(*id).or_default() += 1;
    }
    // The monitors to offer for maintenance: those of the viewer's projects.
    let monitors: Vec<_> = state
        .store()
        .list_monitors(None)
        .await
        .map_err(server_error)?
        .into_iter()
        .filter(|m| reach.member_of(m.project_id))
        .collect();
    let writable: Vec<_> = reach.member_projects().collect();
    let csrf = &viewer.session.csrf_token;
    let maintenance = form.kind == "maintenance";
    let (active, expired): (Vec<&SilenceView>, Vec<&SilenceView>) =
        rows.iter().partition(|s| s.status != "expired");
    let table = |list: &[&SilenceView], id: &str| {
        html! {
            table id=(id) {
                thead { tr { th { "Silence" } th { "Matchers" } th.optional { "From" } th { "Until" } th.optional { "By" } th { "" } } }
                tbody {
                    @for s in list {
                        @let mutes = mutes.get(&s.id).copied().unwrap_or(0);
                        tr.silence-row id={ "silence-" (s.id) } data-status=(s.status) {
                            td {
                                "#" (s.id) " "
                                span.badge { (if s.kind == "maintenance" { "maintenance" } else { "silence" }) }
                                " " span.badge.silence-status { (status_word(s.status)) }
                                @if !s.comment.is_empty() { br; span.silence-comment { (s.comment) } }
                                @if s.status == "active" {
                                    br; span.muted.silence-mutes { "mutes " (mutes) " alert" @if mutes != 1 { "s" } " now" }
                                }
                            }
                            td { @for m in &s.matchers { code.matcher { (m) } " " } }
                            td.optional { (relative_time(s.starts_at)) }
                            td { time datetime=(s.ends_at.to_rfc3339()) { (s.ends_at.format("%Y-%m-%d %H:%M UTC")) } }
                            td.optional.silence-creator { (s.created_by) }
                            td {
                                @if s.editable {
                                    form.inline method="post" action={ "/alerts/silences/" (s.id) "/expire" } {
                                        input type="hidden" name="csrf_token" value=(csrf);
                                        button.secondary.expire-silence type="submit" { "Expire" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    // Both forms have these fields: ids carry the form's prefix, and only
    // the submitted form gets its values back.
    let until = |prefix: &str, errs: &FieldErrors, mine: bool| {
        let blank = SilenceForm::blank();
        let f = if mine { form } else { &blank };
        let field = |name: &str, label: &str, value: &str, hint: &str, kind: &str| {
            let id = format!("{prefix}-{name}");
            let invalid = !errors_for(errs, name).is_empty();
            html! {
                div.field {
                    label for=(id) { (label) }
                    input id=(id) type=(kind) name=(name) value=(value) aria-invalid=[invalid.then_some("true")];
                    span.muted { (hint) }
                    (field_errors(errs, name))
                }
            }
        };
        html! {
            (field("duration", "For", &f.duration, "e.g. 30m, 2h, 1d", "text"))
            (field("ends_at", "Or until (UTC)", &f.ends_at, "takes precedence over “For” when set", "datetime-local"))
            (field("comment", "Comment", &f.comment, "why, for the others", "text"))
        }
    };
    let no_errs = FieldErrors::new();
    let (silence_errs, maint_errs) = if maintenance {
        (&no_errs, errs)
    } else {
        (errs, &no_errs)
    };
    Ok(html! {
        (alerts_nav(viewer, AlertsTab::Silences))
        (notice(done, NOTICES))
        (engine_status(state))
        @if let Some(p) = problem { p.error #form-problem { (p) } }
        p.muted { "Silenced alerts keep firing and stay visible on the alerts page, marked “muted by”; they just notify nobody. When a silence ends, an alert still firing is notified again." }
        h2 { "Active and planned" }
        @if active.is_empty() { p.muted #no-silences { "No silences in force." } } @else { (table(&active, "silences")) }
        div.panels {
            div.panel {
                h2 { "New silence" }
                (error_summary("The silence", silence_errs))
                form #silence-form .stack method="post" action="/alerts/silences" {
                    input type="hidden" name="csrf_token" value=(csrf);
                    input type="hidden" name="kind" value="silence";
                    div.field {
                        label for="f-matchers" { "Matchers (one per line, all must match)" }
                        textarea #f-matchers name="matchers" rows="3" placeholder="alertname=\"New issue\"\nproject_id=3\nseverity=~\"high|critical\"" aria-invalid=[(!errors_for(silence_errs, "matchers").is_empty()).then_some("true")] { (if maintenance { "" } else { form.matchers.as_str() }) }
                        span.muted { "Labels: alertname, severity, project_id, issue_id, environment, level, monitor_id, monitor, channel, and the rule's. Only administrators may silence beyond one project (" code { "project_id=<id>" } ")." }
                        (field_errors(silence_errs, "matchers"))
                    }
                    (until("s", silence_errs, !maintenance))
                    button #create-silence type="submit" { "Silence" }
                }
            }
            div.panel {
                h2 { "Maintenance window" }
                (error_summary("The maintenance window", maint_errs))
                @if writable.is_empty() && !reach.admin {
                    p.muted { "Maintenance windows need the member role in a project." }
                } @else {
                    form #maintenance-form .stack method="post" action="/alerts/silences" {
                        input type="hidden" name="csrf_token" value=(csrf);
                        input type="hidden" name="kind" value="maintenance";
                        div.field {
                            label for="f-project_id" { "Project" }
                            select #f-project_id name="project_id" {
                                @for (id, p) in &writable { option value=(id) selected[form.project_id == id.to_string()] { (p.name) } }
                            }
                            (field_errors(maint_errs, "project_id"))
                        }
                        div.field {
                            label for="f-monitor_id" { "Monitor" }
                            select #f-monitor_id name="monitor_id" {
                                option value="" { "The whole project" }
                                @for m in &monitors {
                                    option value=(m.id) selected[form.monitor_id == m.id.to_string()] {
                                        (reach.project_name(m.project_id).unwrap_or("")) " / " (m.name)
                                    }
                                }
                            }
                            span.muted { "A monitor implies its project." }
                            (field_errors(maint_errs, "monitor_id"))
                        }
                        (until("m", maint_errs, maintenance))
                        button #create-maintenance type="submit" { "Start maintenance" }
                    }
                }
            }
        }
        h2 { "Expired in the last " (HISTORY_DAYS) " days" }
        @if expired.is_empty() { p.muted { "None." } } @else { (table(&expired, "expired-silences")) }
    })
}

/// `GET /alerts/silences`.
pub async fn list(State(state): State<AppState>, viewer: Viewer, Query(done): Query<Done>) -> Page {
    let reach = Reach::of(&state, &viewer)
        .await
        .map_err(|e| fail(&viewer, e))?;
    let body = render(
        &state,
        &viewer,
        &reach,
        done.done.as_deref(),
        &SilenceForm::blank(),
        &FieldErrors::new(),
        None,
    )
    .await?;
    Ok(html_page(
        StatusCode::OK,
        layout("Silences", Some(&viewer), body),
    ))
}

/// `POST /alerts/silences`.
pub async fn create(
    State(state): State<AppState>,
    Posted {
        viewer,
        form: pairs,
    }: Posted<Pairs>,
) -> Page {
    let reach = Reach::of(&state, &viewer)
        .await
        .map_err(|e| fail(&viewer, e))?;
    let f = SilenceForm::from_pairs(&pairs);
    let monitors = state
        .store()
        .list_monitors(None)
        .await
        .map_err(server_error)?;
    let parsed = f.to_silence(Utc::now(), &viewer.user.email, |id| {
        monitors
            .iter()
            .find(|m| m.id == id && reach.role(m.project_id).is_some())
            .map(|m| m.project_id)
    });
    let result = match parsed {
        Ok(s) => service::create_silence(&state, &viewer.access(), input_of(&s)).await,
        Err(errs) => {
            let body = render(&state, &viewer, &reach, None, &f, &errs, None).await?;
            return Ok(html_page(
                StatusCode::BAD_REQUEST,
                layout("Silences", Some(&viewer), body),
            ));
        }
    };
    match result {
        Ok(row) => Ok(Redirect::to(&format!(
            "/alerts/silences?done={}#silence-{}",
            if f.kind == "maintenance" {
                "maintenance"
            } else {
                "created"
            },
            row.id
        ))
        .into_response()),
        Err(ApiError::BadRequest(m)) => {
            let field = super::field_of(&m, &FIELDS).unwrap_or_else(|| "matchers".into());
            let body = render(&state, &viewer, &reach, None, &f, &vec![(field, m)], None).await?;
            Ok(html_page(
                StatusCode::BAD_REQUEST,
                layout("Silences", Some(&viewer), body),
            ))
        }
        Err(e @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            let (status, msg) = (e.status(), e.to_string());
            let body = render(
                &state,
                &viewer,
                &reach,
                None,
                &f,
                &FieldErrors::new(),
                Some(&msg),
            )
            .await?;
            Ok(html_page(status, layout("Silences", Some(&viewer), body)))
        }
        Err(e) => Err(fail(&viewer, e)),
    }
}

/// `POST /alerts/silences/{id}/expire`.
pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    service::expire_silence(&state, &viewer.access(), id)
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(Redirect::to("/alerts/silences?done=expired").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_silence_from_matchers_and_a_duration() {
        let f = SilenceForm {
            kind: "silence".into(),
            matchers: "alertname=\"New issue\"\n\nproject_id=3\n".into(),
            duration: "2h".into(),
            comment: "deploying".into(),
            ..Default::default()
        };
        let s = f.to_silence(at(), "a@example.com", |_| None).unwrap();
        assert_eq!(s.matchers.len(), 2);
        assert_eq!(s.ends_at, at() + Duration::hours(2));
        assert_eq!(service::silence_project(&s.matchers).unwrap(), Some(3));
    }

    #[test]
    fn a_maintenance_window_on_a_monitor_names_its_project() {
        let f = SilenceForm {
            kind: "maintenance".into(),
            monitor_id: "9".into(),
            ends_at: "2026-05-01T18:30".into(),
            ..Default::default()
        };
        let s = f
            .to_silence(at(), "a@example.com", |m| (m == 9).then_some(4))
            .unwrap();
        let text: Vec<String> = s.matchers.iter().map(|m| m.to_string()).collect();
        assert_eq!(text, ["project_id=4", "monitor_id=9"]);
        assert_eq!(s.kind, SilenceKind::Maintenance);
        assert_eq!(
            s.ends_at,
            "2026-05-01T18:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn problems_by_field() {
        let f = SilenceForm {
            kind: "silence".into(),
            matchers: "nonsense".into(),
            duration: "forever".into(),
            ..Default::default()
        };
        let errs = f.to_silence(at(), "x", |_| None).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["matchers", "duration"]);
        let f = SilenceForm {
            kind: "silence".into(),
            matchers: "a=b".into(),
            ends_at: "2020-01-01T00:00".into(),
            ..Default::default()
        };
        assert_eq!(
            f.to_silence(at(), "x", |_| None).unwrap_err()[0].0,
            "ends_at"
        );
    }
}
