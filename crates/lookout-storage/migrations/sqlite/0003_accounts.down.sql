DROP TABLE project_members;
DROP TABLE sessions;
