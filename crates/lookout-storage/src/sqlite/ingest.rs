//! The ingest write path: many envelopes ([`IngestBatch`]es) written in one
//! writer job, each in its own SAVEPOINT so one bad envelope cannot take
//! the others down.
//!
//! Per event it does what must be exact at once (duplicate check, issue
//! creation, the issue's life-cycle transition, the event row); counters
//! that only add up (tags, hourly counts, distinct users, release and
//! outcome counts, sessions) are aggregated in memory across the whole job
//! and written once per distinct key at the end.

use crate::{Result, StorageError};
use lookout_model::errors::{
    EventResult, IngestBatch, IssueLifecycle, IssueStatus, NewEvent, ReleaseOrder, Transition,
    event_id_hex,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// Aggregated, additive counters for one job.
#[derive(Debug, Default)]
struct Agg {
    tags: HashMap<(i64, String, String), (i64, i64)>, // (count, last_seen)
    hourly: HashMap<(i64, i64), i64>,
    users: HashMap<(i64, String), ()>,
    releases: HashMap<(i64, String), ReleaseAgg>,
    outcomes: HashMap<(i64, i64, &'static str, String), i64>,
    sessions: HashMap<(i64, String, String, i64), [i64; 4]>,
}

#[derive(Debug, Default)]
struct ReleaseAgg {
    events: i64,
    new_issues: i64,
    first: i64,
    last: i64,
}

impl Agg {
    fn merge(&mut self, o: Agg) {
        for (k, (c, t)) in o.tags {
            let e = self.tags.entry(k).or_insert((0, 0));
            e.0 += c;
            e.1 = e.1.max(t);
        }
        for (k, c) in o.hourly {
            *self.hourly.entry(k).or_default() += c;
        }
        self.users.extend(o.users);
        for (k, r) in o.releases {
            let e = self.releases.entry(k).or_insert(ReleaseAgg {
                first: i64::MAX,
                ..Default::default()
            });
            e.events += r.events;
            e.new_issues += r.new_issues;
            e.first = e.first.min(r.first);
            e.last = e.last.max(r.last);
        }
        for (k, q) in o.outcomes {
            *self.outcomes.entry(k).or_default() += q;
        }
        for (k, v) in o.sessions {
            let e = self.sessions.entry(k).or_default();
            for i in 0..4 {
                e[i] += v[i];
            }
        }
    }
}

/// An issue loaded (or created) during this job.
#[derive(Debug, Clone)]
struct IssueWork {
    id: i64,
    lifecycle: IssueLifecycle,
    /// Changes from this job's events, written once at the end of the job.
    pending: Option<IssueTouch>,
}

/// What the latest events of a job say about their issue.
#[derive(Debug, Clone)]
struct IssueTouch {
    first_seen: i64,
    last_seen: i64,
    level: String,
    title: String,
    last_release: Option<String>,
}

type IssueKey = (i64, String);

/// Caches valid for the duration of one job.
#[derive(Debug, Default)]
pub(crate) struct JobCaches {
    issues: HashMap<IssueKey, IssueWork>,
    /// Issues as they were before the current envelope touched them (`None`:
    /// created by it), so a failed envelope's changes can be undone.
    before: HashMap<IssueKey, Option<IssueWork>>,
    /// Release id by (project, version): creation order decides "newer".
    releases: HashMap<(i64, String), i64>,
}

impl JobCaches {
    /// Forgets what the failed envelope did (its rows were rolled back).
    fn undo_envelope(&mut self) {
        for (k, prev) in self.before.drain() {
            match prev {
                Some(w) => {
                    self.issues.insert(k, w);
                }
                None => {
                    self.issues.remove(&k);
                }
            }
        }
        // Release rows it created are gone too; ids are re-read on demand.
        self.releases.clear();
    }
}

/// Writes every issue changed during the job, once each.
fn flush_issues(conn: &Connection, caches: &JobCaches) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE issues SET status = ?2, status_release = ?3, ignore_until_count = ?4,
           ignore_until_time = ?5, is_regression = ?6, regression_count = ?7, event_count = ?8,
           last_seen = MAX(last_seen, ?9), first_seen = MIN(first_seen, ?10), level = ?11,
           title = ?12, last_release = COALESCE(?13, last_release)
         WHERE id = ?1",
    )?;
    for w in caches.issues.values() {
        let Some(t) = &w.pending else { continue };
        let lc = &w.lifecycle;
        stmt.execute(params![
            w.id,
            lc.status.as_str(),
            lc.status_release,
            lc.ignore_until_count,
            lc.ignore_until_time,
            lc.is_regression,
            lc.regression_count,
            lc.event_count,
            t.last_seen,
            t.first_seen,
            t.level,
            t.title,
            t.last_release
        ])?;
    }
    Ok(())
}

fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(3_600_000)
}

/// Writes `batches`; returns one result per batch, in order.
pub(crate) fn write_batches(
    conn: &Connection,
    batches: &[Box<IngestBatch>],
) -> Result<Vec<Result<Vec<EventResult>>>> {
    let mut caches = JobCaches::default();
    let mut agg = Agg::default();
    let mut results = Vec::with_capacity(batches.len());
    for batch in batches {
        conn.execute_batch("SAVEPOINT envelope")?;
        let mut local = Agg::default();
        match write_one(conn, batch, &mut caches, &mut local) {
            Ok(r) => {
                conn.execute_batch("RELEASE envelope")?;
                caches.before.clear();
                agg.merge(local);
                results.push(Ok(r));
            }
            Err(e) => {
                conn.execute_batch("ROLLBACK TO envelope; RELEASE envelope")?;
                // Rows created by the failed envelope are gone: forget them.
                caches.undo_envelope();
                tracing::warn!(error = %e, project_id = batch.project_id, "an envelope could not be stored");
                results.push(Err(e));
            }
        }
    }
    flush_issues(conn, &caches)?;
    flush_agg(conn, agg)?;
    Ok(results)
}

fn write_one(
    conn: &Connection,
    b: &IngestBatch,
    caches: &mut JobCaches,
    agg: &mut Agg,
) -> Result<Vec<EventResult>> {
    let mut out = Vec::with_capacity(b.events.len());
    for ev in &b.events {
        out.push(write_event(conn, b, ev, caches, agg)?);
    }
    for t in &b.transactions {
        let inserted = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO transactions (project_id, event_id, trace_id, name, op, status,
                   start_ts, duration_ms, release, environment, span_count, received_at, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                b.project_id,
                &t.event_id[..],
                t.row.trace_id,
                t.row.transaction,
                t.row.op,
                t.row.status,
                t.row.start.timestamp_millis(),
                t.row.duration_ms,
                t.row.release,
                t.row.environment,
                t.row.span_count,
                b.received_ms,
                t.payload,
            ])?;
        if inserted == 0 {
            continue; // duplicate event_id
        }
        let tid = conn.last_insert_rowid();
        let mut stmt = conn.prepare_cached(
            "INSERT OR IGNORE INTO spans (transaction_id, span_id, parent_span_id, op, description,
               status, start_ts, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for s in &t.spans {
            stmt.execute(params![
                tid,
                s.span_id,
                s.parent_span_id,
                s.op,
                s.description,
                s.status,
                s.start_ms,
                s.duration_ms
            ])?;
        }
    }
    for a in &b.attachments {
        conn.prepare_cached(
            "INSERT INTO attachments (project_id, event_id, filename, content_type, attachment_type,
               size, received_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            b.project_id,
            &a.event_id[..],
            a.filename,
            a.content_type,
            a.attachment_type,
            a.data.len() as i64,
            b.received_ms,
            a.data
        ])?;
    }
    for c in &b.check_ins {
        conn.prepare_cached(
            "INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status, duration,
               environment, release, monitor_config, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            b.project_id,
            c.check_in_id,
            c.monitor_slug,
            c.status,
            c.duration,
            c.environment,
            c.release,
            c.monitor_config.as_ref().map(|v| v.to_string()),
            b.received_ms
        ])?;
    }
    for l in &b.logs {
        conn.prepare_cached(
            "INSERT INTO logs (project_id, timestamp, level, body, trace_id, attributes, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            b.project_id,
            l.timestamp.timestamp_millis(),
            l.level,
            l.body,
            l.trace_id,
            l.attributes.as_ref().map(|v| v.to_string()),
            b.received_ms
        ])?;
    }
    for (eid, f) in &b.feedback {
        conn.prepare_cached(
            "INSERT INTO user_feedback (project_id, event_id, name, email, comments, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            b.project_id,
            eid.as_ref().map(|e| e.to_vec()),
            f.name,
            f.email,
            f.comments,
            b.received_ms
        ])?;
    }
    for s in &b.sessions {
        let e = agg
            .sessions
            .entry((
                b.project_id,
                s.release.clone(),
                s.environment.clone(),
                hour_of(s.started_ms),
            ))
            .or_default();
        e[0] += s.total;
        e[1] += s.errored;
        e[2] += s.crashed;
        e[3] += s.abnormal;
        release_id(conn, caches, b.project_id, &s.release, b.received_ms)?;
    }
    let hour = hour_of(b.received_ms);
    for (outcome, category, q) in &b.outcomes {
        *agg.outcomes
            .entry((b.project_id, hour, outcome.as_str(), category.clone()))
            .or_default() += q;
    }
    Ok(out)
}

