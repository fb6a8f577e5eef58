-- Site admins watch the directory outbox and retry what failed.
INSERT INTO permissions (name, description) VALUES ('jobs.manage', 'See the directory outbox and retry jobs');
INSERT INTO role_permissions (role, permission) VALUES ('admin', 'jobs.manage');
