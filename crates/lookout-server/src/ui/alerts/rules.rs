//! `/alerts/rules`: the rules the viewer may read, and the form to create,
//! edit and delete one. The form has every condition kind of
//! docs/alerts.md with its parameters (app.js hides the parameters of the
//! other kinds; without it they are all shown, and only the chosen kind's
//! are read). Problems come back with a 400 next to their field. Rules
//! declared in lookout.toml are shown read-only.

use super::forms::*;
use super::reach::Reach;
use super::{AlertsTab, alerts_nav, engine_status, fail, severity_badge};
use crate::alerting::service::{self, RuleView};
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::layout;
use crate::ui::posted::Posted;
use crate::ui::session::Viewer;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use lookout_alert::{
    Condition, FrequencyPer, Matcher, ProjectRef, Rule, Scope, Severity, format_duration,
    parse_duration,
};
use lookout_storage::AlertSource;
use maud::{Markup, html};

const NOTICES: &[(&str, &str)] = &[
    ("created", "Rule created. It is evaluated from now on."),
    ("saved", "Rule saved."),
    ("deleted", "Rule deleted, with its alerts."),
];

/// Every condition kind a person can write (docs/alerts.md, "Condition
/// kinds"; `channel_failing` is built in), with a label and the
/// parameters it takes.
pub const KINDS: &[(&str, &str, &[&str])] = &[
    ("new_issue", "New issue", &[]),
    (
        "regression",
        "Regression (a resolved issue comes back)",
        &[],
    ),
    (
        "issue_frequency",
        "Issue frequency (more than N events in a window)",
        &["threshold", "window", "per"],
    ),
    (
        "error_rate_spike",
        "Error rate spike (against a baseline)",
        &["window", "baseline", "factor", "min_events"],
    ),
    (
        "new_issue_after_release",
        "New issue soon after a release or deploy",
        &["within"],
    ),
    ("backup_failed", "Backup failed", &[]),
    (
        "storage_damaged",
        "Storage damaged (integrity check failed)",
        &[],
    ),
    (
        "disk_low",
        "Disk space low (under the disk guard's watermark)",
        &[],
    ),
    ("monitor_down", "Monitor down", &[]),
    ("monitor_degraded", "Monitor degraded", &[]),
    ("monitor_recovered", "Monitor recovered", &[]),
    ("heartbeat_missed", "Heartbeat missed", &[]),
    ("tls_expiring", "TLS certificate expiring", &["days"]),
];

/// The levels a scope can name.
const LEVELS: [&str; 5] = ["fatal", "error", "warning", "info", "debug"];

/// The rule form's fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct RuleForm {
    name: String,
    severity: String,
    kind: String,
    threshold: String,
    window: String,
    per: String,
    baseline: String,
    factor: String,
    min_events: String,
    within: String,
    days: String,
    projects: Vec<i64>,
    environments: String,
    levels: Vec<String>,
    tags: String,
    for_: String,
    resolve_after: String,
    labels: String,
    annotations: String,
    enabled: bool,
}

