DROP TABLE invitation_projects;
DROP TABLE invitations;
DROP INDEX project_members_by_user;
