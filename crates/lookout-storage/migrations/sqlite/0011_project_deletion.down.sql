ALTER TABLE projects DROP COLUMN deleting;
