-- The releases page lists each release's new issues, and the issue list
-- filters by `first_release`; without this index both scan every issue of
-- the project. `first_release` is set once when an issue is created, so the
-- index costs ingest nothing on the per-event issue update.
CREATE INDEX issues_by_first_release ON issues(project_id, first_release);