/// The id of release `version`, creating its row if new.
fn release_id(
    conn: &Connection,
    caches: &mut JobCaches,
    project_id: i64,
    version: &str,
    now_ms: i64,
) -> Result<i64> {
    let key = (project_id, version.to_string());
    if let Some(id) = caches.releases.get(&key) {
        return Ok(*id);
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO releases (project_id, version, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![project_id, version, now_ms])?;
    let id: i64 = conn
        .prepare_cached("SELECT id FROM releases WHERE project_id = ?1 AND version = ?2")?
        .query_row(params![project_id, version], |r| r.get(0))?;
    caches.releases.insert(key, id);
    Ok(id)
}

fn load_issue(conn: &Connection, project_id: i64, hash: &str) -> Result<Option<IssueWork>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, status, status_release, ignore_until_count, ignore_until_time,
                    is_regression, regression_count, event_count
             FROM issues WHERE project_id = ?1 AND grouping_hash = ?2",
        )?
        .query_row(params![project_id, hash], |r| {
            let status: String = r.get(1)?;
            Ok(IssueWork {
                id: r.get(0)?,
                lifecycle: IssueLifecycle {
                    status: IssueStatus::parse(&status).unwrap_or(IssueStatus::Unresolved),
                    status_release: r.get(2)?,
                    ignore_until_count: r.get(3)?,
                    ignore_until_time: r.get(4)?,
                    is_regression: r.get(5)?,
                    regression_count: r.get(6)?,
                    event_count: r.get(7)?,
                },
                pending: None,
            })
        })
        .optional()?)
}

