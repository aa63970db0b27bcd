//! What the project overview, releases and issue-list pages read: each page
//! asks for its numbers in one call, so a backend answers them with a few
//! indexed queries on one connection.

use lookout_model::errors::{Issue, SessionTotals};
use serde::Serialize;

/// Hours in the overview's longest window (7 days).
pub const OVERVIEW_HOURS: i64 = 7 * 24;

/// A project's overview at one moment (`now`, passed by the caller so the
/// numbers are reproducible).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectOverview {
    /// The hour (unix seconds / 3600) that contains `now`.
    pub now_hour: i64,
    /// Accepted error events per hour (ingest outcomes, by hour received),
    /// for the [`OVERVIEW_HOURS`] hours ending with `now_hour`, oldest
    /// first; hours without events are left out.
    pub hourly_events: Vec<(i64, i64)>,
    /// Issues first seen in the 24 hours before `now`.
    pub new_issues_24h: i64,
    /// Issues whose status is unresolved.
    pub unresolved: i64,
    /// Unresolved issues that came back after being resolved.
    pub regressions: i64,
    /// Unresolved issues with the most events in the last 24 hourly buckets
    /// (the current hour and the 23 before it), most first.
    pub top_issues: Vec<TopIssue>,
    /// The newest release (by creation) with its session totals.
    pub latest_release: Option<ReleaseHealth>,
}

/// An issue with its event count over the last 24 hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopIssue {
    /// The issue.
    pub issue: Issue,
    /// Its events in the last 24 hourly buckets.
    pub events_24h: i64,
}

/// A release's health: its session totals (crash-free rate included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseHealth {
    /// The version string.
    pub version: String,
    /// Session counts; `crash_free_rate` is `None` without sessions.
    pub sessions: SessionTotals,
}

/// The values the issue list offers in its filter selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilterValues {
    /// Environments seen in the project's issues, sorted.
    pub environments: Vec<String>,
    /// The project's releases, newest first (at most 100).
    pub releases: Vec<String>,
}
