-- Helpdesk and site-admin consoles: one permission per action, so a site can give its
-- helpdesk some of them and not others.
INSERT INTO permissions (name, description) VALUES
    ('accounts.view', 'Search accounts and see an account''s details, sessions, LDAP state and history'),
    ('accounts.edit', 'Change a person''s name and email address'),
    ('accounts.reset', 'Send a person a password-reset link'),
    ('accounts.lock', 'Lock and unlock accounts'),
    ('accounts.keys', 'Remove a person''s SSH keys'),
    ('accounts.resync', 'Rewrite an account''s LDAP entry from the portal'),
    ('accounts.delete', 'Delete accounts'),
    ('staff.manage', 'Grant and revoke the helpdesk and site-administrator roles');
INSERT INTO role_permissions (role, permission) VALUES
    ('admin', 'accounts.view'), ('admin', 'accounts.edit'), ('admin', 'accounts.reset'),
    ('admin', 'accounts.lock'), ('admin', 'accounts.keys'), ('admin', 'accounts.resync'),
    ('admin', 'accounts.delete'), ('admin', 'staff.manage'),
    ('helpdesk', 'accounts.view'), ('helpdesk', 'accounts.edit'), ('helpdesk', 'accounts.reset'),
    ('helpdesk', 'accounts.lock'), ('helpdesk', 'accounts.keys'), ('helpdesk', 'accounts.resync');

-- Locking and deletion. A deleted account stays as a row without personal data, so its
-- username and uidNumber are never handed out again.
ALTER TABLE people ADD COLUMN locked_at BIGINT;
ALTER TABLE people ADD COLUMN lock_reason TEXT;
-- Set by the lifecycle job when the person's last current membership is gone; the account
-- is locked once this is older than the grace period.
ALTER TABLE people ADD COLUMN memberless_since BIGINT;

-- The end date a reminder was sent for, and the end date whose ending was carried out, so
-- each is done once per end date and a new end date re-arms both.
ALTER TABLE memberships ADD COLUMN reminded_for TEXT;
ALTER TABLE memberships ADD COLUMN ended_for TEXT;
CREATE INDEX memberships_ends_on ON memberships (ends_on);

-- An account's page shows what was done to it and what it did.
CREATE INDEX audit_events_actor ON audit_events (actor_id, occurred_at_ms);
