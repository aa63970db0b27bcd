-- Alerting (issue #6). Rules, silences and channels are stored as JSON
-- specs that lookout-alert reads; storage only keys, filters and orders
-- them. The outbox holds one row per notification and channel: a
-- notification is here, committed, before anything is sent.
CREATE TABLE alert_rules (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    -- 'api' (UI and API) or 'config' (lookout.toml, replaced at start-up)
    source     TEXT    NOT NULL DEFAULT 'api',
    -- Projects the rule is scoped to, as ',1,2,' ('' = every project), so
    -- access checks and listings filter without parsing JSON.
    projects   TEXT    NOT NULL DEFAULT '',
    spec       TEXT    NOT NULL,
    created_by INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE alert_instances (
    id           INTEGER PRIMARY KEY,
    rule_id      INTEGER NOT NULL,
    fingerprint  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    project_id   INTEGER,
    active_since INTEGER NOT NULL,
    starts_at    INTEGER,
    ends_at      INTEGER,
    acked_by     TEXT,
    acked_at     INTEGER,
    resolved_by  TEXT,
    updated_at   INTEGER NOT NULL,
    body         TEXT    NOT NULL
);
CREATE UNIQUE INDEX alert_instances_identity
    ON alert_instances(rule_id, fingerprint, active_since);
CREATE INDEX alert_instances_live ON alert_instances(state, updated_at);
CREATE INDEX alert_instances_by_project ON alert_instances(project_id, updated_at);

CREATE TABLE alert_silences (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL DEFAULT 'silence',
    matchers   TEXT    NOT NULL,
    project_id INTEGER,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX alert_silences_by_end ON alert_silences(ends_at);

CREATE TABLE alert_channels (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    source     TEXT    NOT NULL DEFAULT 'api',
    config     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    channel         TEXT    NOT NULL,
    -- pending | sending | sent | failed
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT,
    payload         TEXT    NOT NULL
);
CREATE INDEX alert_outbox_due ON alert_outbox(state, next_attempt_at);
CREATE INDEX alert_outbox_by_created ON alert_outbox(created_at);

CREATE TABLE alert_deliveries (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES alert_outbox(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    channel     TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    -- sent | retry | failed | skipped
    outcome     TEXT    NOT NULL,
    error       TEXT,
    duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_deliveries_by_outbox ON alert_deliveries(outbox_id, at);
CREATE INDEX alert_deliveries_by_at ON alert_deliveries(at);

CREATE TABLE alert_breakers (
    channel    TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    failures   INTEGER NOT NULL,
    opened_at  INTEGER,
    updated_at INTEGER NOT NULL
);

-- Where the engine stands in append-only sources (system events), so a
-- restart neither replays nor skips them.
CREATE TABLE alert_cursors (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
