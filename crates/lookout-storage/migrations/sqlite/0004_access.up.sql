-- Access: invitations, and looking memberships up by user.
CREATE INDEX project_members_by_user ON project_members(user_id);

CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,  -- SHA-256 of the link's secret
    email        TEXT    NOT NULL COLLATE NOCASE,
    is_admin     INTEGER NOT NULL DEFAULT 0,
    invited_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE invitation_projects (
    invitation_id  INTEGER NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    project_id     INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role           TEXT    NOT NULL,   -- member | viewer
    PRIMARY KEY (invitation_id, project_id)
) WITHOUT ROWID;
