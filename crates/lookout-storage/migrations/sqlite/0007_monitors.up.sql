-- Uptime, health-check and heartbeat monitors (issue #5).
-- `spec` is the monitor's definition as JSON, owned by lookout-monitor;
-- storage only indexes the columns it queries by.
CREATE TABLE monitors (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    slug            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,   -- http | health | tcp | dns | heartbeat
    spec            TEXT    NOT NULL,   -- JSON
    source          TEXT    NOT NULL,   -- ui | api | config | sentry
    paused          INTEGER NOT NULL DEFAULT 0,
    ping_token      TEXT UNIQUE,        -- heartbeat push URL secret
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- current state, rewritten by every check
    status          TEXT    NOT NULL DEFAULT 'pending',
    status_since    INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    degraded        INTEGER NOT NULL DEFAULT 0,
    successes       INTEGER NOT NULL DEFAULT 0,
    last_check_at   INTEGER,
    last_latency_ms REAL,
    last_message    TEXT,
    last_details    TEXT,               -- JSON
    last_ping_at    INTEGER,
    last_start_at   INTEGER,
    last_output     TEXT,
    UNIQUE (project_id, slug)
);

-- Raw check results, kept for [monitoring] raw_retention_hours, then
-- rolled into monitor_hourly.
CREATE TABLE monitor_results (
    monitor_id  INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,   -- ms
    status      TEXT    NOT NULL,   -- up | degraded | down
    latency_ms  REAL,
    message     TEXT
);
CREATE INDEX monitor_results_by_monitor ON monitor_results(monitor_id, at);
CREATE INDEX monitor_results_by_at ON monitor_results(at);

CREATE TABLE monitor_hourly (
    monitor_id  INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    hour        INTEGER NOT NULL,   -- unix seconds / 3600
    count       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    degraded    INTEGER NOT NULL,
    p50         REAL,
    p95         REAL,
    p99         REAL,
    PRIMARY KEY (monitor_id, hour)
) WITHOUT ROWID;

CREATE TABLE monitor_incidents (
    id          INTEGER PRIMARY KEY,
    monitor_id  INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    status      TEXT    NOT NULL,   -- down | degraded
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    cause       TEXT    NOT NULL
);
CREATE INDEX monitor_incidents_by_monitor ON monitor_incidents(monitor_id, started_at);

-- Every state change, durably, for the alert engine (issue #6) to consume
-- by id. No foreign key: events outlive their monitor.
CREATE TABLE monitor_events (
    id            INTEGER PRIMARY KEY,
    monitor_id    INTEGER NOT NULL,
    project_id    INTEGER NOT NULL,
    monitor_name  TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    from_status   TEXT    NOT NULL,
    to_status     TEXT    NOT NULL,
    cause         TEXT    NOT NULL,
    incident_id   INTEGER
);
CREATE INDEX monitor_events_by_at ON monitor_events(at);

CREATE TABLE status_pages (
    id           INTEGER PRIMARY KEY,
    slug         TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    notice       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE status_page_monitors (
    page_id       INTEGER NOT NULL REFERENCES status_pages(id) ON DELETE CASCADE,
    monitor_id    INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    display_name  TEXT    NOT NULL,
    position      INTEGER NOT NULL,
    PRIMARY KEY (page_id, monitor_id)
) WITHOUT ROWID;

-- Named positions of background readers (the check-in feed).
CREATE TABLE monitor_cursors (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;