fn kv_text(m: &lookout_alert::Labels) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl RuleForm {
    fn blank() -> RuleForm {
        RuleForm {
            severity: "high".into(),
            kind: "new_issue".into(),
            threshold: "10".into(),
            window: "5m".into(),
            per: "project".into(),
            baseline: "1h".into(),
            factor: "3".into(),
            min_events: "10".into(),
            within: "1h".into(),
            days: "14".into(),
            for_: "0s".into(),
            resolve_after: "24h".into(),
            enabled: true,
            ..Default::default()
        }
    }

    fn from_pairs(p: &Pairs) -> RuleForm {
        RuleForm {
            name: p.get("name"),
            severity: p.get("severity"),
            kind: p.get("kind"),
            threshold: p.get("threshold"),
            window: p.get("window"),
            per: p.get("per"),
            baseline: p.get("baseline"),
            factor: p.get("factor"),
            min_events: p.get("min_events"),
            within: p.get("within"),
            days: p.get("days"),
            projects: p
                .all("projects")
                .iter()
                .filter_map(|v| v.parse().ok())
                .collect(),
            environments: p.get("environments"),
            levels: p.all("levels"),
            tags: p.get("tags"),
            for_: p.get("for"),
            resolve_after: p.get("resolve_after"),
            labels: p.get("labels"),
            annotations: p.get("annotations"),
            enabled: p.on("enabled"),
        }
    }

    fn from_rule(r: &Rule) -> RuleForm {
        let mut f = RuleForm::blank();
        f.name = r.name.clone();
        f.severity = r.severity.as_str().into();
        f.kind = r.condition.kind().into();
        match &r.condition {
            Condition::IssueFrequency {
                threshold,
                window,
                per,
            } => {
                f.threshold = threshold.to_string();
                f.window = format_duration(*window);
                f.per = match per {
                    FrequencyPer::Issue => "issue".into(),
                    FrequencyPer::Project => "project".into(),
                };
            }
            Condition::ErrorRateSpike {
                window,
                baseline,
                factor,
                min_events,
            } => {
                f.window = format_duration(*window);
                f.baseline = format_duration(*baseline);
                f.factor = factor.to_string();
                f.min_events = min_events.to_string();
            }
            Condition::NewIssueAfterRelease { within } => f.within = format_duration(*within),
            Condition::TlsExpiring { days } => f.days = days.to_string(),
            _ => {}
        }
        f.projects = r.scope.project_ids();
        f.environments = r.scope.environments.join(", ");
        f.levels = r.scope.levels.clone();
        f.tags = r
            .scope
            .tags
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        f.for_ = format_duration(r.for_duration);
        f.resolve_after = r.resolve_after.map(format_duration).unwrap_or_default();
        f.labels = kv_text(&r.labels);
        f.annotations = kv_text(&r.annotations);
        f.enabled = r.enabled;
        f
    }

    /// The rule the form describes, or what is wrong with it, by field.
    pub fn to_rule(&self) -> Result<Rule, FieldErrors> {
        let mut errs = FieldErrors::new();
        let name = self.name.trim();
        if name.is_empty() {
            errs.push(("name".into(), "a rule needs a name".into()));
        } else if name.chars().count() > 200 {
            errs.push(("name".into(), "at most 200 characters".into()));
        }
        let severity = match self.severity.parse::<Severity>() {
            Ok(s) => s,
            Err(e) => {
                errs.push(("severity".into(), e));
                Severity::High
            }
        };
        let dur = |field: &str, v: &str, errs: &mut FieldErrors| -> Duration {
            match parse_duration(v) {
                Ok(d) => d,
                Err(e) => {
                    errs.push((
                        field.into(),
                        format!("`{}`: {e} (e.g. 30s, 5m, 4h, 2d)", v.trim()),
                    ));
                    Duration::zero()
                }
            }
        };
        fn num<T: std::str::FromStr + Default>(
            field: &str,
            v: &str,
            what: &str,
            errs: &mut FieldErrors,
        ) -> T {
            match v.trim().parse() {
                Ok(n) => n,
                Err(_) => {
                    errs.push((field.into(), format!("`{}` is not {what}", v.trim())));
                    T::default()
                }
            }
        }
        let condition = match self.kind.as_str() {
            "new_issue" => Condition::NewIssue,
            "regression" => Condition::Regression,
            "issue_frequency" => Condition::IssueFrequency {
                threshold: num("threshold", &self.threshold, "a whole number", &mut errs),
                window: dur("window", &self.window, &mut errs),
                per: if self.per == "issue" {
                    FrequencyPer::Issue
                } else {
                    FrequencyPer::Project
                },
            },
            "error_rate_spike" => Condition::ErrorRateSpike {
                window: dur("window", &self.window, &mut errs),
                baseline: dur("baseline", &self.baseline, &mut errs),
                factor: num("factor", &self.factor, "a number", &mut errs),
                min_events: num("min_events", &self.min_events, "a whole number", &mut errs),
            },
            "new_issue_after_release" => Condition::NewIssueAfterRelease {
                within: dur("within", &self.within, &mut errs),
            },
            "backup_failed" => Condition::BackupFailed,
            "storage_damaged" => Condition::StorageDamaged,
            "disk_low" => Condition::DiskLow,
            "monitor_down" => Condition::MonitorDown,
            "monitor_degraded" => Condition::MonitorDegraded,
            "monitor_recovered" => Condition::MonitorRecovered,
            "heartbeat_missed" => Condition::HeartbeatMissed,
            "tls_expiring" => {
                let days: i64 = num("days", &self.days, "a whole number of days", &mut errs);
                if days < 0 {
                    errs.push(("days".into(), "must not be negative".into()));
                }
                Condition::TlsExpiring { days }
            }
            other => {
                errs.push(("kind".into(), format!("unknown condition kind `{other}`")));
                Condition::NewIssue
            }
        };
        let mut tags = Vec::new();
        for line in lines(&self.tags) {
            match line.parse::<Matcher>() {
                Ok(m) => tags.push(m),
                Err(e) => errs.push(("tags".into(), e.to_string())),
            }
        }
        let for_duration = dur("for", &self.for_, &mut errs);
        // Empty means the default (24 h): a rule stored as JSON cannot say
        // "never" (a missing `resolve_after` reads as the default).
        let resolve_after = if self.resolve_after.trim().is_empty() {
            Some(Duration::hours(24))
        } else {
            Some(dur("resolve_after", &self.resolve_after, &mut errs))
        };
        let labels = key_values(&self.labels, "labels", &mut errs);
        let annotations = key_values(&self.annotations, "annotations", &mut errs);
        for l in &self.levels {
            if !LEVELS.contains(&l.as_str()) {
                errs.push(("levels".into(), format!("unknown level `{l}`")));
            }
        }
        let mut projects = self.projects.clone();
        projects.sort_unstable();
        projects.dedup();
        let rule = Rule {
            id: 0,
            name: name.to_string(),
            enabled: self.enabled,
            condition,
            scope: Scope {
                projects: projects.into_iter().map(ProjectRef::Id).collect(),
                environments: items(&self.environments),
                levels: self.levels.clone(),
                tags,
            },
            for_duration,
            resolve_after,
            severity,
            labels,
            annotations,
        };
        if errs.is_empty()
            && let Err(e) = rule.validate()
        {
            errs.push((field_for(&e), e));
        }
        if errs.is_empty() { Ok(rule) } else { Err(errs) }
    }
}

