//! SQL for alerting (issue #6): rules, alert instances, silences,
//! channels, the notification outbox with its delivery log, circuit
//! breakers and the engine's cursors. Free functions over a connection;
//! `mod.rs` runs them on the writer or a reader. Every writer job runs in
//! its own SAVEPOINT, so each function here is atomic.

use super::migrations::ms_to_time;
use crate::{
    AlertInstanceQuery, AlertInstanceRow, AlertRuleRow, AlertSource, AttemptOutcome, BreakerRow,
    ChannelRow, DeliveryAttempt, NewAlertRule, NewChannel, NewOutboxItem, NewSilence, OutboxItem,
    OutboxState, Result, Severity, SilenceRow, StorageError, SystemEvent,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

fn opt_time(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(ms_to_time)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// `[1, 2]` → `,1,2,` so that `projects LIKE '%,1,%'` finds a member.
fn projects_text(p: &[i64]) -> String {
    if p.is_empty() {
        return String::new();
    }
    let mut s = String::from(",");
    for id in p {
        s.push_str(&id.to_string());
        s.push(',');
    }
    s
}

fn parse_projects(s: &str) -> Vec<i64> {
    s.split(',').filter_map(|p| p.parse().ok()).collect()
}

// --- rules ---------------------------------------------------------------

const RULE_COLS: &str =
    "id, name, enabled, source, projects, spec, created_by, created_at, updated_at";

fn row_rule(r: &Row<'_>) -> rusqlite::Result<AlertRuleRow> {
    Ok(AlertRuleRow {
        id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        source: AlertSource::parse(&r.get::<_, String>(3)?),
        projects: parse_projects(&r.get::<_, String>(4)?),
        spec: json(r.get(5)?),
        created_by: r.get(6)?,
        created_at: ms_to_time(r.get(7)?),
        updated_at: ms_to_time(r.get(8)?),
    })
}

fn check_rule(new: &NewAlertRule) -> Result<()> {
    let n = new.name.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(StorageError::InvalidInput(
            "a rule name must be 1 to 200 characters".into(),
        ));
    }
    Ok(())
}

pub(crate) fn get_alert_rule(c: &Connection, id: i64) -> Result<Option<AlertRuleRow>> {
    Ok(c.query_row(
        &format!("SELECT {RULE_COLS} FROM alert_rules WHERE id = ?1"),
        [id],
        row_rule,
    )
    .optional()?)
}

pub(crate) fn create_alert_rule(
    c: &Connection,
    new: &NewAlertRule,
    now: DateTime<Utc>,
) -> Result<AlertRuleRow> {
    check_rule(new)?;
    c.execute(
        "INSERT INTO alert_rules (name, enabled, source, projects, spec, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            new.name.trim(),
            new.enabled,
            new.source.as_str(),
            projects_text(&new.projects),
            new.spec.to_string(),
            new.created_by,
            ms(now)
        ],
    )?;
    get_alert_rule(c, c.last_insert_rowid())?
        .ok_or_else(|| StorageError::Backend("inserted rule vanished".into()))
}

pub(crate) fn update_alert_rule(
    c: &Connection,
    id: i64,
    new: &NewAlertRule,
    now: DateTime<Utc>,
) -> Result<AlertRuleRow> {
    check_rule(new)?;
    let n = c.execute(
        "UPDATE alert_rules SET name = ?2, enabled = ?3, source = ?4, projects = ?5, spec = ?6,
                updated_at = ?7
         WHERE id = ?1",
        params![
            id,
            new.name.trim(),
            new.enabled,
            new.source.as_str(),
            projects_text(&new.projects),
            new.spec.to_string(),
            ms(now)
        ],
    )?;
    if n == 0 {
        return Err(StorageError::NotFound(format!("alert rule {id}")));
    }
    get_alert_rule(c, id)?.ok_or_else(|| StorageError::NotFound(format!("alert rule {id}")))
}

pub(crate) fn delete_alert_rule(c: &Connection, id: i64) -> Result<bool> {
    c.execute("DELETE FROM alert_instances WHERE rule_id = ?1", [id])?;
    Ok(c.execute("DELETE FROM alert_rules WHERE id = ?1", [id])? > 0)
}

