DROP TABLE write_probe;
DROP TABLE api_tokens;
DROP TABLE users;
DROP INDEX project_keys_project;
DROP TABLE project_keys;
DROP TABLE projects;