/// The form's fields.
const FIELDS: [&str; 19] = [
    "name",
    "severity",
    "kind",
    "threshold",
    "window",
    "per",
    "baseline",
    "factor",
    "min_events",
    "within",
    "days",
    "projects",
    "environments",
    "levels",
    "tags",
    "for",
    "resolve_after",
    "labels",
    "annotations",
];

/// The field a message from `Rule::validate` or the service is about
/// (the condition kind when it names none).
fn field_for(message: &str) -> String {
    super::field_of(message, &FIELDS).unwrap_or_else(|| "kind".into())
}

/// What a condition watches, in a few words.
pub fn condition_summary(c: &Condition) -> String {
    match c {
        Condition::IssueFrequency {
            threshold,
            window,
            per,
        } => format!(
            "more than {threshold} events in {} (per {})",
            format_duration(*window),
            if *per == FrequencyPer::Issue {
                "issue"
            } else {
                "project"
            }
        ),
        Condition::ErrorRateSpike {
            window,
            baseline,
            factor,
            min_events,
        } => format!(
            "rate over {} above {factor}× the {} before (at least {min_events} events)",
            format_duration(*window),
            format_duration(*baseline)
        ),
        Condition::NewIssueAfterRelease { within } => {
            format!("new issue within {} of a release", format_duration(*within))
        }
        Condition::TlsExpiring { days } => format!("certificate expires within {days} days"),
        c => c.kind().replace('_', " "),
    }
}

/// Whether to offer "New rule" (the service decides on saving).
fn may_create(reach: &Reach) -> bool {
    reach.admin || reach.member_projects().next().is_some()
}