pub(crate) fn list_alert_rules(c: &Connection) -> Result<Vec<AlertRuleRow>> {
    let mut stmt = c.prepare(&format!("SELECT {RULE_COLS} FROM alert_rules ORDER BY id"))?;
    let rows = stmt.query_map([], row_rule)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn sync_config_alert_rules(
    c: &Connection,
    rules: &[NewAlertRule],
    now: DateTime<Utc>,
) -> Result<Vec<AlertRuleRow>> {
    let existing: Vec<(i64, String)> = {
        let mut stmt = c.prepare("SELECT id, name FROM alert_rules WHERE source = 'config'")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let mut kept = Vec::new();
    let mut out = Vec::new();
    for rule in rules {
        let mut rule = rule.clone();
        rule.source = AlertSource::Config;
        match existing
            .iter()
            .find(|(id, name)| name == rule.name.trim() && !kept.contains(id))
        {
            Some((id, _)) => {
                kept.push(*id);
                out.push(update_alert_rule(c, *id, &rule, now)?);
            }
            None => {
                let row = create_alert_rule(c, &rule, now)?;
                kept.push(row.id);
                out.push(row);
            }
        }
    }
    for (id, _) in existing {
        if !kept.contains(&id) {
            delete_alert_rule(c, id)?;
        }
    }
    Ok(out)
}

// --- alert instances --------------------------------------------------------

const INSTANCE_COLS: &str = "id, rule_id, fingerprint, state, severity, project_id, active_since,
    starts_at, ends_at, acked_by, acked_at, resolved_by, updated_at, body";

fn row_instance(r: &Row<'_>) -> rusqlite::Result<AlertInstanceRow> {
    Ok(AlertInstanceRow {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        fingerprint: r.get(2)?,
        state: r.get(3)?,
        severity: r.get(4)?,
        project_id: r.get(5)?,
        active_since: ms_to_time(r.get(6)?),
        starts_at: opt_time(r.get(7)?),
        ends_at: opt_time(r.get(8)?),
        acked_by: r.get(9)?,
        acked_at: opt_time(r.get(10)?),
        resolved_by: r.get(11)?,
        updated_at: ms_to_time(r.get(12)?),
        body: json(r.get(13)?),
    })
}

pub(crate) fn save_alert_instances(
    c: &Connection,
    upserts: &[AlertInstanceRow],
    discards: &[(i64, String)],
) -> Result<()> {
    let mut up = c.prepare_cached(
        "INSERT INTO alert_instances (rule_id, fingerprint, state, severity, project_id,
            active_since, starts_at, ends_at, acked_by, acked_at, resolved_by, updated_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (rule_id, fingerprint, active_since) DO UPDATE SET
            state = excluded.state, severity = excluded.severity,
            project_id = excluded.project_id, starts_at = excluded.starts_at,
            ends_at = excluded.ends_at, acked_by = excluded.acked_by,
            acked_at = excluded.acked_at, resolved_by = excluded.resolved_by,
            updated_at = excluded.updated_at, body = excluded.body",
    )?;
    for a in upserts {
        up.execute(params![
            a.rule_id,
            a.fingerprint,
            a.state,
            a.severity,
            a.project_id,
            ms(a.active_since),
            opt_ms(a.starts_at),
            opt_ms(a.ends_at),
            a.acked_by,
            opt_ms(a.acked_at),
            a.resolved_by,
            ms(a.updated_at),
            a.body.to_string(),
        ])?;
    }
    let mut del = c.prepare_cached(
        "DELETE FROM alert_instances WHERE rule_id = ?1 AND fingerprint = ?2 AND state != 'resolved'",
    )?;
    for (rule_id, fp) in discards {
        del.execute(params![rule_id, fp])?;
    }
    Ok(())
}

pub(crate) fn list_alert_instances(
    c: &Connection,
    q: &AlertInstanceQuery,
) -> Result<Vec<AlertInstanceRow>> {
    let mut sql = format!("SELECT {INSTANCE_COLS} FROM alert_instances WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if !q.states.is_empty() {
        let marks: Vec<String> = q
            .states
            .iter()
            .map(|s| {
                args.push(s.clone().into());
                format!("?{}", args.len())
            })
            .collect();
        sql.push_str(&format!(" AND state IN ({})", marks.join(",")));
    }
    if let Some(projects) = &q.projects {
        let mut terms: Vec<String> = projects
            .iter()
            .map(|p| {
                args.push((*p).into());
                format!("project_id = ?{}", args.len())
            })
            .collect();
        if q.include_install {
            terms.push("project_id IS NULL".into());
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(&format!(" AND ({})", terms.join(" OR ")));
    } else if !q.include_install {
        sql.push_str(" AND project_id IS NOT NULL");
    }
    if let Some(rule_id) = q.rule_id {
        args.push(rule_id.into());
        sql.push_str(&format!(" AND rule_id = ?{}", args.len()));
    }
    if let Some((at, id)) = q.before {
        args.push(ms(at).into());
        let t = args.len();
        args.push(id.into());
        let i = args.len();
        sql.push_str(&format!(
            " AND (updated_at < ?{t} OR (updated_at = ?{t} AND id < ?{i}))"
        ));
    }
    args.push(limit(q.limit.max(1)).into());
    sql.push_str(&format!(
        " ORDER BY updated_at DESC, id DESC LIMIT ?{}",
        args.len()
    ));
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), row_instance)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn get_alert_instance(c: &Connection, id: i64) -> Result<Option<AlertInstanceRow>> {
    Ok(c.query_row(
        &format!("SELECT {INSTANCE_COLS} FROM alert_instances WHERE id = ?1"),
        [id],
        row_instance,
    )
    .optional()?)
}

/// The instance with this identity; when that one is gone (pruned), the
/// latest instance of the same rule and fingerprint.
pub(crate) fn find_alert_instance(
    c: &Connection,
    rule_id: i64,
    fingerprint: &str,
    active_since: DateTime<Utc>,
) -> Result<Option<AlertInstanceRow>> {
    let exact = c
        .query_row(
            &format!(
                "SELECT {INSTANCE_COLS} FROM alert_instances
                 WHERE rule_id = ?1 AND fingerprint = ?2 AND active_since = ?3"
            ),
            params![rule_id, fingerprint, ms(active_since)],
            row_instance,
        )
        .optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    Ok(c.query_row(
        &format!(
            "SELECT {INSTANCE_COLS} FROM alert_instances
             WHERE rule_id = ?1 AND fingerprint = ?2 ORDER BY active_since DESC LIMIT 1"
        ),
        params![rule_id, fingerprint],
        row_instance,
    )
    .optional()?)
}

pub(crate) fn prune_alert_instances(
    c: &Connection,
    before: DateTime<Utc>,
    budget: usize,
) -> Result<u64> {
    let n = c.execute(
        "DELETE FROM alert_instances WHERE id IN (SELECT id FROM alert_instances
           WHERE state = 'resolved' AND ends_at < ?1 ORDER BY ends_at LIMIT ?2)",
        params![ms(before), limit(budget.max(1))],
    )?;
    Ok(n as u64)
}

// --- silences ------------------------------------------------------------

pub(crate) fn prune_silences(c: &Connection, before: DateTime<Utc>, budget: usize) -> Result<u64> {
    let n = c.execute(
        "DELETE FROM alert_silences WHERE id IN (SELECT id FROM alert_silences
           WHERE ends_at < ?1 ORDER BY ends_at LIMIT ?2)",
        params![ms(before), limit(budget.max(1))],
    )?;
    Ok(n as u64)
}

