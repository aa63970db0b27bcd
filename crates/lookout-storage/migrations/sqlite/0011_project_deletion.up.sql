-- A project being deleted: hidden from every list and lookup at once, its
-- keys refused, while its rows are purged in batches; a restart resumes
-- the purge. The row itself goes last.
ALTER TABLE projects ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
