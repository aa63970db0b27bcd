//! Error-tracking reads and small writes for the SQLite backend. Each
//! function takes a connection and runs on the reader pool or the writer
//! thread, as the caller in `mod.rs` decides.

use super::migrations::ms_to_time;
use crate::codec::{self, Dict, DictCache};
use crate::{
    IssueQuery, IssueSort, NewDeploy, Page, ReleaseUpdate, Result, RetentionReport, StorageError,
};
use chrono::{DateTime, Utc};
use lookout_model::errors::{
    AttachmentMeta, CheckInRow, Deploy, EventSummaryRow, Feedback, Issue, IssueStatus, LogRow,
    Outcome, OutcomeCount, Release, SessionTotals, StatusChange, StoredEvent, TagSummary,
    TagValueCount, TransactionRow, event_id_hex,
};
use lookout_model::settings::ProjectSettings;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::sync::Arc;

pub(super) const ISSUE_COLS: &str =
    "id, project_id, title, culprit, level, status, event_count, user_count,
    first_seen, last_seen, is_regression, regression_count, first_release, last_release,
    grouping_hash, grouping_version, exception_type, platform, status_release,
    ignore_until_count, ignore_until_time";

pub(super) fn row_issue(r: &Row<'_>) -> rusqlite::Result<Issue> {
    let status: String = r.get(5)?;
    Ok(Issue {
        id: r.get(0)?,
        project_id: r.get(1)?,
        title: r.get(2)?,
        culprit: r.get(3)?,
        level: r.get(4)?,
        status: IssueStatus::parse(&status).unwrap_or(IssueStatus::Unresolved),
        count: r.get(6)?,
        user_count: r.get(7)?,
        first_seen: ms_to_time(r.get(8)?),
        last_seen: ms_to_time(r.get(9)?),
        is_regression: r.get(10)?,
        regression_count: r.get(11)?,
        first_release: r.get(12)?,
        last_release: r.get(13)?,
        grouping_hash: r.get(14)?,
        grouping_version: r.get(15)?,
        exception_type: r.get(16)?,
        platform: r.get(17)?,
        status_release: r.get(18)?,
        ignore_until_count: r.get(19)?,
        ignore_until: r.get::<_, Option<i64>>(20)?.map(ms_to_time),
    })
}

pub(crate) fn get_issue(c: &Connection, id: i64) -> Result<Option<Issue>> {
    Ok(
        c.prepare_cached(&format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ?1"))?
            .query_row([id], row_issue)
            .optional()?,
    )
}

fn sort_column(s: IssueSort) -> &'static str {
    match s {
        IssueSort::LastSeen => "last_seen",
        IssueSort::FirstSeen => "first_seen",
        IssueSort::Events => "event_count",
        IssueSort::Users => "user_count",
    }
}

fn parse_cursor(c: &str) -> Result<(i64, i64)> {
    let bad = || StorageError::InvalidInput(format!("invalid cursor `{c}`"));
    let (a, b) = c.split_once('.').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

pub(crate) fn list_issues(c: &Connection, project_id: i64, q: &IssueQuery) -> Result<Page<Issue>> {
    let col = sort_column(q.sort);
    let mut sql = format!("SELECT {ISSUE_COLS}, {col} FROM issues WHERE project_id = ?");
    let mut args: Vec<SqlValue> = vec![project_id.into()];
    if !q.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (i, s) in q.statuses.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            args.push(s.as_str().to_string().into());
        }
        sql.push(')');
    }
    if let Some(level) = &q.level {
        sql.push_str(" AND level = ?");
        args.push(level.clone().into());
    }
    if let Some(r) = &q.first_release {
        sql.push_str(" AND first_release = ?");
        args.push(r.clone().into());
    }
    for (k, v) in &q.tags {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = issues.id AND t.key = ? AND t.value = ?)",
        );
        args.push(k.clone().into());
        args.push(v.clone().into());
    }
    for word in &q.text {
        sql.push_str(" AND (title LIKE ? ESCAPE '\\' OR culprit LIKE ? ESCAPE '\\')");
        let pat = format!(
            "%{}%",
            word.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        args.push(pat.clone().into());
        args.push(pat.into());
    }
    if let Some(cur) = &q.cursor {
        let (v, id) = parse_cursor(cur)?;
        sql.push_str(&format!(" AND ({col} < ? OR ({col} = ? AND id < ?))"));
        args.push(v.into());
        args.push(v.into());
        args.push(id.into());
    }
    let limit = q.limit.clamp(1, 500);
    sql.push_str(&format!(
        " ORDER BY {col} DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let mut stmt = c.prepare(&sql)?;
    let mut rows: Vec<(Issue, i64)> = stmt
        .query_map(params_from_iter(args), |r| Ok((row_issue(r)?, r.get(21)?)))?
        .collect::<Result<_, _>>()?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(i, v)| format!("{v}.{}", i.id))
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(|(i, _)| i).collect(),
        next_cursor,
    })
}