const SILENCE_COLS: &str =
    "id, kind, matchers, project_id, starts_at, ends_at, created_by, comment, created_at";

fn row_silence(r: &Row<'_>) -> rusqlite::Result<SilenceRow> {
    let matchers: String = r.get(2)?;
    Ok(SilenceRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        matchers: serde_json::from_str(&matchers).unwrap_or_default(),
        project_id: r.get(3)?,
        starts_at: ms_to_time(r.get(4)?),
        ends_at: ms_to_time(r.get(5)?),
        created_by: r.get(6)?,
        comment: r.get(7)?,
        created_at: ms_to_time(r.get(8)?),
    })
}

pub(crate) fn get_silence(c: &Connection, id: i64) -> Result<Option<SilenceRow>> {
    Ok(c.query_row(
        &format!("SELECT {SILENCE_COLS} FROM alert_silences WHERE id = ?1"),
        [id],
        row_silence,
    )
    .optional()?)
}

pub(crate) fn create_silence(
    c: &Connection,
    new: &NewSilence,
    now: DateTime<Utc>,
) -> Result<SilenceRow> {
    if new.matchers.is_empty() {
        return Err(StorageError::InvalidInput(
            "a silence needs at least one matcher".into(),
        ));
    }
    if new.ends_at <= new.starts_at {
        return Err(StorageError::InvalidInput(
            "a silence must end after it starts".into(),
        ));
    }
    c.execute(
        "INSERT INTO alert_silences (kind, matchers, project_id, starts_at, ends_at, created_by, comment, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            new.kind,
            serde_json::to_string(&new.matchers).unwrap_or_else(|_| "[]".into()),
            new.project_id,
            ms(new.starts_at),
            ms(new.ends_at),
            new.created_by,
            new.comment,
            ms(now)
        ],
    )?;
    get_silence(c, c.last_insert_rowid())?
        .ok_or_else(|| StorageError::Backend("inserted silence vanished".into()))
}

