//! SQL for monitors (issue #5): definitions and current state, raw
//! results rolled into hourly aggregates, incidents, the durable event
//! log for the alert engine, status pages, and the check-in feed. Free
//! functions over a connection; `mod.rs` runs them on the writer or a
//! reader.

use super::migrations::ms_to_time;
use crate::{
    CheckRecord, MonitorDay, MonitorEvent, MonitorHour, MonitorIncident, MonitorRecord,
    MonitorResult, MonitorState, NewMonitor, NewStatusPage, Result, StatusPage, StatusPageMonitor,
    StorageError, UptimeSummary,
};
use chrono::{DateTime, Utc};
use lookout_model::errors::CheckInRow;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::BTreeMap;

const COLS: &str = "id, project_id, slug, name, kind, spec, source, paused, ping_token, created_at, updated_at, \
    status, status_since, failures, degraded, successes, last_check_at, last_latency_ms, last_message, \
    last_details, last_ping_at, last_start_at, last_output";

fn opt_time(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(ms_to_time)
}

fn json_col(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

fn row_monitor(r: &Row<'_>) -> rusqlite::Result<MonitorRecord> {
    Ok(MonitorRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        slug: r.get(2)?,
        name: r.get(3)?,
        kind: r.get(4)?,
        spec: json_col(r.get(5)?).unwrap_or(serde_json::Value::Null),
        source: r.get(6)?,
        paused: r.get(7)?,
        ping_token: r.get(8)?,
        created_at: ms_to_time(r.get(9)?),
        updated_at: ms_to_time(r.get(10)?),
        state: MonitorState {
            status: r.get(11)?,
            since: ms_to_time(r.get(12)?),
            failures: r.get(13)?,
            degraded: r.get(14)?,
            successes: r.get(15)?,
            last_check_at: opt_time(r.get(16)?),
            last_latency_ms: r.get(17)?,
            last_message: r.get(18)?,
            last_details: json_col(r.get(19)?),
            last_ping_at: opt_time(r.get(20)?),
            last_start_at: opt_time(r.get(21)?),
            last_output: r.get(22)?,
        },
    })
}

pub(crate) fn get(c: &Connection, id: i64) -> Result<Option<MonitorRecord>> {
    Ok(c.query_row(
        &format!("SELECT {COLS} FROM monitors WHERE id = ?1"),
        [id],
        row_monitor,
    )
    .optional()?)
}

pub(crate) fn find(c: &Connection, project_id: i64, slug: &str) -> Result<Option<MonitorRecord>> {
    Ok(c.query_row(
        &format!("SELECT {COLS} FROM monitors WHERE project_id = ?1 AND slug = ?2"),
        params![project_id, slug],
        row_monitor,
    )
    .optional()?)
}

pub(crate) fn find_by_token(c: &Connection, token: &str) -> Result<Option<MonitorRecord>> {
    Ok(c.query_row(
        &format!("SELECT {COLS} FROM monitors WHERE ping_token = ?1"),
        [token],
        row_monitor,
    )
    .optional()?)
}

pub(crate) fn list(c: &Connection, project_id: Option<i64>) -> Result<Vec<MonitorRecord>> {
    let mut s = c.prepare_cached(&format!(
        "SELECT {COLS} FROM monitors WHERE ?1 IS NULL OR project_id = ?1 ORDER BY id"
    ))?;
    let rows = s.query_map([project_id], row_monitor)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn check_new(new: &NewMonitor) -> Result<()> {
    let slug_ok = !new.slug.is_empty()
        && new.slug.len() <= 128
        && new
            .slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !slug_ok {
        return Err(StorageError::InvalidInput(format!(
            "monitor slug `{}` must be 1 to 128 letters, digits, `-`, `_` or `.`",
            new.slug
        )));
    }
    let n = new.name.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(StorageError::InvalidInput(
            "monitor name must be 1 to 200 characters".into(),
        ));
    }
    Ok(())
}