fn write_event(
    conn: &Connection,
    b: &IngestBatch,
    ev: &NewEvent,
    caches: &mut JobCaches,
    agg: &mut Agg,
) -> Result<EventResult> {
    let hex = event_id_hex(&ev.event_id);
    // A duplicate event_id is stored once and counted once.
    let existing: Option<i64> = conn
        .prepare_cached("SELECT issue_id FROM events WHERE event_id = ?1 AND project_id = ?2")?
        .query_row(params![&ev.event_id[..], b.project_id], |r| r.get(0))
        .optional()?;
    if let Some(issue_id) = existing {
        return Ok(EventResult {
            event_id: hex,
            issue_id,
            duplicate: true,
            new_issue: false,
            transition: Transition::None,
        });
    }
    let at = ev.timestamp_ms;
    let key = (b.project_id, ev.grouping_hash.clone());
    let mut new_issue = false;
    if !caches.issues.contains_key(&key) {
        let work = match load_issue(conn, b.project_id, &ev.grouping_hash)? {
            Some(w) => w,
            None => {
                conn.prepare_cached(
                    "INSERT INTO issues (project_id, grouping_hash, grouping_version, title, culprit,
                       level, exception_type, platform, first_seen, last_seen, first_release, last_release)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?10)",
                )?
                .execute(params![
                    b.project_id,
                    ev.grouping_hash,
                    ev.grouping_version,
                    ev.title,
                    ev.culprit,
                    ev.level,
                    ev.exception_type,
                    ev.platform,
                    at,
                    ev.release
                ])?;
                new_issue = true;
                IssueWork {
                    id: conn.last_insert_rowid(),
                    lifecycle: IssueLifecycle {
                        status: IssueStatus::Unresolved,
                        status_release: None,
                        ignore_until_count: None,
                        ignore_until_time: None,
                        is_regression: false,
                        regression_count: 0,
                        event_count: 0,
                    },
                    pending: None,
                }
            }
        };
        caches.issues.insert(key.clone(), work);
        if new_issue {
            caches.before.entry(key.clone()).or_insert(None);
        }
    }
    if !caches.before.contains_key(&key) {
        let snapshot = caches.issues.get(&key).cloned();
        caches.before.insert(key.clone(), snapshot);
    }
    // Decide how the event's release compares with the resolve release.
    let status_release = caches.issues[&key].lifecycle.status_release.clone();
    let order = match (&ev.release, &status_release) {
        (Some(e), Some(r)) if e != r => {
            let eid = release_id(conn, caches, b.project_id, e, b.received_ms)?;
            let rid = release_id(conn, caches, b.project_id, r, b.received_ms)?;
            if eid > rid {
                ReleaseOrder::Newer
            } else {
                ReleaseOrder::Older
            }
        }
        _ => ReleaseOrder::SameOrUnknown,
    };
    let work = caches
        .issues
        .get_mut(&key)
        .ok_or_else(|| StorageError::Backend("issue vanished from the job cache".into()))?;
    let transition = work.lifecycle.apply_event(at.max(b.received_ms), order);
    let issue_id = work.id;
    let touch = work.pending.get_or_insert_with(|| IssueTouch {
        first_seen: at,
        last_seen: at,
        level: ev.level.clone(),
        title: ev.title.clone(),
        last_release: None,
    });
    touch.first_seen = touch.first_seen.min(at);
    touch.last_seen = touch.last_seen.max(at);
    touch.level.clone_from(&ev.level);
    touch.title.clone_from(&ev.title);
    if ev.release.is_some() {
        touch.last_release.clone_from(&ev.release);
    }
    conn.prepare_cached(
        "INSERT INTO events (project_id, issue_id, event_id, timestamp, received_at, level, release,
           environment, title, user_key, trace_id, dict_id, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        b.project_id,
        issue_id,
        &ev.event_id[..],
        at,
        b.received_ms,
        ev.level,
        ev.release,
        ev.environment,
        ev.title,
        ev.user_key,
        ev.trace_id,
        ev.dict_id,
        ev.payload
    ])?;

    for (k, v) in &ev.tags {
        let e = agg
            .tags
            .entry((issue_id, k.clone(), v.clone()))
            .or_insert((0, 0));
        e.0 += 1;
        e.1 = e.1.max(at);
    }
    *agg.hourly.entry((issue_id, hour_of(at))).or_default() += 1;
    if let Some(u) = &ev.user_key {
        agg.users.insert((issue_id, u.clone()), ());
    }
    if let Some(r) = &ev.release {
        release_id(conn, caches, b.project_id, r, b.received_ms)?;
        let e = agg
            .releases
            .entry((b.project_id, r.clone()))
            .or_insert(ReleaseAgg {
                first: i64::MAX,
                ..Default::default()
            });
        e.events += 1;
        e.new_issues += i64::from(new_issue);
        e.first = e.first.min(at);
        e.last = e.last.max(at);
    }
    Ok(EventResult {
        event_id: hex,
        issue_id,
        duplicate: false,
        new_issue,
        transition,
    })
}