pub(crate) fn expire_silence(
    c: &Connection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<SilenceRow>> {
    c.execute(
        "UPDATE alert_silences SET ends_at = MAX(starts_at, ?2) WHERE id = ?1 AND ends_at > ?2",
        params![id, ms(now)],
    )?;
    get_silence(c, id)
}

pub(crate) fn list_silences(c: &Connection, ends_after: DateTime<Utc>) -> Result<Vec<SilenceRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {SILENCE_COLS} FROM alert_silences WHERE ends_at > ?1 ORDER BY starts_at, id"
    ))?;
    let rows = stmt.query_map([ms(ends_after)], row_silence)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

// --- channels ------------------------------------------------------------

const CHANNEL_COLS: &str = "id, name, kind, enabled, source, config, created_at, updated_at";

fn row_channel(r: &Row<'_>) -> rusqlite::Result<ChannelRow> {
    Ok(ChannelRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        enabled: r.get(3)?,
        source: AlertSource::parse(&r.get::<_, String>(4)?),
        config: json(r.get(5)?),
        created_at: ms_to_time(r.get(6)?),
        updated_at: ms_to_time(r.get(7)?),
    })
}

pub(crate) fn upsert_channel(
    c: &Connection,
    new: &NewChannel,
    now: DateTime<Utc>,
) -> Result<ChannelRow> {
    let name = new.name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        return Err(StorageError::InvalidInput(
            "a channel name is 1 to 64 letters, digits, `-`, `_` or `.`".into(),
        ));
    }
    if name == "log" {
        return Err(StorageError::InvalidInput(
            "`log` is the built-in channel".into(),
        ));
    }
    c.execute(
        "INSERT INTO alert_channels (name, kind, enabled, source, config, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, enabled = excluded.enabled,
            source = excluded.source, config = excluded.config, updated_at = excluded.updated_at",
        params![
            name,
            new.kind,
            new.enabled,
            new.source.as_str(),
            new.config.to_string(),
            ms(now)
        ],
    )?;
    Ok(c.query_row(
        &format!("SELECT {CHANNEL_COLS} FROM alert_channels WHERE name = ?1"),
        [name],
        row_channel,
    )?)
}

pub(crate) fn delete_channel(c: &Connection, name: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM alert_channels WHERE name = ?1", [name])? > 0)
}

pub(crate) fn list_channels(c: &Connection) -> Result<Vec<ChannelRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {CHANNEL_COLS} FROM alert_channels ORDER BY name"
    ))?;
    let rows = stmt.query_map([], row_channel)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

// --- outbox --------------------------------------------------------------

const OUTBOX_COLS: &str = "id, idempotency_key, channel, state, attempts, next_attempt_at,
    created_at, updated_at, sent_at, last_error, payload";

fn row_outbox(r: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let state: String = r.get(3)?;
    Ok(OutboxItem {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        channel: r.get(2)?,
        state: OutboxState::parse(&state).unwrap_or(OutboxState::Failed),
        attempts: r.get(4)?,
        next_attempt_at: ms_to_time(r.get(5)?),
        created_at: ms_to_time(r.get(6)?),
        updated_at: ms_to_time(r.get(7)?),
        sent_at: opt_time(r.get(8)?),
        last_error: r.get(9)?,
        payload: json(r.get(10)?),
    })
}

pub(crate) fn outbox_item(c: &Connection, id: i64) -> Result<Option<OutboxItem>> {
    Ok(c.query_row(
        &format!("SELECT {OUTBOX_COLS} FROM alert_outbox WHERE id = ?1"),
        [id],
        row_outbox,
    )
    .optional()?)
}

