-- Web sessions and project membership.
CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,   -- SHA-256 of the cookie secret
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE project_members (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT    NOT NULL,   -- member | viewer
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;