pub(crate) fn issue_tags(c: &Connection, issue_id: i64, top_n: usize) -> Result<Vec<TagSummary>> {
    let mut stmt = c.prepare_cached(
        "SELECT key, value, count FROM issue_tags WHERE issue_id = ?1 ORDER BY key, count DESC, value",
    )?;
    let rows = stmt.query_map([issue_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out: Vec<TagSummary> = Vec::new();
    for row in rows {
        let (k, v, n) = row?;
        match out.last_mut() {
            Some(t) if t.key == k => {
                t.total += n;
                if t.top.len() < top_n {
                    t.top.push(TagValueCount { value: v, count: n });
                }
            }
            _ => out.push(TagSummary {
                key: k,
                total: n,
                top: vec![TagValueCount { value: v, count: n }],
            }),
        }
    }
    Ok(out)
}

pub(crate) fn issue_hourly(
    c: &Connection,
    issue_id: i64,
    since_hour: i64,
) -> Result<Vec<(i64, i64)>> {
    let mut stmt = c.prepare_cached(
        "SELECT hour, count FROM issue_hourly WHERE issue_id = ?1 AND hour >= ?2 ORDER BY hour",
    )?;
    let rows = stmt.query_map(params![issue_id, since_hour], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn set_issue_status(c: &Connection, issue_id: i64, ch: &StatusChange) -> Result<Issue> {
    let issue = get_issue(c, issue_id)?
        .ok_or_else(|| StorageError::NotFound(format!("issue {issue_id}")))?;
    let (release, until_count, until_time) = match ch.status {
        IssueStatus::ResolvedInNextRelease => {
            // The release current at resolve time: the newest release that
            // sent this issue an event, else the project's newest release.
            let newest: Option<String> = c
                .query_row(
                    "SELECT version FROM releases WHERE project_id = ?1 ORDER BY id DESC LIMIT 1",
                    [issue.project_id],
                    |r| r.get(0),
                )
                .optional()?;
            (issue.last_release.clone().or(newest), None, None)
        }
        IssueStatus::Ignored => (
            None,
            ch.ignore_count.map(|n| issue.count + n.max(0)),
            ch.ignore_until.map(|t| t.timestamp_millis()),
        ),
        _ => (None, None, None),
    };
    let clear_regression = matches!(
        ch.status,
        IssueStatus::Resolved | IssueStatus::ResolvedInNextRelease
    );
    c.execute(
        "UPDATE issues SET status = ?2, status_release = ?3, ignore_until_count = ?4,
           ignore_until_time = ?5, is_regression = CASE WHEN ?6 THEN 0 ELSE is_regression END
         WHERE id = ?1",
        params![
            issue_id,
            ch.status.as_str(),
            release,
            until_count,
            until_time,
            clear_regression
        ],
    )?;
    get_issue(c, issue_id)?.ok_or_else(|| StorageError::NotFound(format!("issue {issue_id}")))
}

fn row_event_summary(r: &Row<'_>) -> rusqlite::Result<EventSummaryRow> {
    let id: Vec<u8> = r.get(0)?;
    Ok(EventSummaryRow {
        event_id: event_id_hex(&id),
        project_id: r.get(1)?,
        issue_id: r.get(2)?,
        timestamp: ms_to_time(r.get(3)?),
        received_at: ms_to_time(r.get(4)?),
        level: r.get(5)?,
        release: r.get(6)?,
        environment: r.get(7)?,
        title: r.get(8)?,
    })
}

const EVENT_COLS: &str =
    "event_id, project_id, issue_id, timestamp, received_at, level, release, environment, title";

pub(crate) fn issue_events(
    c: &Connection,
    issue_id: i64,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<EventSummaryRow>> {
    let limit = limit.clamp(1, 500);
    let before: i64 = match cursor {
        Some(s) => s
            .parse()
            .map_err(|_| StorageError::InvalidInput(format!("invalid cursor `{s}`")))?,
        None => i64::MAX,
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {EVENT_COLS}, id FROM events WHERE issue_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
    ))?;
    let mut rows: Vec<(EventSummaryRow, i64)> = stmt
        .query_map(params![issue_id, before, (limit + 1) as i64], |r| {
            Ok((row_event_summary(r)?, r.get(9)?))
        })?
        .collect::<Result<_, _>>()?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, id)| id.to_string())
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(|(e, _)| e).collect(),
        next_cursor,
    })
}