pub(crate) fn enqueue_outbox(
    c: &Connection,
    items: &[NewOutboxItem],
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO alert_outbox (idempotency_key, channel, state, attempts, next_attempt_at,
            created_at, updated_at, payload)
         VALUES (?1, ?2, 'pending', 0, ?3, ?4, ?4, ?5)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )?;
    let mut added = 0;
    for it in items {
        added += stmt.execute(params![
            it.idempotency_key,
            it.channel,
            ms(it.not_before),
            ms(now),
            it.payload.to_string()
        ])? as u64;
    }
    Ok(added)
}

pub(crate) fn outbox_next_due(c: &Connection) -> Result<Option<DateTime<Utc>>> {
    let v: Option<i64> = c.query_row(
        "SELECT MIN(next_attempt_at) FROM alert_outbox WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(opt_time(v))
}

pub(crate) fn claim_outbox(
    c: &Connection,
    now: DateTime<Utc>,
    max: usize,
) -> Result<Vec<OutboxItem>> {
    let ids: Vec<i64> = {
        let mut stmt = c.prepare_cached(
            "SELECT id FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ms(now), limit(max.max(1))], |r| r.get(0))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        c.execute(
            "UPDATE alert_outbox SET state = 'sending', attempts = attempts + 1,
                next_attempt_at = ?2, updated_at = ?2
             WHERE id = ?1 AND state = 'pending'",
            params![id, ms(now)],
        )?;
        if let Some(it) = outbox_item(c, id)? {
            out.push(it);
        }
    }
    Ok(out)
}

pub(crate) fn finish_outbox_attempt(
    c: &Connection,
    id: i64,
    outcome: &AttemptOutcome,
    duration_ms: i64,
    now: DateTime<Utc>,
) -> Result<OutboxItem> {
    let Some(item) = outbox_item(c, id)? else {
        return Err(StorageError::NotFound(format!("outbox item {id}")));
    };
    if item.state != OutboxState::Sending {
        return Err(StorageError::NotFound(format!(
            "outbox item {id} in flight"
        )));
    }
    let (state, next, sent_at, error, label, attempts) = match outcome {
        AttemptOutcome::Sent => ("sent", now, Some(ms(now)), None, "sent", item.attempts),
        AttemptOutcome::Retry {
            next_attempt_at,
            error,
        } => (
            "pending",
            *next_attempt_at,
            None,
            Some(error.clone()),
            "retry",
            item.attempts,
        ),
        AttemptOutcome::Failed { error } => (
            "failed",
            now,
            None,
            Some(error.clone()),
            "failed",
            item.attempts,
        ),
        AttemptOutcome::Deferred {
            next_attempt_at,
            reason,
        } => (
            "pending",
            *next_attempt_at,
            None,
            Some(reason.clone()),
            "deferred",
            item.attempts.saturating_sub(1),
        ),
    };
    c.execute(
        "UPDATE alert_outbox SET state = ?2, next_attempt_at = ?3, sent_at = ?4,
            last_error = COALESCE(?5, last_error), attempts = ?6, updated_at = ?7
         WHERE id = ?1",
        params![id, state, ms(next), sent_at, error, attempts, ms(now)],
    )?;
    c.execute(
        "INSERT INTO alert_deliveries (outbox_id, at, channel, attempt, outcome, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            ms(now),
            item.channel,
            item.attempts,
            label,
            error,
            duration_ms.max(0)
        ],
    )?;
    outbox_item(c, id)?.ok_or_else(|| StorageError::NotFound(format!("outbox item {id}")))
}

pub(crate) fn release_outbox_sending(c: &Connection, now: DateTime<Utc>) -> Result<u64> {
    Ok(c.execute(
        "UPDATE alert_outbox SET state = 'pending', next_attempt_at = ?1, updated_at = ?1
         WHERE state = 'sending'",
        [ms(now)],
    )? as u64)
}

pub(crate) fn list_outbox(
    c: &Connection,
    state: Option<OutboxState>,
    max: usize,
) -> Result<Vec<OutboxItem>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {OUTBOX_COLS} FROM alert_outbox WHERE (?1 IS NULL OR state = ?1)
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![state.map(OutboxState::as_str), limit(max.max(1))],
        row_outbox,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn outbox_counts(c: &Connection) -> Result<Vec<(OutboxState, u64)>> {
    let mut stmt =
        c.prepare("SELECT state, COUNT(*) FROM alert_outbox GROUP BY state ORDER BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (s, n) = row?;
        if let Some(s) = OutboxState::parse(&s) {
            out.push((s, n.max(0) as u64));
        }
    }
    Ok(out)
}