/// `GET /alerts/rules`.
pub async fn list(State(state): State<AppState>, viewer: Viewer, Query(done): Query<Done>) -> Page {
    let reach = Reach::of(&state, &viewer)
        .await
        .map_err(|e| fail(&viewer, e))?;
    let rows = service::list_rules(&state, &viewer.access())
        .await
        .map_err(|e| fail(&viewer, e))?;
    let body = html! {
        (alerts_nav(&viewer, AlertsTab::Rules))
        (notice(done.done.as_deref(), NOTICES))
        (engine_status(&state))
        @if may_create(&reach) {
            div.actions { a.button #new-rule href="/alerts/rules/new" { "New rule" } }
        }
        @if rows.is_empty() {
            div.empty-state #no-rules {
                p { "No rules yet." }
                p.muted { "A rule watches new issues, regressions, error bursts, monitors or backups, and its alerts are routed to channels. Rules can also be declared in lookout.toml ([[alerts.rules]])." }
            }
        } @else {
            table #rules {
                thead { tr { th { "Rule" } th { "Severity" } th.optional { "Condition" } th.optional { "Scope" } th { "" } } }
                tbody {
                    @for row in &rows {
                        @let r = &row.rule;
                        tr.rule-row id={ "rule-" (r.id) } {
                            td {
                                a.rule-name href={ "/alerts/rules/" (r.id) } { (r.name) }
                                @if !r.enabled { " " span.badge.muted { "disabled" } }
                                @if row.source == AlertSource::Config { " " span.badge.config { "lookout.toml" } }
                            }
                            td { (severity_badge(r.severity.as_str())) }
                            td.optional { (condition_summary(&r.condition)) }
                            td.optional {
                                @if r.scope.projects.is_empty() { span.muted { "all projects" } }
                                @else {
                                    @for (i, p) in r.scope.projects.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        @match p {
                                            ProjectRef::Id(id) => (reach.project_name(*id).map(String::from).unwrap_or_else(|| format!("project {id}"))),
                                            ProjectRef::Slug(slug) => (slug),
                                        }
                                    }
                                }
                            }
                            td { a href={ "/alerts/rules/" (r.id) } { @if row.editable { "Edit" } @else { "View" } } }
                        }
                    }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Alert rules", Some(&viewer), body),
    ))
}

fn form_page(
    viewer: &Viewer,
    reach: &Reach,
    action: &str,
    f: &RuleForm,
    errs: &FieldErrors,
    problem: Option<&str>,
    existing: Option<&RuleView>,
) -> Markup {
    let csrf = &viewer.session.csrf_token;
    let read_only = existing.is_some_and(|r| !r.editable);
    let from_config = existing.is_some_and(|r| r.source == AlertSource::Config);
    let t = |name: &str, label: &str, value: &str, hint: &str| {
        text_field(
            name,
            label,
            value,
            hint,
            errs,
            &super::forms::kinds_with(KINDS, name),
            read_only,
        )
    };
    html! {
        (alerts_nav(viewer, AlertsTab::Rules))
        h2 { @match existing { Some(r) => { "Rule: " (r.rule.name) }, None => "New rule" } }
        @if from_config {
            p.notice #declared-in-config { "This rule is declared in lookout.toml; change it there. It is shown read-only." }
        } @else if read_only {
            p.notice #read-only { "You may read this rule but not change it: rules are changed by members of all their projects, rules for every project by administrators." }
        }
        @if let Some(p) = problem { p.error #form-problem { (p) } }
        (error_summary("The rule", errs))
        form #rule-form .stack method="post" action=(action) {
            input type="hidden" name="csrf_token" value=(csrf);
            (text_field("name", "Name", &f.name, "shown in every message", errs, "", read_only))
            div.field {
                label for="f-severity" { "Severity" }
                select #f-severity name="severity" disabled[read_only] {
                    @for s in Severity::ALL { option value=(s.as_str()) selected[f.severity == s.as_str()] { (s.as_str()) } }
                }
                (field_errors(errs, "severity"))
            }
            div.field {
                label for="f-kind" { "Condition" }
                select #f-kind name="kind" disabled[read_only] {
                    @for (k, l, _) in KINDS { option value=(k) selected[f.kind == *k] { (l) } }
                }
                (field_errors(errs, "kind"))
            }
            fieldset #condition-params {
                legend { "Condition parameters (only the chosen condition's are used)" }
                (t("threshold", "Threshold (fires above it)", &f.threshold, "issue frequency"))
                (t("window", "Window", &f.window, "issue frequency, spike: e.g. 5m"))
                div.field data-kinds=(super::forms::kinds_with(KINDS, "per")) {
                    label for="f-per" { "Count per" }
                    select #f-per name="per" disabled[read_only] {
                        option value="project" selected[f.per != "issue"] { "project" }
                        option value="issue" selected[f.per == "issue"] { "issue" }
                    }
                }
                (t("baseline", "Baseline", &f.baseline, "spike: the period before the window, longer than it"))
                (t("factor", "Factor", &f.factor, "spike: how many times the baseline rate (more than 1)"))
                (t("min_events", "Minimum events", &f.min_events, "spike: fewer events in the window never count"))
                (t("within", "Within", &f.within, "after a release or deploy, e.g. 1h"))
                (t("days", "Days", &f.days, "TLS: certificate expiring within this many days"))
            }
            fieldset #scope {
                legend { "Scope (empty admits everything)" }
                div.field {
                    span { "Projects" }
                    @if reach.projects.is_empty() { span.muted { "(no projects)" } }
                    div.checks #scope-projects {
                        @for (id, (p, _)) in &reach.projects {
                            label.check { input type="checkbox" name="projects" value=(id) checked[f.projects.contains(id)] disabled[read_only]; " " (p.name) }
                        }
                    }
                    @if !reach.admin { span.muted { "Only administrators may save a rule for every project." } }
                    (field_errors(errs, "projects"))
                }
                (text_field("environments", "Environments", &f.environments, "comma-separated, e.g. production, staging", errs, "", read_only))
                div.field {
                    span { "Levels" }
                    div.checks #scope-levels {
                        @for l in LEVELS {
                            label.check { input type="checkbox" name="levels" value=(l) checked[f.levels.iter().any(|x| x == l)] disabled[read_only]; " " (l) }
                        }
                    }
                    (field_errors(errs, "levels"))
                }
                (textarea_field("tags", "Tag matchers (one per line)", &f.tags, "e.g. handler=~\"verify|pay\" or browser!=Safari", errs, read_only))
            }
            fieldset {
                legend { "Timing" }
                (text_field("for", "For", &f.for_, "how long a state condition must hold before firing, e.g. 1m", errs, "", read_only))
                (text_field("resolve_after", "Resolve after", &f.resolve_after, "a trigger alert resolves after this long without a new matching event (default 24h)", errs, "", read_only))
            }
            (textarea_field("labels", "Labels (name=value, one per line)", &f.labels, "for routing and silences, e.g. team=bots", errs, read_only))
            (textarea_field("annotations", "Annotations (name=value, one per line)", &f.annotations, "e.g. summary=…, runbook_url=https://…", errs, read_only))
            label.check { input #f-enabled type="checkbox" name="enabled" checked[f.enabled] disabled[read_only]; " Enabled" }
            @if !read_only {
                div.actions { button #save-rule type="submit" { "Save" } }
            }
        }
        @if let Some(r) = existing && !read_only {
            form #delete-rule-form method="post" action={ "/alerts/rules/" (r.rule.id) "/delete" } {
                input type="hidden" name="csrf_token" value=(csrf);
                button.danger #delete-rule type="submit" { "Delete this rule (and its alerts)" }
            }
        }
    }
}