/// Loads dictionary `id` through the cache.
pub(crate) fn load_dict(c: &Connection, cache: &DictCache, id: i64) -> Result<Option<Arc<Dict>>> {
    if id == 0 {
        return Ok(None);
    }
    if let Some(d) = cache.get(id) {
        return Ok(Some(d));
    }
    let bytes: Vec<u8> = c
        .query_row("SELECT dict FROM zstd_dicts WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| StorageError::Backend(format!("compression dictionary {id} is missing")))?;
    let d = Arc::new(Dict::new(id, &bytes));
    cache.insert(d.clone());
    Ok(Some(d))
}

pub(crate) fn get_event(
    c: &Connection,
    cache: &DictCache,
    project_id: i64,
    event_id: &[u8; 16],
) -> Result<Option<StoredEvent>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {EVENT_COLS}, dict_id, payload FROM events WHERE event_id = ?1 AND project_id = ?2"
        ))?
        .query_row(params![&event_id[..], project_id], |r| {
            Ok((
                row_event_summary(r)?,
                r.get::<_, i64>(9)?,
                r.get::<_, Vec<u8>>(10)?,
            ))
        })
        .optional()?;
    let Some((summary, dict_id, payload)) = row else {
        return Ok(None);
    };
    let dict = load_dict(c, cache, dict_id)?;
    let json = codec::decompress(&payload, dict.as_deref())?;
    let event = serde_json::from_slice(&json)
        .map_err(|e| StorageError::Backend(format!("stored event is not JSON: {e}")))?;
    Ok(Some(StoredEvent { summary, event }))
}

