-- Error tracking: issues, events, tags, users, releases, sessions,
-- transactions, attachments, check-ins, logs, feedback and outcome stats.

CREATE TABLE project_settings (
    project_id         INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    settings           TEXT    NOT NULL  -- JSON, see lookout_model::ProjectSettings
);

-- zstd dictionaries trained per project from its own events.
CREATE TABLE zstd_dicts (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    dict        BLOB    NOT NULL
);

CREATE TABLE issues (
    id                 INTEGER PRIMARY KEY,
    project_id         INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    grouping_hash      TEXT    NOT NULL,
    grouping_version   TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    culprit            TEXT    NOT NULL,
    level              TEXT    NOT NULL,
    exception_type     TEXT,
    platform           TEXT,
    status             TEXT    NOT NULL DEFAULT 'unresolved',
    status_release     TEXT,
    ignore_until_count INTEGER,
    ignore_until_time  INTEGER,
    is_regression      INTEGER NOT NULL DEFAULT 0,
    regression_count   INTEGER NOT NULL DEFAULT 0,
    first_seen         INTEGER NOT NULL,
    last_seen          INTEGER NOT NULL,
    event_count        INTEGER NOT NULL DEFAULT 0,
    user_count         INTEGER NOT NULL DEFAULT 0,
    first_release      TEXT,
    last_release       TEXT,
    UNIQUE (project_id, grouping_hash)
);
CREATE INDEX issues_by_last_seen  ON issues(project_id, last_seen DESC, id DESC);
CREATE INDEX issues_by_first_seen ON issues(project_id, first_seen DESC, id DESC);
CREATE INDEX issues_by_count      ON issues(project_id, event_count DESC, id DESC);

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL,
    issue_id     INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    event_id     BLOB    NOT NULL,          -- 16 bytes
    timestamp    INTEGER NOT NULL,          -- ms, as sent
    received_at  INTEGER NOT NULL,          -- ms
    level        TEXT    NOT NULL,
    release      TEXT,
    environment  TEXT,
    title        TEXT    NOT NULL,
    user_key     TEXT,
    trace_id     TEXT,
    dict_id      INTEGER NOT NULL DEFAULT 0, -- 0 = no dictionary
    payload      BLOB    NOT NULL           -- zstd-compressed event JSON
);
CREATE UNIQUE INDEX events_by_event_id ON events(event_id, project_id);
CREATE INDEX events_by_issue ON events(issue_id, id);
CREATE INDEX events_by_received ON events(project_id, received_at);

CREATE TABLE issue_tags (
    issue_id  INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    key       TEXT    NOT NULL,
    value     TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key, value)
) WITHOUT ROWID;
CREATE INDEX issue_tags_by_value ON issue_tags(key, value);

CREATE TABLE issue_users (
    issue_id  INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    user_key  TEXT    NOT NULL,
    PRIMARY KEY (issue_id, user_key)
) WITHOUT ROWID;

CREATE TABLE issue_hourly (
    issue_id  INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    hour      INTEGER NOT NULL,  -- unix seconds / 3600
    count     INTEGER NOT NULL,
    PRIMARY KEY (issue_id, hour)
) WITHOUT ROWID;

-- Outcomes per project and hour: accepted, filtered, rate_limited, invalid,
-- too_large, overloaded, client_discard:<reason>.
CREATE TABLE project_outcomes (
    project_id  INTEGER NOT NULL,
    hour        INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    quantity    INTEGER NOT NULL,
    PRIMARY KEY (project_id, hour, outcome, category)
) WITHOUT ROWID;

CREATE TABLE releases (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    first_event    INTEGER,
    last_event     INTEGER,
    date_released  INTEGER,
    ref            TEXT,
    url            TEXT,
    event_count    INTEGER NOT NULL DEFAULT 0,
    new_issues     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, version)
);

CREATE TABLE release_commits (
    release_id   INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    commit_id    TEXT    NOT NULL,
    repository   TEXT,
    message      TEXT,
    author_name  TEXT,
    author_email TEXT,
    timestamp    TEXT,
    PRIMARY KEY (release_id, commit_id)
) WITHOUT ROWID;

CREATE TABLE deploys (
    id            INTEGER PRIMARY KEY,
    release_id    INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    environment   TEXT    NOT NULL,
    name          TEXT,
    url           TEXT,
    date_started  INTEGER,
    date_finished INTEGER NOT NULL
);
CREATE INDEX deploys_by_release ON deploys(release_id);

-- Release health, per release/environment and hour.
CREATE TABLE release_sessions (
    project_id   INTEGER NOT NULL,
    release      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    hour         INTEGER NOT NULL,
    total        INTEGER NOT NULL DEFAULT 0,
    errored      INTEGER NOT NULL DEFAULT 0,
    crashed      INTEGER NOT NULL DEFAULT 0,
    abnormal     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, release, environment, hour)
) WITHOUT ROWID;

CREATE TABLE transactions (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id     BLOB    NOT NULL,
    trace_id     TEXT,
    name         TEXT    NOT NULL,
    op           TEXT,
    status       TEXT,
    start_ts     INTEGER NOT NULL,   -- ms
    duration_ms  REAL    NOT NULL,
    release      TEXT,
    environment  TEXT,
    span_count   INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    payload      BLOB    NOT NULL    -- zstd JSON
);
CREATE UNIQUE INDEX transactions_by_event_id ON transactions(event_id, project_id);
CREATE INDEX transactions_by_name ON transactions(project_id, name, start_ts);

CREATE TABLE spans (
    transaction_id  INTEGER NOT NULL REFERENCES transactions(id) ON DELETE CASCADE,
    span_id         TEXT    NOT NULL,
    parent_span_id  TEXT,
    op              TEXT,
    description     TEXT,
    status          TEXT,
    start_ts        INTEGER NOT NULL,
    duration_ms     REAL    NOT NULL,
    PRIMARY KEY (transaction_id, span_id)
) WITHOUT ROWID;

CREATE TABLE attachments (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id        BLOB    NOT NULL,
    filename        TEXT    NOT NULL,
    content_type    TEXT,
    attachment_type TEXT,
    size            INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    data            BLOB    NOT NULL
);
CREATE INDEX attachments_by_event ON attachments(project_id, event_id);

CREATE TABLE check_ins (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    check_in_id     TEXT    NOT NULL,
    monitor_slug    TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    duration        REAL,
    environment     TEXT,
    release         TEXT,
    monitor_config  TEXT,       -- JSON
    received_at     INTEGER NOT NULL
);
CREATE INDEX check_ins_by_monitor ON check_ins(project_id, monitor_slug, received_at);

CREATE TABLE logs (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    timestamp    INTEGER NOT NULL,   -- ms
    level        TEXT,
    body         TEXT    NOT NULL,
    trace_id     TEXT,
    attributes   TEXT,               -- JSON
    received_at  INTEGER NOT NULL
);
CREATE INDEX logs_by_time ON logs(project_id, timestamp);

CREATE TABLE user_feedback (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    event_id    BLOB,               -- the event it is about, if any
    name        TEXT,
    email       TEXT,
    comments    TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX user_feedback_by_event ON user_feedback(project_id, event_id);