pub(crate) fn create(c: &Connection, new: &NewMonitor, now: i64) -> Result<MonitorRecord> {
    check_new(new)?;
    if find(c, new.project_id, &new.slug)?.is_some() {
        return Err(StorageError::Conflict(format!(
            "a monitor with slug `{}` already exists in this project",
            new.slug
        )));
    }
    let exists = c
        .query_row(
            "SELECT 1 FROM projects WHERE id = ?1 AND deleting = 0",
            [new.project_id],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_none() {
        return Err(StorageError::NotFound(format!(
            "project {}",
            new.project_id
        )));
    }
    c.execute(
        "INSERT INTO monitors (project_id, slug, name, kind, spec, source, ping_token, created_at, updated_at, status_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8)",
        params![
            new.project_id,
            new.slug,
            new.name.trim(),
            new.kind,
            new.spec.to_string(),
            new.source,
            new.ping_token,
            now
        ],
    )?;
    get(c, c.last_insert_rowid())?.ok_or_else(|| StorageError::Backend("monitor vanished".into()))
}

pub(crate) fn upsert(c: &Connection, new: &NewMonitor, now: i64) -> Result<(MonitorRecord, bool)> {
    check_new(new)?;
    match find(c, new.project_id, &new.slug)? {
        None => Ok((create(c, new, now)?, true)),
        Some(m) => {
            c.execute(
                "UPDATE monitors SET name = ?1, kind = ?2, spec = ?3, source = ?4,
                   ping_token = COALESCE(ping_token, ?5), updated_at = ?6 WHERE id = ?7",
                params![
                    new.name.trim(),
                    new.kind,
                    new.spec.to_string(),
                    new.source,
                    new.ping_token,
                    now,
                    m.id
                ],
            )?;
            Ok((
                get(c, m.id)?.ok_or_else(|| StorageError::NotFound(format!("monitor {}", m.id)))?,
                false,
            ))
        }
    }
}

pub(crate) fn update(
    c: &Connection,
    id: i64,
    name: &str,
    kind: &str,
    spec: &serde_json::Value,
    now: i64,
) -> Result<MonitorRecord> {
    let n = name.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(StorageError::InvalidInput(
            "monitor name must be 1 to 200 characters".into(),
        ));
    }
    let changed = c.execute(
        "UPDATE monitors SET name = ?1, kind = ?2, spec = ?3, updated_at = ?4 WHERE id = ?5",
        params![name.trim(), kind, spec.to_string(), now, id],
    )?;
    if changed == 0 {
        return Err(StorageError::NotFound(format!("monitor {id}")));
    }
    get(c, id)?.ok_or_else(|| StorageError::NotFound(format!("monitor {id}")))
}

pub(crate) fn set_paused(c: &Connection, id: i64, paused: bool) -> Result<MonitorRecord> {
    let changed = c.execute(
        "UPDATE monitors SET paused = ?1 WHERE id = ?2",
        params![paused, id],
    )?;
    if changed == 0 {
        return Err(StorageError::NotFound(format!("monitor {id}")));
    }
    get(c, id)?.ok_or_else(|| StorageError::NotFound(format!("monitor {id}")))
}

pub(crate) fn delete(c: &Connection, id: i64) -> Result<bool> {
    Ok(c.execute("DELETE FROM monitors WHERE id = ?1", [id])? > 0)
}

