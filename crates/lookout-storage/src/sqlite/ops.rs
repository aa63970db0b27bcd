//! SQL for the operational tables and checks: system events, per-signal
//! retention, storage usage (`dbstat`), and the full integrity check.

use super::migrations::ms_to_time;
use crate::{Result, Severity, Signal, StorageUsage, SystemEvent};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

pub(crate) fn insert_system_event(c: &Connection, e: &SystemEvent) -> Result<i64> {
    c.execute(
        "INSERT INTO system_events (at, kind, severity, message, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            e.at.timestamp_millis(),
            e.kind,
            e.severity.as_str(),
            e.message,
            e.details.as_ref().map(|d| d.to_string()),
        ],
    )?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn list_system_events(c: &Connection, limit: usize) -> Result<Vec<SystemEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = c.prepare(
        "SELECT id, at, kind, severity, message, details FROM system_events
         ORDER BY at DESC, id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
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

pub(crate) fn enforce_signal_retention(
    c: &Connection,
    signal: Signal,
    older_than_ms: i64,
    budget: usize,
) -> Result<u64> {
    let budget = i64::try_from(budget.max(1)).unwrap_or(i64::MAX);
    let table = match signal {
        Signal::Transactions => "transactions",
        Signal::CheckIns => "check_ins",
        Signal::Logs => "logs",
        // Install-wide, with an index on `at`.
        Signal::SystemEvents => {
            let n = c.execute(
                "DELETE FROM system_events WHERE rowid IN (SELECT rowid FROM system_events
                   WHERE at < ?1 ORDER BY at LIMIT ?2)",
                params![older_than_ms, budget],
            )?;
            return Ok(n as u64);
        }
    };
    // Project by project, so that each batch walks the
    // (project_id, received_at) index over the rows it deletes only.
    let projects: Vec<i64> = c
        .prepare_cached("SELECT id FROM projects ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut deleted = 0i64;
    for project_id in projects {
        let left = budget - deleted;
        if left <= 0 {
            break;
        }
        deleted += c.execute(
            &format!(
                "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}
                   WHERE project_id = ?1 AND received_at < ?2 ORDER BY received_at LIMIT ?3)"
            ),
            params![project_id, older_than_ms, left],
        )? as i64;
    }
    Ok(deleted as u64)
}

/// Which signal a table (or an index on it) belongs to.
fn signal_of_table(table: &str) -> &'static str {
    match table {
        "events" | "event_ids" => "events",
        "issues" | "issue_tags" | "issue_users" | "issue_hourly" => "issues",
        "transactions" | "spans" => "transactions",
        "check_ins" => "check_ins",
        "logs" => "logs",
        "attachments" => "attachments",
        "user_feedback" => "feedback",
        "releases" | "release_commits" | "deploys" | "release_sessions" => "releases",
        "system_events" => "system_events",
        "zstd_dicts" => "dictionaries",
        "monitors"
        | "monitor_results"
        | "monitor_hourly"
        | "monitor_incidents"
        | "monitor_events"
        | "status_pages"
        | "status_page_monitors"
        | "monitor_cursors" => "monitors",
        _ => "other",
    }
}

pub(crate) fn storage_usage(c: &Connection) -> Result<StorageUsage> {
    // dbstat is compiled into the bundled SQLite (SQLITE_ENABLE_DBSTAT_VTAB).
    let mut by_signal: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut stmt = c.prepare(
        "SELECT COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d
         LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (table, bytes) = row?;
        *by_signal.entry(signal_of_table(&table)).or_default() += bytes.max(0) as u64;
    }
    let mut by_project: BTreeMap<i64, u64> = BTreeMap::new();
    for sql in [
        "SELECT project_id, SUM(length(payload)) FROM events GROUP BY project_id",
        "SELECT project_id, SUM(length(payload)) FROM transactions GROUP BY project_id",
        "SELECT project_id, SUM(length(data)) FROM attachments GROUP BY project_id",
    ] {
        let mut stmt = c.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
        })?;
        for row in rows {
            let (p, bytes) = row?;
            *by_project.entry(p).or_default() += bytes.unwrap_or(0).max(0) as u64;
        }
    }
    Ok(StorageUsage {
        by_signal: by_signal
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        by_project: by_project.into_iter().collect(),
    })
}

/// `PRAGMA integrity_check`: an empty list when healthy.
pub(crate) fn integrity_check(c: &Connection, max_errors: u32) -> Result<Vec<String>> {
    let mut stmt = c.prepare(&format!("PRAGMA integrity_check({max_errors})"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(Vec::new())
    } else {
        Ok(rows)
    }
}