/// The rule as the service takes it.
fn spec_of(rule: &Rule) -> serde_json::Value {
    serde_json::to_value(rule).unwrap_or_default()
}

fn page(status: StatusCode, viewer: &Viewer, title: &str, body: Markup) -> Response {
    html_page(status, layout(title, Some(viewer), body))
}

/// `GET /alerts/rules/new`.
pub async fn new_form(State(state): State<AppState>, viewer: Viewer) -> Page {
    let reach = Reach::of(&state, &viewer)
        .await
        .map_err(|e| fail(&viewer, e))?;
    if !may_create(&reach) {
        return Err(fail(
            &viewer,
            ApiError::Forbidden("creating rules needs the member role in a project".into()),
        ));
    }
    let f = RuleForm::blank();
    Ok(page(
        StatusCode::OK,
        &viewer,
        "New rule",
        form_page(&viewer, &reach, "/alerts/rules", &f, &vec![], None, None),
    ))
}

/// Shows the form again with what went wrong.
fn again(
    viewer: &Viewer,
    reach: &Reach,
    existing: Option<&RuleView>,
    f: &RuleForm,
    e: ApiError,
) -> Response {
    let action = match existing {
        Some(r) => format!("/alerts/rules/{}", r.rule.id),
        None => "/alerts/rules".into(),
    };
    let (status, errs, problem) = match e {
        ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, vec![(field_for(&m), m)], None),
        ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, vec![], Some(m)),
        ApiError::Conflict(m) => (StatusCode::CONFLICT, vec![], Some(m)),
        ApiError::NotFound(m) => (StatusCode::NOT_FOUND, vec![], Some(m)),
        e => return fail(viewer, e),
    };
    page(
        status,
        viewer,
        "Rule",
        form_page(
            viewer,
            reach,
            &action,
            f,
            &errs,
            problem.as_deref(),
            existing,
        ),
    )
}