pub(crate) fn record_check(c: &Connection, r: &CheckRecord) -> Result<Option<MonitorEvent>> {
    let Some(m) = get(c, r.monitor_id)? else {
        return Err(StorageError::NotFound(format!("monitor {}", r.monitor_id)));
    };
    let at = r.at.timestamp_millis();
    if let Some(res) = &r.result {
        c.prepare_cached(
            "INSERT INTO monitor_results (monitor_id, at, status, latency_ms, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![r.monitor_id, res.at.timestamp_millis(), res.status, res.latency_ms, res.message])?;
    }
    let s = &r.state;
    c.prepare_cached(
        "UPDATE monitors SET status = ?1, status_since = ?2, failures = ?3, degraded = ?4, successes = ?5,
           last_check_at = ?6, last_latency_ms = ?7, last_message = ?8, last_details = ?9,
           last_ping_at = ?10, last_start_at = ?11, last_output = ?12 WHERE id = ?13",
    )?
    .execute(params![
        s.status,
        s.since.timestamp_millis(),
        s.failures,
        s.degraded,
        s.successes,
        s.last_check_at.map(|t| t.timestamp_millis()),
        s.last_latency_ms,
        s.last_message,
        s.last_details.as_ref().map(|d| d.to_string()),
        s.last_ping_at.map(|t| t.timestamp_millis()),
        s.last_start_at.map(|t| t.timestamp_millis()),
        s.last_output,
        r.monitor_id
    ])?;
    let Some(ch) = &r.change else { return Ok(None) };
    // Close the open incident, then open one for a bad state.
    let open: Option<i64> = c
        .query_row(
            "SELECT id FROM monitor_incidents WHERE monitor_id = ?1 AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
            [r.monitor_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        c.execute(
            "UPDATE monitor_incidents SET ended_at = ?1 WHERE id = ?2",
            params![at, id],
        )?;
    }
    let mut incident_id = open;
    if ch.to == "down" || ch.to == "degraded" {
        c.execute(
            "INSERT INTO monitor_incidents (monitor_id, status, started_at, cause) VALUES (?1, ?2, ?3, ?4)",
            params![r.monitor_id, ch.to, at, ch.cause],
        )?;
        incident_id = Some(c.last_insert_rowid());
    }
    c.execute(
        "INSERT INTO monitor_events (monitor_id, project_id, monitor_name, at, from_status, to_status, cause, incident_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![r.monitor_id, m.project_id, m.name, at, ch.from, ch.to, ch.cause, incident_id],
    )?;
    Ok(Some(MonitorEvent {
        id: c.last_insert_rowid(),
        monitor_id: r.monitor_id,
        project_id: m.project_id,
        monitor_name: m.name,
        at: ms_to_time(at),
        from: ch.from.clone(),
        to: ch.to.clone(),
        cause: ch.cause.clone(),
        incident_id,
    }))
}

pub(crate) fn results(
    c: &Connection,
    id: i64,
    since: i64,
    limit: usize,
) -> Result<Vec<MonitorResult>> {
    let mut s = c.prepare_cached(
        "SELECT at, status, latency_ms, message FROM monitor_results
         WHERE monitor_id = ?1 AND at >= ?2 ORDER BY at DESC LIMIT ?3",
    )?;
    let rows = s.query_map(params![id, since, limit as i64], |r| {
        Ok(MonitorResult {
            at: ms_to_time(r.get(0)?),
            status: r.get(1)?,
            latency_ms: r.get(2)?,
            message: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[derive(Default)]
struct Acc {
    count: u64,
    failures: u64,
    degraded: u64,
    latencies: Vec<f64>,
}

impl Acc {
    fn add(&mut self, status: &str, latency: Option<f64>) {
        self.count += 1;
        match status {
            "down" => self.failures += 1,
            "degraded" => self.degraded += 1,
            _ => {}
        }
        if let Some(l) = latency {
            self.latencies.push(l);
        }
    }
    fn hour(mut self, hour: i64) -> MonitorHour {
        self.latencies.sort_by(f64::total_cmp);
        MonitorHour {
            hour: ms_to_time(hour * 3_600_000),
            count: self.count,
            failures: self.failures,
            degraded: self.degraded,
            p50: percentile(&self.latencies, 50.0),
            p95: percentile(&self.latencies, 95.0),
            p99: percentile(&self.latencies, 99.0),
        }
    }
}

fn raw_by_hour(c: &Connection, id: i64, since: i64, before: i64) -> Result<BTreeMap<i64, Acc>> {
    let mut s = c.prepare_cached(
        "SELECT at, status, latency_ms FROM monitor_results WHERE monitor_id = ?1 AND at >= ?2 AND at < ?3",
    )?;
    let mut rows = s.query(params![id, since, before])?;
    let mut out: BTreeMap<i64, Acc> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let at: i64 = r.get(0)?;
        let status: String = r.get(1)?;
        out.entry(at.div_euclid(3_600_000))
            .or_default()
            .add(&status, r.get(2)?);
    }
    Ok(out)
}

fn stored_hours(c: &Connection, id: i64, since_hour: i64) -> Result<Vec<MonitorHour>> {
    let mut s = c.prepare_cached(
        "SELECT hour, count, failures, degraded, p50, p95, p99 FROM monitor_hourly
         WHERE monitor_id = ?1 AND hour >= ?2 ORDER BY hour",
    )?;
    let rows = s.query_map(params![id, since_hour], |r| {
        Ok(MonitorHour {
            hour: ms_to_time(r.get::<_, i64>(0)? * 3_600_000),
            count: r.get::<_, i64>(1)? as u64,
            failures: r.get::<_, i64>(2)? as u64,
            degraded: r.get::<_, i64>(3)? as u64,
            p50: r.get(4)?,
            p95: r.get(5)?,
            p99: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn hourly(c: &Connection, id: i64, since: i64) -> Result<Vec<MonitorHour>> {
    let since_hour = since.div_euclid(3_600_000);
    let mut by_hour: BTreeMap<i64, MonitorHour> = stored_hours(c, id, since_hour)?
        .into_iter()
        .map(|h| (h.hour.timestamp().div_euclid(3600), h))
        .collect();
    for (hour, acc) in raw_by_hour(c, id, since_hour * 3_600_000, i64::MAX)? {
        let fresh = acc.hour(hour);
        by_hour
            .entry(hour)
            .and_modify(|h| {
                h.count += fresh.count;
                h.failures += fresh.failures;
                h.degraded += fresh.degraded;
                h.p50 = h.p50.or(fresh.p50);
                h.p95 = h.p95.or(fresh.p95);
                h.p99 = h.p99.or(fresh.p99);
            })
            .or_insert(fresh);
    }
    Ok(by_hour.into_values().collect())
}

fn counts(c: &Connection, id: i64, since: i64) -> Result<(u64, u64)> {
    let since_hour = since.div_euclid(3_600_000);
    let (hc, hf): (i64, i64) = c.query_row(
        "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(failures), 0) FROM monitor_hourly WHERE monitor_id = ?1 AND hour >= ?2",
        params![id, since_hour],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (rc, rf): (i64, i64) = c.query_row(
        "SELECT COUNT(*), COALESCE(SUM(status = 'down'), 0) FROM monitor_results WHERE monitor_id = ?1 AND at >= ?2",
        params![id, since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(((hc + rc) as u64, (hf + rf) as u64))
}

pub(crate) fn uptime(c: &Connection, id: i64, now: DateTime<Utc>) -> Result<UptimeSummary> {
    let now = now.timestamp_millis();
    let pct = |days: f64| -> Result<Option<f64>> {
        let (n, f) = counts(c, id, now - (days * 86_400_000.0) as i64)?;
        Ok((n > 0).then(|| 100.0 * (n - f) as f64 / n as f64))
    };
    Ok(UptimeSummary {
        h24: pct(1.0)?,
        d7: pct(7.0)?,
        d30: pct(30.0)?,
        d90: pct(90.0)?,
    })
}

pub(crate) fn daily(c: &Connection, id: i64, since: i64) -> Result<Vec<MonitorDay>> {
    let mut days: BTreeMap<i64, MonitorDay> = BTreeMap::new();
    let mut add = |day: i64, n: u64, f: u64, d: u64| {
        let e = days.entry(day).or_insert_with(|| MonitorDay {
            day: ms_to_time(day * 86_400_000).date_naive(),
            count: 0,
            failures: 0,
            degraded: 0,
        });
        e.count += n;
        e.failures += f;
        e.degraded += d;
    };
    let since_hour = since.div_euclid(3_600_000);
    for h in stored_hours(c, id, since_hour)? {
        add(
            h.hour.timestamp().div_euclid(86_400),
            h.count,
            h.failures,
            h.degraded,
        );
    }
    let mut s = c.prepare_cached(
        "SELECT at / 86400000, COUNT(*), SUM(status = 'down'), SUM(status = 'degraded')
         FROM monitor_results WHERE monitor_id = ?1 AND at >= ?2 GROUP BY at / 86400000",
    )?;
    let mut rows = s.query(params![id, since])?;
    while let Some(r) = rows.next()? {
        add(
            r.get(0)?,
            r.get::<_, i64>(1)? as u64,
            r.get::<_, i64>(2)? as u64,
            r.get::<_, i64>(3)? as u64,
        );
    }
    Ok(days.into_values().collect())
}

pub(crate) fn incidents(c: &Connection, id: i64, limit: usize) -> Result<Vec<MonitorIncident>> {
    let mut s = c.prepare_cached(
        "SELECT id, monitor_id, status, started_at, ended_at, cause FROM monitor_incidents
         WHERE monitor_id = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2",
    )?;
    let rows = s.query_map(params![id, limit as i64], |r| {
        Ok(MonitorIncident {
            id: r.get(0)?,
            monitor_id: r.get(1)?,
            status: r.get(2)?,
            started_at: ms_to_time(r.get(3)?),
            ended_at: opt_time(r.get(4)?),
            cause: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn events_after(c: &Connection, after: i64, limit: usize) -> Result<Vec<MonitorEvent>> {
    let mut s = c.prepare_cached(
        "SELECT id, monitor_id, project_id, monitor_name, at, from_status, to_status, cause, incident_id
         FROM monitor_events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = s.query_map(params![after, limit as i64], |r| {
        Ok(MonitorEvent {
            id: r.get(0)?,
            monitor_id: r.get(1)?,
            project_id: r.get(2)?,
            monitor_name: r.get(3)?,
            at: ms_to_time(r.get(4)?),
            from: r.get(5)?,
            to: r.get(6)?,
            cause: r.get(7)?,
            incident_id: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn compact(
    c: &Connection,
    raw_before: i64,
    history_before: i64,
    budget: usize,
) -> Result<u64> {
    // Only whole hours are rolled up, each (monitor, hour) in one go.
    let cutoff = raw_before.div_euclid(3_600_000) * 3_600_000;
    let groups: Vec<(i64, i64)> = {
        let mut s = c.prepare(
            "SELECT DISTINCT monitor_id, at / 3600000 FROM monitor_results WHERE at < ?1 LIMIT ?2",
        )?;
        let rows = s.query_map(params![cutoff, budget.max(1) as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut rolled = 0u64;
    for (id, hour) in groups {
        let start = hour * 3_600_000;
        let accs = raw_by_hour(c, id, start, start + 3_600_000)?;
        for (h, acc) in accs {
            rolled += acc.count;
            let mh = acc.hour(h);
            c.execute(
                "INSERT INTO monitor_hourly (monitor_id, hour, count, failures, degraded, p50, p95, p99)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(monitor_id, hour) DO UPDATE SET count = count + excluded.count,
                   failures = failures + excluded.failures, degraded = degraded + excluded.degraded,
                   p50 = MAX(p50, excluded.p50), p95 = MAX(p95, excluded.p95), p99 = MAX(p99, excluded.p99)",
                params![id, h, mh.count as i64, mh.failures as i64, mh.degraded as i64, mh.p50, mh.p95, mh.p99],
            )?;
        }
        c.execute(
            "DELETE FROM monitor_results WHERE monitor_id = ?1 AND at >= ?2 AND at < ?3",
            params![id, start, start + 3_600_000],
        )?;
    }
    c.execute(
        "DELETE FROM monitor_hourly WHERE hour < ?1",
        [history_before.div_euclid(3_600_000)],
    )?;
    c.execute(
        "DELETE FROM monitor_incidents WHERE ended_at IS NOT NULL AND ended_at < ?1",
        [history_before],
    )?;
    c.execute("DELETE FROM monitor_events WHERE at < ?1", [history_before])?;
    Ok(rolled)
}

pub(crate) fn check_ins_after(
    c: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, i64, CheckInRow)>> {
    let mut s = c.prepare_cached(
        "SELECT id, project_id, check_in_id, monitor_slug, status, duration, environment, release, monitor_config, received_at
         FROM check_ins WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = s.query_map(params![after, limit as i64], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            CheckInRow {
                check_in_id: r.get(2)?,
                monitor_slug: r.get(3)?,
                status: r.get(4)?,
                duration: r.get(5)?,
                environment: r.get(6)?,
                release: r.get(7)?,
                monitor_config: json_col(r.get(8)?),
                received_at: ms_to_time(r.get(9)?),
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn last_check_in_id(c: &Connection) -> Result<i64> {
    Ok(
        c.query_row("SELECT COALESCE(MAX(id), 0) FROM check_ins", [], |r| {
            r.get(0)
        })?,
    )
}

pub(crate) fn cursor(c: &Connection, name: &str) -> Result<Option<i64>> {
    Ok(c.query_row(
        "SELECT value FROM monitor_cursors WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()?)
}

pub(crate) fn set_cursor(c: &Connection, name: &str, value: i64) -> Result<()> {
    c.execute(
        "INSERT INTO monitor_cursors (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

// --- status pages ----------------------------------------------------------

fn check_page(p: &NewStatusPage) -> Result<()> {
    let ok = !p.slug.is_empty()
        && p.slug.len() <= 64
        && p.slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(StorageError::InvalidInput(format!(
            "status page slug `{}` must be 1 to 64 lowercase letters, digits or `-`",
            p.slug
        )));
    }
    let n = p.title.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(StorageError::InvalidInput(
            "status page title must be 1 to 200 characters".into(),
        ));
    }
    Ok(())
}

fn page_monitors(c: &Connection, page_id: i64) -> Result<Vec<StatusPageMonitor>> {
    let mut s = c.prepare_cached(
        "SELECT monitor_id, display_name FROM status_page_monitors WHERE page_id = ?1 ORDER BY position",
    )?;
    let rows = s.query_map([page_id], |r| {
        Ok(StatusPageMonitor {
            monitor_id: r.get(0)?,
            display_name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn page_where(c: &Connection, clause: &str, arg: &dyn rusqlite::ToSql) -> Result<Vec<StatusPage>> {
    let mut s = c.prepare(&format!(
        "SELECT id, slug, title, description, notice, created_at, updated_at FROM status_pages {clause} ORDER BY slug"
    ))?;
    let rows = s.query_map([arg], |r| {
        Ok(StatusPage {
            id: r.get(0)?,
            slug: r.get(1)?,
            title: r.get(2)?,
            description: r.get(3)?,
            notice: r.get(4)?,
            monitors: vec![],
            created_at: ms_to_time(r.get(5)?),
            updated_at: ms_to_time(r.get(6)?),
        })
    })?;
    let mut pages: Vec<StatusPage> = rows.collect::<Result<_, _>>()?;
    for p in &mut pages {
        p.monitors = page_monitors(c, p.id)?;
    }
    Ok(pages)
}

pub(crate) fn list_pages(c: &Connection) -> Result<Vec<StatusPage>> {
    page_where(c, "WHERE ?1 = ?1", &1)
}

pub(crate) fn find_page(c: &Connection, slug: &str) -> Result<Option<StatusPage>> {
    Ok(page_where(c, "WHERE slug = ?1", &slug)?.pop())
}

fn page_by_id(c: &Connection, id: i64) -> Result<StatusPage> {
    page_where(c, "WHERE id = ?1", &id)?
        .pop()
        .ok_or_else(|| StorageError::NotFound(format!("status page {id}")))
}

fn write_page_monitors(c: &Connection, id: i64, p: &NewStatusPage) -> Result<()> {
    c.execute("DELETE FROM status_page_monitors WHERE page_id = ?1", [id])?;
    for (i, m) in p.monitors.iter().enumerate() {
        let exists = c
            .query_row(
                "SELECT 1 FROM monitors WHERE id = ?1",
                [m.monitor_id],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_none() {
            return Err(StorageError::NotFound(format!("monitor {}", m.monitor_id)));
        }
        c.execute(
            "INSERT INTO status_page_monitors (page_id, monitor_id, display_name, position) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(page_id, monitor_id) DO UPDATE SET display_name = excluded.display_name",
            params![id, m.monitor_id, m.display_name.trim(), i as i64],
        )?;
    }
    Ok(())
}

pub(crate) fn create_page(c: &Connection, p: &NewStatusPage, now: i64) -> Result<StatusPage> {
    check_page(p)?;
    if find_page(c, &p.slug)?.is_some() {
        return Err(StorageError::Conflict(format!(
            "a status page with slug `{}` exists",
            p.slug
        )));
    }
    c.execute(
        "INSERT INTO status_pages (slug, title, description, notice, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![p.slug, p.title.trim(), p.description, p.notice, now],
    )?;
    let id = c.last_insert_rowid();
    write_page_monitors(c, id, p)?;
    page_by_id(c, id)
}

pub(crate) fn update_page(
    c: &Connection,
    id: i64,
    p: &NewStatusPage,
    now: i64,
) -> Result<StatusPage> {
    check_page(p)?;
    if let Some(other) = find_page(c, &p.slug)?
        && other.id != id
    {
        return Err(StorageError::Conflict(format!(
            "a status page with slug `{}` exists",
            p.slug
        )));
    }
    let n = c.execute(
        "UPDATE status_pages SET slug = ?1, title = ?2, description = ?3, notice = ?4, updated_at = ?5 WHERE id = ?6",
        params![p.slug, p.title.trim(), p.description, p.notice, now, id],
    )?;
    if n == 0 {
        return Err(StorageError::NotFound(format!("status page {id}")));
    }
    write_page_monitors(c, id, p)?;
    page_by_id(c, id)
}

pub(crate) fn delete_page(c: &Connection, id: i64) -> Result<bool> {
    Ok(c.execute("DELETE FROM status_pages WHERE id = ?1", [id])? > 0)
}