fn flush_agg(conn: &Connection, agg: Agg) -> Result<()> {
    {
        let mut s = conn.prepare_cached(
            "INSERT INTO issue_tags (issue_id, key, value, count, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (issue_id, key, value) DO UPDATE
             SET count = count + excluded.count, last_seen = MAX(last_seen, excluded.last_seen)",
        )?;
        for ((issue, k, v), (c, t)) in &agg.tags {
            s.execute(params![issue, k, v, c, t])?;
        }
    }
    {
        let mut s = conn.prepare_cached(
            "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, ?3)
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((issue, hour), c) in &agg.hourly {
            s.execute(params![issue, hour, c])?;
        }
    }
    {
        let mut new_users: HashMap<i64, i64> = HashMap::new();
        let mut s = conn.prepare_cached(
            "INSERT OR IGNORE INTO issue_users (issue_id, user_key) VALUES (?1, ?2)",
        )?;
        for (issue, user) in agg.users.keys() {
            if s.execute(params![issue, user])? > 0 {
                *new_users.entry(*issue).or_default() += 1;
            }
        }
        let mut u =
            conn.prepare_cached("UPDATE issues SET user_count = user_count + ?2 WHERE id = ?1")?;
        for (issue, n) in new_users {
            u.execute(params![issue, n])?;
        }
    }
    {
        let mut s = conn.prepare_cached(
            "UPDATE releases SET event_count = event_count + ?3, new_issues = new_issues + ?4,
               first_event = MIN(COALESCE(first_event, ?5), ?5),
               last_event = MAX(COALESCE(last_event, ?6), ?6)
             WHERE project_id = ?1 AND version = ?2",
        )?;
        for ((project, version), r) in &agg.releases {
            s.execute(params![
                project,
                version,
                r.events,
                r.new_issues,
                r.first,
                r.last
            ])?;
        }
    }
    {
        let mut s = conn.prepare_cached(
            "INSERT INTO project_outcomes (project_id, hour, outcome, category, quantity)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (project_id, hour, outcome, category) DO UPDATE
             SET quantity = quantity + excluded.quantity",
        )?;
        for ((project, hour, outcome, category), q) in &agg.outcomes {
            s.execute(params![project, hour, outcome, category, q])?;
        }
    }
    {
        let mut s = conn.prepare_cached(
            "INSERT INTO release_sessions (project_id, release, environment, hour, total, errored, crashed, abnormal)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (project_id, release, environment, hour) DO UPDATE
             SET total = total + excluded.total, errored = errored + excluded.errored,
                 crashed = crashed + excluded.crashed, abnormal = abnormal + excluded.abnormal",
        )?;
        for ((project, release, env, hour), v) in &agg.sessions {
            s.execute(params![project, release, env, hour, v[0], v[1], v[2], v[3]])?;
        }
    }
    Ok(())
}

/// Adds outcome counts outside an envelope (rejections counted in memory).
pub(crate) fn add_outcomes(
    conn: &Connection,
    rows: &[(i64, i64, &'static str, String, i64)],
) -> Result<()> {
    let mut agg = Agg::default();
    for (p, h, o, c, q) in rows {
        *agg.outcomes.entry((*p, *h, *o, c.clone())).or_default() += q;
    }
    flush_agg(conn, agg)
}
