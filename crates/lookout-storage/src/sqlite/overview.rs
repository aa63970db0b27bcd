//! Reads (and the bulk status change) for the overview, releases and
//! issue-list pages. Every query here is bounded by an index: hourly
//! outcomes by `(project_id, hour)`, issues by `(project_id, last_seen)` or
//! `(project_id, first_release)`, issue hours by `(issue_id, hour)`.

use super::queries::{ISSUE_COLS, row_issue, sessions_of, set_issue_status};
use crate::overview::{FilterValues, OVERVIEW_HOURS, ProjectOverview, ReleaseHealth, TopIssue};
use crate::{Result, StorageError};
use chrono::{DateTime, Utc};
use lookout_model::errors::{Issue, Outcome, StatusChange};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

const HOUR_MS: i64 = 3_600_000;

/// Most ids one `issues_hourly` or `set_issues_status` call takes.
pub(crate) const MAX_IDS: usize = 500;

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

pub(crate) fn project_overview(
    c: &Connection,
    project_id: i64,
    now: DateTime<Utc>,
    top_n: usize,
) -> Result<ProjectOverview> {
    let now_ms = now.timestamp_millis();
    let now_hour = now_ms.div_euclid(HOUR_MS);
    let first_hour = now_hour - OVERVIEW_HOURS + 1;
    let day_hour = now_hour - 23;

    let hourly_events = c
        .prepare_cached(
            "SELECT hour, SUM(quantity) FROM project_outcomes
             WHERE project_id = ?1 AND hour BETWEEN ?2 AND ?3 AND outcome = ?4 AND category = 'error'
             GROUP BY hour HAVING SUM(quantity) > 0 ORDER BY hour",
        )?
        .query_map(
            params![project_id, first_hour, now_hour, Outcome::Accepted.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<Vec<(i64, i64)>, _>>()?;

    let new_issues_24h: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM issues WHERE project_id = ?1 AND first_seen > ?2")?
        .query_row(params![project_id, now_ms - 24 * HOUR_MS], |r| r.get(0))?;
    let (unresolved, regressions): (i64, i64) = c
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(is_regression <> 0), 0) FROM issues
             WHERE project_id = ?1 AND status = 'unresolved'",
        )?
        .query_row([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;

    // Only issues seen since the window began can have events in it, and
    // `issues_by_last_seen` finds those without touching the others.
    let top_issues = c
        .prepare_cached(&format!(
            "SELECT * FROM (
               SELECT {ISSUE_COLS}, (SELECT COALESCE(SUM(h.count), 0) FROM issue_hourly h
                                      WHERE h.issue_id = issues.id AND h.hour BETWEEN ?2 AND ?3) AS n
               FROM issues WHERE project_id = ?1 AND last_seen >= ?4 AND status = 'unresolved')
             WHERE n > 0 ORDER BY n DESC, id DESC LIMIT ?5"
        ))?
        .query_map(
            params![
                project_id,
                day_hour,
                now_hour,
                day_hour * HOUR_MS,
                top_n as i64
            ],
            |r| {
                Ok(TopIssue {
                    issue: row_issue(r)?,
                    events_24h: r.get(21)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;

    let latest: Option<String> = c
        .prepare_cached(
            "SELECT version FROM releases WHERE project_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([project_id], |r| r.get(0))
        .optional()?;
    let latest_release = match latest {
        Some(version) => Some(ReleaseHealth {
            sessions: sessions_of(c, project_id, &version)?,
            version,
        }),
        None => None,
    };

    Ok(ProjectOverview {
        now_hour,
        hourly_events,
        new_issues_24h,
        unresolved,
        regressions,
        top_issues,
        latest_release,
    })
}

pub(crate) fn issues_hourly(
    c: &Connection,
    issue_ids: &[i64],
    since_hour: i64,
) -> Result<Vec<(i64, i64, i64)>> {
    if issue_ids.is_empty() {
        return Ok(Vec::new());
    }
    if issue_ids.len() > MAX_IDS {
        return Err(StorageError::InvalidInput(format!(
            "at most {MAX_IDS} issues at once"
        )));
    }
    let sql = format!(
        "SELECT issue_id, hour, count FROM issue_hourly
         WHERE issue_id IN ({}) AND hour >= ? ORDER BY issue_id, hour",
        placeholders(issue_ids.len())
    );
    let args = issue_ids
        .iter()
        .map(|&i| SqlValue::from(i))
        .chain(std::iter::once(SqlValue::from(since_hour)));
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn filter_values(c: &Connection, project_id: i64) -> Result<FilterValues> {
    // One primary-key probe per issue of the project; no scan of events.
    let environments = c
        .prepare_cached(
            "SELECT DISTINCT t.value FROM issues i
             JOIN issue_tags t ON t.issue_id = i.id AND t.key = 'environment'
             WHERE i.project_id = ?1 ORDER BY t.value LIMIT 100",
        )?
        .query_map([project_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let releases = c
        .prepare_cached(
            "SELECT version FROM releases WHERE project_id = ?1 ORDER BY id DESC LIMIT 100",
        )?
        .query_map([project_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(FilterValues {
        environments,
        releases,
    })
}

pub(crate) fn set_issues_status(
    c: &Connection,
    issue_ids: &[i64],
    change: &StatusChange,
) -> Result<Vec<Issue>> {
    if issue_ids.len() > MAX_IDS {
        return Err(StorageError::InvalidInput(format!(
            "at most {MAX_IDS} issues at once"
        )));
    }
    // The writer runs this job in its own savepoint: an error (an unknown
    // id) rolls back the changes already made, so it is all or none.
    issue_ids
        .iter()
        .map(|&id| set_issue_status(c, id, change))
        .collect()
}

pub(crate) fn release_new_issues(
    c: &Connection,
    project_id: i64,
    versions: &[String],
    per_release: usize,
) -> Result<Vec<(String, Vec<Issue>)>> {
    let mut out: Vec<(String, Vec<Issue>)> =
        versions.iter().map(|v| (v.clone(), Vec::new())).collect();
    if versions.is_empty() || per_release == 0 {
        return Ok(out);
    }
    if versions.len() > MAX_IDS {
        return Err(StorageError::InvalidInput(format!(
            "at most {MAX_IDS} releases at once"
        )));
    }
    let sql = format!(
        "SELECT {ISSUE_COLS} FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY first_release ORDER BY event_count DESC, id DESC) AS rn
           FROM issues WHERE project_id = ? AND first_release IN ({}))
         WHERE rn <= ? ORDER BY first_release, event_count DESC, id DESC",
        placeholders(versions.len())
    );
    let args = std::iter::once(SqlValue::from(project_id))
        .chain(versions.iter().map(|v| SqlValue::from(v.clone())))
        .chain(std::iter::once(SqlValue::from(per_release as i64)));
    let issues: Vec<Issue> = c
        .prepare(&sql)?
        .query_map(params_from_iter(args), row_issue)?
        .collect::<Result<_, _>>()?;
    for i in issues {
        if let Some(slot) = out
            .iter_mut()
            .find(|(v, _)| Some(v.as_str()) == i.first_release.as_deref())
        {
            slot.1.push(i);
        }
    }
    Ok(out)
}
