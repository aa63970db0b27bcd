-- Durable record of things that happened to the install itself (backups,
-- integrity checks, recoveries), for the operator and for the alerting
-- engine to consume later.
CREATE TABLE system_events (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    severity TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    details  TEXT
);
CREATE INDEX system_events_by_at ON system_events(at);