pub(crate) fn query_deliveries(
    c: &Connection,
    q: &crate::DeliveryQuery,
) -> Result<Vec<DeliveryAttempt>> {
    let mut stmt = c.prepare(
        "SELECT id, outbox_id, at, channel, attempt, outcome, error, duration_ms
         FROM alert_deliveries
         WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR outcome = ?2)
           AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![q.channel, q.outcome, q.before_id, limit(q.limit.max(1))],
        row_delivery,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn row_delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        id: r.get(0)?,
        outbox_id: r.get(1)?,
        at: ms_to_time(r.get(2)?),
        channel: r.get(3)?,
        attempt: r.get(4)?,
        outcome: r.get(5)?,
        error: r.get(6)?,
        duration_ms: r.get(7)?,
    })
}

pub(crate) fn list_deliveries(
    c: &Connection,
    outbox_id: Option<i64>,
    max: usize,
) -> Result<Vec<DeliveryAttempt>> {
    let mut stmt = c.prepare(
        "SELECT id, outbox_id, at, channel, attempt, outcome, error, duration_ms
         FROM alert_deliveries WHERE (?1 IS NULL OR outbox_id = ?1)
         ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![outbox_id, limit(max.max(1))], |r| {
        Ok(DeliveryAttempt {
            id: r.get(0)?,
            outbox_id: r.get(1)?,
            at: ms_to_time(r.get(2)?),
            channel: r.get(3)?,
            attempt: r.get(4)?,
            outcome: r.get(5)?,
            error: r.get(6)?,
            duration_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn prune_outbox(c: &Connection, before: DateTime<Utc>, budget: usize) -> Result<u64> {
    let ids: Vec<i64> = {
        let mut stmt = c.prepare(
            "SELECT id FROM alert_outbox WHERE state IN ('sent', 'failed') AND created_at < ?1
             ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ms(before), limit(budget.max(1))], |r| r.get(0))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for id in &ids {
        c.execute("DELETE FROM alert_deliveries WHERE outbox_id = ?1", [id])?;
        c.execute("DELETE FROM alert_outbox WHERE id = ?1", [id])?;
    }
    Ok(ids.len() as u64)
}

// --- breakers and cursors ------------------------------------------------------

pub(crate) fn save_breaker(c: &Connection, b: &BreakerRow) -> Result<()> {
    c.execute(
        "INSERT INTO alert_breakers (channel, state, failures, opened_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (channel) DO UPDATE SET state = excluded.state,
            failures = excluded.failures, opened_at = excluded.opened_at,
            updated_at = excluded.updated_at",
        params![
            b.channel,
            b.state,
            b.failures,
            opt_ms(b.opened_at),
            ms(b.updated_at)
        ],
    )?;
    Ok(())
}

pub(crate) fn list_breakers(c: &Connection) -> Result<Vec<BreakerRow>> {
    let mut stmt = c.prepare(
        "SELECT channel, state, failures, opened_at, updated_at FROM alert_breakers ORDER BY channel",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(BreakerRow {
            channel: r.get(0)?,
            state: r.get(1)?,
            failures: r.get(2)?,
            opened_at: opt_time(r.get(3)?),
            updated_at: ms_to_time(r.get(4)?),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn alert_cursor(c: &Connection, name: &str) -> Result<i64> {
    Ok(c.query_row(
        "SELECT value FROM alert_cursors WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()?
    .unwrap_or(0))
}

pub(crate) fn set_alert_cursor(c: &Connection, name: &str, value: i64) -> Result<()> {
    c.execute(
        "INSERT INTO alert_cursors (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

pub(crate) fn system_events_after(
    c: &Connection,
    after_id: i64,
    max: usize,
) -> Result<Vec<SystemEvent>> {
    let mut stmt = c.prepare(
        "SELECT id, at, kind, severity, message, details FROM system_events
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_id, limit(max.max(1))], |r| {
        let details: Option<String> = r.get(5)?;
        Ok(SystemEvent {
            id: r.get(0)?,
            at: ms_to_time(r.get(1)?),
            kind: r.get(2)?,
            severity: Severity::parse(&r.get::<_, String>(3)?),
            message: r.get(4)?,
            details: details.and_then(|d| serde_json::from_str(&d).ok()),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