/// `POST /alerts/rules`.
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
    let f = RuleForm::from_pairs(&pairs);
    let rule = match f.to_rule() {
        Ok(r) => r,
        Err(errs) => {
            return Ok(page(
                StatusCode::BAD_REQUEST,
                &viewer,
                "New rule",
                form_page(&viewer, &reach, "/alerts/rules", &f, &errs, None, None),
            ));
        }
    };
    match service::create_rule(&state, &viewer.access(), spec_of(&rule)).await {
        Ok(view) => Ok(
            Redirect::to(&format!("/alerts/rules?done=created#rule-{}", view.rule.id))
                .into_response(),
        ),
        Err(e) => Ok(again(&viewer, &reach, None, &f, e)),
    }
}

/// `GET /alerts/rules/{id}`: the form, or the read-only view of a rule
/// declared in lookout.toml.
pub async fn edit_form(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Page {
    let err = |e| fail(&viewer, e);
    let reach = Reach::of(&state, &viewer).await.map_err(err)?;
    let row = service::get_rule(&state, &viewer.access(), id)
        .await
        .map_err(err)?;
    let f = RuleForm::from_rule(&row.rule);
    let action = format!("/alerts/rules/{id}");
    Ok(page(
        StatusCode::OK,
        &viewer,
        &row.rule.name,
        form_page(&viewer, &reach, &action, &f, &vec![], None, Some(&row)),
    ))
}

/// `POST /alerts/rules/{id}`.
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted {
        viewer,
        form: pairs,
    }: Posted<Pairs>,
) -> Page {
    let err = |e| fail(&viewer, e);
    let reach = Reach::of(&state, &viewer).await.map_err(err)?;
    let row = service::get_rule(&state, &viewer.access(), id)
        .await
        .map_err(err)?;
    let f = RuleForm::from_pairs(&pairs);
    let rule = match f.to_rule() {
        Ok(r) => r,
        Err(errs) => {
            let action = format!("/alerts/rules/{id}");
            return Ok(page(
                StatusCode::BAD_REQUEST,
                &viewer,
                &row.rule.name,
                form_page(&viewer, &reach, &action, &f, &errs, None, Some(&row)),
            ));
        }
    };
    match service::update_rule(&state, &viewer.access(), id, spec_of(&rule)).await {
        Ok(_) => Ok(Redirect::to(&format!("/alerts/rules?done=saved#rule-{id}")).into_response()),
        Err(e) => Ok(again(&viewer, &reach, Some(&row), &f, e)),
    }
}

/// `POST /alerts/rules/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    service::delete_rule(&state, &viewer.access(), id)
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(Redirect::to("/alerts/rules?done=deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str) -> RuleForm {
        RuleForm {
            name: "Burst".into(),
            kind: kind.into(),
            ..RuleForm::blank()
        }
    }

    #[test]
    fn every_kind_round_trips_through_the_form() {
        for (k, _, _) in KINDS {
            let rule = form(k).to_rule().unwrap_or_else(|e| panic!("{k}: {e:?}"));
            assert_eq!(rule.condition.kind(), *k);
            let back = RuleForm::from_rule(&rule).to_rule().unwrap();
            assert_eq!(back, rule, "{k}");
        }
    }

    #[test]
    fn problems_are_reported_by_field() {
        let mut f = form("issue_frequency");
        f.name = " ".into();
        f.window = "soon".into();
        f.threshold = "many".into();
        f.tags = "not a matcher".into();
        f.labels = "team".into();
        let errs = f.to_rule().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "threshold", "window", "tags", "labels"],
            "{errs:?}"
        );
    }

    #[test]
    fn rule_validation_lands_on_its_field() {
        let mut f = form("error_rate_spike");
        f.factor = "0.5".into();
        let errs = f.to_rule().unwrap_err();
        assert_eq!(errs[0].0, "factor", "{errs:?}");
        let mut f = form("error_rate_spike");
        f.baseline = "1m".into();
        assert_eq!(f.to_rule().unwrap_err()[0].0, "window");
    }

    #[test]
    fn empty_resolve_after_is_the_default() {
        let mut f = form("new_issue");
        f.resolve_after = "".into();
        assert_eq!(
            f.to_rule().unwrap().resolve_after,
            Some(Duration::hours(24))
        );
    }

    #[test]
    fn service_messages_land_on_their_field() {
        assert_eq!(field_for("`condition.window`: bad duration"), "window");
        assert_eq!(field_for("`scope.tags[1]`: bad matcher"), "tags");
        assert_eq!(
            field_for("`scope.projects`: there is no project 9"),
            "projects"
        );
        assert_eq!(
            field_for("invalid rule: `factor` must be greater than 1"),
            "factor"
        );
        assert_eq!(field_for("something else"), "kind");
    }
}