pub(crate) fn sample_payloads(
    c: &Connection,
    cache: &DictCache,
    project_id: i64,
    limit: usize,
) -> Result<Vec<Vec<u8>>> {
    let mut stmt = c.prepare_cached(
        "SELECT dict_id, payload FROM events WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows: Vec<(i64, Vec<u8>)> = stmt
        .query_map(params![project_id, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (dict_id, payload) in rows {
        let dict = load_dict(c, cache, dict_id)?;
        out.push(codec::decompress(&payload, dict.as_deref())?);
    }
    Ok(out)
}

pub(crate) fn issue_feedback(c: &Connection, issue_id: i64) -> Result<Vec<Feedback>> {
    let mut stmt = c.prepare_cached(
        "SELECT f.event_id, f.name, f.email, f.comments, f.received_at
         FROM user_feedback f JOIN events e ON e.event_id = f.event_id AND e.project_id = f.project_id
         WHERE e.issue_id = ?1 ORDER BY f.id DESC",
    )?;
    let rows = stmt.query_map([issue_id], |r| {
        let id: Option<Vec<u8>> = r.get(0)?;
        Ok(Feedback {
            event_id: id.map(|i| event_id_hex(&i)),
            name: r.get(1)?,
            email: r.get(2)?,
            comments: r.get(3)?,
            received_at: ms_to_time(r.get(4)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn row_attachment(r: &Row<'_>) -> rusqlite::Result<AttachmentMeta> {
    let id: Vec<u8> = r.get(1)?;
    Ok(AttachmentMeta {
        id: r.get(0)?,
        event_id: event_id_hex(&id),
        filename: r.get(2)?,
        content_type: r.get(3)?,
        attachment_type: r.get(4)?,
        size: r.get(5)?,
    })
}

pub(crate) fn event_attachments(
    c: &Connection,
    project_id: i64,
    event_id: &[u8; 16],
) -> Result<Vec<AttachmentMeta>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, event_id, filename, content_type, attachment_type, size FROM attachments
         WHERE project_id = ?1 AND event_id = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![project_id, &event_id[..]], row_attachment)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn attachment(
    c: &Connection,
    id: i64,
) -> Result<Option<(AttachmentMeta, i64, Vec<u8>)>> {
    Ok(c.query_row(
        "SELECT id, event_id, filename, content_type, attachment_type, size, project_id, data
         FROM attachments WHERE id = ?1",
        [id],
        |r| Ok((row_attachment(r)?, r.get(6)?, r.get(7)?)),
    )
    .optional()?)
}

fn deploys_of(c: &Connection, release_id: i64) -> Result<Vec<Deploy>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, environment, name, url, date_started, date_finished FROM deploys
         WHERE release_id = ?1 ORDER BY date_finished DESC, id DESC",
    )?;
    let rows = stmt.query_map([release_id], |r| {
        Ok(Deploy {
            id: r.get(0)?,
            environment: r.get(1)?,
            name: r.get(2)?,
            url: r.get(3)?,
            date_started: r.get::<_, Option<i64>>(4)?.map(ms_to_time),
            date_finished: ms_to_time(r.get(5)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn sessions_of(c: &Connection, project_id: i64, version: &str) -> Result<SessionTotals> {
    let (total, errored, crashed, abnormal): (i64, i64, i64, i64) = c
        .prepare_cached(
            "SELECT COALESCE(SUM(total),0), COALESCE(SUM(errored),0), COALESCE(SUM(crashed),0),
                    COALESCE(SUM(abnormal),0)
             FROM release_sessions WHERE project_id = ?1 AND release = ?2",
        )?
        .query_row(params![project_id, version], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    let crash_free_rate = (total > 0).then(|| 1.0 - (crashed as f64 / total as f64).min(1.0));
    Ok(SessionTotals {
        total,
        errored,
        crashed,
        abnormal,
        crash_free_rate,
    })
}

const RELEASE_COLS: &str = "id, project_id, version, created_at, first_event, last_event,
    date_released, event_count, new_issues, ref, url";

fn release_from_row(c: &Connection, r: ReleaseTuple) -> Result<Release> {
    let (
        id,
        project_id,
        version,
        created_at,
        first,
        last,
        released,
        events,
        new_issues,
        git_ref,
        url,
    ) = r;
    let commit_count: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM release_commits WHERE release_id = ?1")?
        .query_row([id], |r| r.get(0))?;
    Ok(Release {
        id,
        project_id,
        sessions: sessions_of(c, project_id, &version)?,
        deploys: deploys_of(c, id)?,
        version,
        created_at: ms_to_time(created_at),
        first_seen: first.map(ms_to_time),
        last_seen: last.map(ms_to_time),
        date_released: released.map(ms_to_time),
        event_count: events,
        new_issues,
        commit_count,
        git_ref,
        url,
    })
}

type ReleaseTuple = (
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

fn release_tuple(r: &Row<'_>) -> rusqlite::Result<ReleaseTuple> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

pub(crate) fn list_releases(c: &Connection, project_id: i64) -> Result<Vec<Release>> {
    let tuples: Vec<ReleaseTuple> = c
        .prepare_cached(&format!(
            "SELECT {RELEASE_COLS} FROM releases WHERE project_id = ?1 ORDER BY id DESC LIMIT 200"
        ))?
        .query_map([project_id], release_tuple)?
        .collect::<Result<_, _>>()?;
    tuples.into_iter().map(|t| release_from_row(c, t)).collect()
}

pub(crate) fn get_release(
    c: &Connection,
    project_id: i64,
    version: &str,
) -> Result<Option<Release>> {
    let t = c
        .prepare_cached(&format!(
            "SELECT {RELEASE_COLS} FROM releases WHERE project_id = ?1 AND version = ?2"
        ))?
        .query_row(params![project_id, version], release_tuple)
        .optional()?;
    t.map(|t| release_from_row(c, t)).transpose()
}

pub(crate) fn upsert_release(
    c: &Connection,
    project_id: i64,
    version: &str,
    u: &ReleaseUpdate,
    now: DateTime<Utc>,
) -> Result<(Release, bool)> {
    let created = c.execute(
        "INSERT OR IGNORE INTO releases (project_id, version, created_at) VALUES (?1, ?2, ?3)",
        params![project_id, version, now.timestamp_millis()],
    )? > 0;
    c.execute(
        "UPDATE releases SET ref = COALESCE(?3, ref), url = COALESCE(?4, url),
           date_released = COALESCE(?5, date_released)
         WHERE project_id = ?1 AND version = ?2",
        params![
            project_id,
            version,
            u.git_ref,
            u.url,
            u.date_released.map(|d| d.timestamp_millis())
        ],
    )?;
    let rid: i64 = c.query_row(
        "SELECT id FROM releases WHERE project_id = ?1 AND version = ?2",
        params![project_id, version],
        |r| r.get(0),
    )?;
    if let Some(commits) = &u.commits {
        c.execute("DELETE FROM release_commits WHERE release_id = ?1", [rid])?;
        let mut s = c.prepare_cached(
            "INSERT OR REPLACE INTO release_commits (release_id, commit_id, repository, message,
               author_name, author_email, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for cm in commits {
            s.execute(params![
                rid,
                cm.id,
                cm.repository,
                cm.message,
                cm.author_name,
                cm.author_email,
                cm.timestamp
            ])?;
        }
    }
    let r = get_release(c, project_id, version)?
        .ok_or_else(|| StorageError::NotFound(format!("release {version}")))?;
    Ok((r, created))
}

pub(crate) fn add_deploy(
    c: &Connection,
    project_id: i64,
    version: &str,
    d: &NewDeploy,
    now: DateTime<Utc>,
) -> Result<Deploy> {
    let (rel, _) = upsert_release(c, project_id, version, &ReleaseUpdate::default(), now)?;
    c.execute(
        "INSERT INTO deploys (release_id, environment, name, url, date_started, date_finished)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            rel.id,
            d.environment,
            d.name,
            d.url,
            d.date_started.map(|t| t.timestamp_millis()),
            d.date_finished.timestamp_millis()
        ],
    )?;
    let id = c.last_insert_rowid();
    deploys_of(c, rel.id)?
        .into_iter()
        .find(|x| x.id == id)
        .ok_or_else(|| StorageError::Backend("deploy vanished".into()))
}

pub(crate) fn project_outcomes(
    c: &Connection,
    project_id: i64,
    since_ms: i64,
) -> Result<Vec<OutcomeCount>> {
    let mut stmt = c.prepare_cached(
        "SELECT hour, outcome, category, quantity FROM project_outcomes
         WHERE project_id = ?1 AND hour >= ?2 ORDER BY hour, outcome, category",
    )?;
    let rows = stmt.query_map(params![project_id, since_ms.div_euclid(3_600_000)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (hour, outcome, category, quantity) = row?;
        let Some(outcome) = Outcome::ALL.iter().copied().find(|o| o.as_str() == outcome) else {
            continue;
        };
        out.push(OutcomeCount {
            bucket: ms_to_time(hour * 3_600_000),
            outcome,
            category,
            quantity,
        });
    }
    Ok(out)
}

pub(crate) fn list_transactions(
    c: &Connection,
    project_id: i64,
    limit: usize,
) -> Result<Vec<TransactionRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT event_id, trace_id, name, op, status, start_ts, duration_ms, release, environment, span_count
         FROM transactions WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![project_id, limit as i64], |r| {
        let id: Vec<u8> = r.get(0)?;
        Ok(TransactionRow {
            event_id: event_id_hex(&id),
            trace_id: r.get(1)?,
            transaction: r.get(2)?,
            op: r.get(3)?,
            status: r.get(4)?,
            start: ms_to_time(r.get(5)?),
            duration_ms: r.get(6)?,
            release: r.get(7)?,
            environment: r.get(8)?,
            span_count: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn list_check_ins(
    c: &Connection,
    project_id: i64,
    limit: usize,
) -> Result<Vec<CheckInRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT check_in_id, monitor_slug, status, duration, environment, release, monitor_config, received_at
         FROM check_ins WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![project_id, limit as i64], |r| {
        let cfg: Option<String> = r.get(6)?;
        Ok(CheckInRow {
            check_in_id: r.get(0)?,
            monitor_slug: r.get(1)?,
            status: r.get(2)?,
            duration: r.get(3)?,
            environment: r.get(4)?,
            release: r.get(5)?,
            monitor_config: cfg.and_then(|s| serde_json::from_str(&s).ok()),
            received_at: ms_to_time(r.get(7)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn list_logs(c: &Connection, project_id: i64, limit: usize) -> Result<Vec<LogRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT timestamp, level, body, trace_id, attributes FROM logs
         WHERE project_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![project_id, limit as i64], |r| {
        let attrs: Option<String> = r.get(4)?;
        Ok(LogRow {
            timestamp: ms_to_time(r.get(0)?),
            level: r.get(1)?,
            body: r.get(2)?,
            trace_id: r.get(3)?,
            attributes: attrs.and_then(|s| serde_json::from_str(&s).ok()),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn project_settings(c: &Connection, project_id: i64) -> Result<ProjectSettings> {
    let text: Option<String> = c
        .prepare_cached("SELECT settings FROM project_settings WHERE project_id = ?1")?
        .query_row([project_id], |r| r.get(0))
        .optional()?;
    match text {
        None => Ok(ProjectSettings::default()),
        Some(t) => serde_json::from_str(&t).map_err(|e| {
            StorageError::Backend(format!(
                "stored settings of project {project_id} are invalid: {e}"
            ))
        }),
    }
}

/// Deletes rows past retention, oldest first, at most `budget` events,
/// `budget` issues and `budget` other rows per call.
pub(crate) fn enforce_retention(
    c: &Connection,
    project_id: i64,
    older_than_ms: i64,
    max_events: u64,
    budget: usize,
) -> Result<RetentionReport> {
    let budget = i64::try_from(budget.max(1)).unwrap_or(i64::MAX);
    let mut report = RetentionReport::default();
    // By age.
    report.events += c.execute(
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ?1 AND received_at < ?2
           ORDER BY received_at LIMIT ?3)",
        params![project_id, older_than_ms, budget],
    )? as u64;
    // By count: the oldest beyond max_events, within what is left of the
    // budget. A max_events beyond i64 is no limit (not -1).
    let total: i64 = c.query_row(
        "SELECT COUNT(*) FROM events WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?;
    let max_events = i64::try_from(max_events).unwrap_or(i64::MAX);
    let excess = (total - max_events).clamp(0, budget - report.events as i64);
    if excess > 0 {
        report.events += c.execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE project_id = ?1
               ORDER BY received_at, id LIMIT ?2)",
            params![project_id, excess],
        )? as u64;
    }
    // Issues with no events left and nothing recent.
    report.issues += c.execute(
        "DELETE FROM issues WHERE id IN (SELECT i.id FROM issues i WHERE i.project_id = ?1
           AND i.last_seen < ?2 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.issue_id = i.id) LIMIT ?3)",
        params![project_id, older_than_ms, budget],
    )? as u64;
    // The other tables share one budget.
    for (table, col) in [
        ("transactions", "received_at"),
        ("check_ins", "received_at"),
        ("logs", "received_at"),
        ("attachments", "received_at"),
        ("user_feedback", "received_at"),
    ] {
        let left = budget - report.other as i64;
        if left <= 0 {
            break;
        }
        report.other += c.execute(
            &format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE project_id = ?1 AND {col} < ?2
                   ORDER BY {col} LIMIT ?3)"
            ),
            params![project_id, older_than_ms, left],
        )? as u64;
    }
    Ok(report)
}
