//! Silences and maintenance windows: list, read, create, expire.

use super::*;

/// A silence or maintenance window to create.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// `silence` (default) or `maintenance`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Matchers as in Alertmanager (`project_id=3`, `severity=~"high|critical"`).
    pub matchers: Vec<String>,
    /// From (default: now).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Until; or give `duration`.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// How long from `starts_at` (`1h`, `30m`, `2d`), instead of `ends_at`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// A stored silence, with whether it is in force now.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    /// Id.
    pub id: i64,
    /// `silence` or `maintenance`.
    pub kind: String,
    /// Matchers as written.
    pub matchers: Vec<String>,
    /// The project it belongs to (from its `project_id=` matcher).
    pub project_id: Option<i64>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// `active`, `pending` (starts later) or `expired`.
    pub status: &'static str,
    /// Whether the caller may expire it.
    pub editable: bool,
}

pub(super) fn silence_status(row: &SilenceRow, now: DateTime<Utc>) -> &'static str {
    if now < row.starts_at {
        "pending"
    } else if now < row.ends_at {
        "active"
    } else {
        "expired"
    }
}

pub(super) async fn silence_readable(
    state: &AppState,
    access: &Access,
    row: &SilenceRow,
) -> Result<bool, ApiError> {
    match row.project_id {
        Some(p) => Ok(access.role(state, p).await?.is_some()),
        None => Ok(true),
    }
}

pub(super) async fn silence_writable(
    state: &AppState,
    access: &Access,
    project_id: Option<i64>,
) -> Result<(), ApiError> {
    match project_id {
        Some(p) => access.write_project(state, p).await.map(|_| ()),
        None => access.require_admin().map_err(|e| match e {
            ApiError::Forbidden(_) if !access.is_admin() => ApiError::Forbidden(
                "only administrators may silence alerts of every project; add a `project_id=<id>` matcher"
                    .into(),
            ),
            other => other,
        }),
    }
}

pub(super) async fn silence_view(
    state: &AppState,
    access: &Access,
    row: SilenceRow,
    now: DateTime<Utc>,
) -> SilenceView {
    let editable = access.can_write
        && silence_status(&row, now) != "expired"
        && silence_writable(state, access, row.project_id)
            .await
            .is_ok();
    SilenceView {
        status: silence_status(&row, now),
        editable,
        id: row.id,
        kind: row.kind,
        matchers: row.matchers,
        project_id: row.project_id,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        created_by: row.created_by,
        comment: row.comment,
        created_at: row.created_at,
    }
}

/// The project a silence belongs to: the value of its `project_id=<id>`
/// matcher. A 400 when that value is not an id.
pub fn silence_project(matchers: &[Matcher]) -> Result<Option<i64>, ApiError> {
    let mut found = None;
    for m in matchers {
        if m.name == "project_id" && m.op == MatchOp::Eq {
            let id: i64 = m.value.parse().map_err(|_| {
                bad(
                    "matchers",
                    format!("project_id must be a project id, not {:?}", m.value),
                )
            })?;
            if found.is_some_and(|f| f != id) {
                return Err(bad(
                    "matchers",
                    "two different project_id matchers never match",
                ));
            }
            found = Some(id);
        }
    }
    Ok(found)
}

/// Silences the caller may read, newest start first; `active` keeps
/// only those in force now (`Some(true)`) or not (`Some(false)`).
pub async fn list_silences(
    state: &AppState,
    access: &Access,
    active: Option<bool>,
) -> Result<Vec<SilenceView>, ApiError> {
    let now = Utc::now();
    // Silences in force end after now: only those need reading then.
    let since = match active {
        Some(true) => now,
        _ => DateTime::<Utc>::UNIX_EPOCH,
    };
    let mut out = Vec::new();
    let mut rows = state.store().list_silences(since).await?;
    rows.reverse();
    for row in rows {
        let in_force = silence_status(&row, now) == "active";
        if active.is_some_and(|a| a != in_force) {
            continue;
        }
        if silence_readable(state, access, &row).await? {
            out.push(silence_view(state, access, row, now).await);
        }
        if out.len() >= MAX_LIMIT {
            break;
        }
    }
    Ok(out)
}

pub(super) async fn read_silence_row(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<SilenceRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("silence {id} not found"));
    let row = state.store().get_silence(id).await?.ok_or_else(not_found)?;
    if !silence_readable(state, access, &row).await? {
        return Err(not_found());
    }
    Ok(row)
}

/// One silence.
pub async fn get_silence(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<SilenceView, ApiError> {
    let row = read_silence_row(state, access, id).await?;
    Ok(silence_view(state, access, row, Utc::now()).await)
}

/// Creates a silence or maintenance window; the creator is the caller.
pub async fn create_silence(
    state: &AppState,
    access: &Access,
    input: SilenceInput,
) -> Result<SilenceView, ApiError> {
    let now = Utc::now();
    let kind = match input.kind.as_deref().map(str::trim) {
        None | Some("") | Some("silence") => "silence",
        Some("maintenance") => "maintenance",
        Some(other) => {
            return Err(bad(
                "kind",
                format!("{other:?} is not `silence` or `maintenance`"),
            ));
        }
    };
    if input.matchers.is_empty() {
        return Err(bad("matchers", "a silence needs at least one matcher"));
    }
    if input.matchers.len() > 50 {
        return Err(bad("matchers", "at most 50 matchers"));
    }
    let matchers = input
        .matchers
        .iter()
        .map(|m| m.parse::<Matcher>().map_err(|e| bad("matchers", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let project_id = silence_project(&matchers)?;
    let starts_at = input.starts_at.unwrap_or(now);
    let ends_at = match (input.ends_at, input.duration.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(bad("duration", "give `ends_at` or `duration`, not both"));
        }
        (Some(e), None) => e,
        (None, Some(d)) => {
            let d = lookout_alert::parse_duration(d).map_err(|e| bad("duration", e))?;
            if d <= Duration::zero() {
                return Err(bad("duration", "must be positive"));
            }
            starts_at
                .checked_add_signed(d)
                .ok_or_else(|| bad("duration", "too long"))?
        }
        (None, None) => return Err(bad("ends_at", "give `ends_at` or `duration`")),
    };
    if ends_at <= starts_at {
        return Err(bad("ends_at", "must be after `starts_at`"));
    }
    if ends_at <= now {
        return Err(bad(
            "ends_at",
            "is in the past: the silence would never act",
        ));
    }
    if input.comment.chars().count() > 2000 {
        return Err(bad("comment", "at most 2000 characters"));
    }
    if let Some(p) = project_id
        && access.is_admin()
        && state.store().get_project(p).await?.is_none()
    {
        return Err(bad("matchers", format!("there is no project {p}")));
    }
    silence_writable(state, access, project_id).await?;
    let row = state
        .store()
        .create_silence(
            NewSilence {
                kind: kind.into(),
                matchers: matchers.iter().map(ToString::to_string).collect(),
                project_id,
                starts_at,
                ends_at,
                created_by: actor(access),
                comment: input.comment.trim().to_string(),
            },
            now,
        )
        .await?;
    state.alerts().reload().await;
    Ok(silence_view(state, access, row, Utc::now()).await)
}

/// Ends a silence now (already ended ones are answered as they are).
pub async fn expire_silence(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<SilenceView, ApiError> {
    let row = read_silence_row(state, access, id).await?;
    silence_writable(state, access, row.project_id).await?;
    let now = Utc::now();
    let row = state
        .store()
        .expire_silence(id, now)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("silence {id} not found")))?;
    state.alerts().reload().await;
    Ok(silence_view(state, access, row, now).await)
}
