-- Organisations (projects, labs): each is a POSIX group in LDAP.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    short_name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    gid_number BIGINT NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A person's role in an organisation; ends_on is an ISO date (YYYY-MM-DD) or NULL.
CREATE TABLE memberships (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    ends_on TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organisation_id, person_id)
);
CREATE INDEX memberships_person ON memberships (person_id);

-- A person may be a directory entry that existed before the portal.
ALTER TABLE people ADD COLUMN ldap_dn TEXT;
CREATE INDEX people_surname ON people (surname);

ALTER TABLE invitations ADD COLUMN ends_on TEXT;
ALTER TABLE invitations ADD COLUMN sent_at BIGINT;
ALTER TABLE invitations ADD COLUMN revoked_at BIGINT;
ALTER TABLE invitations ADD COLUMN revoked_by TEXT REFERENCES people(id);
CREATE INDEX invitations_organisation ON invitations (organisation_id, created_at);

-- Monotonic counters for uidNumber/gidNumber: a number handed out is never handed out again.
CREATE TABLE id_counters (
    kind TEXT PRIMARY KEY,
    next_value BIGINT NOT NULL
);

-- The outbox: directory changes recorded with the database change, applied by the worker.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, next_attempt_at);
CREATE INDEX jobs_subject ON jobs (kind, subject_id, status);

-- Roles and permissions, many-to-many. Site-wide roles are granted in role_grants,
-- organisation roles by memberships.
CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    label TEXT NOT NULL
);
CREATE TABLE permissions (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
CREATE TABLE role_permissions (
    role TEXT NOT NULL REFERENCES roles(name),
    permission TEXT NOT NULL REFERENCES permissions(name),
    PRIMARY KEY (role, permission)
);

INSERT INTO roles (name, scope, label) VALUES
    ('admin', 'site', 'Site administrator'),
    ('helpdesk', 'site', 'Helpdesk'),
    ('owner', 'organisation', 'Owner'),
    ('manager', 'organisation', 'Manager'),
    ('member', 'organisation', 'Member');

INSERT INTO permissions (name, description) VALUES
    ('org.create', 'Create organisations'),
    ('org.view', 'See an organisation and its members'),
    ('org.edit', 'Change an organisation''s description'),
    ('org.history', 'Read an organisation''s audit history'),
    ('directory.search', 'Search the directory for people'),
    ('members.manage', 'Add, remove and change members'),
    ('members.grant_manager', 'Make members managers or owners'),
    ('invitations.manage', 'Send, resend and revoke invitations');

INSERT INTO role_permissions (role, permission) VALUES
    ('admin', 'org.create'), ('admin', 'org.view'), ('admin', 'org.edit'),
    ('admin', 'org.history'), ('admin', 'directory.search'), ('admin', 'members.manage'),
    ('admin', 'members.grant_manager'), ('admin', 'invitations.manage'),
    ('helpdesk', 'org.view'), ('helpdesk', 'org.history'), ('helpdesk', 'directory.search'),
    ('owner', 'org.view'), ('owner', 'org.edit'), ('owner', 'org.history'),
    ('owner', 'directory.search'), ('owner', 'members.manage'),
    ('owner', 'members.grant_manager'), ('owner', 'invitations.manage'),
    ('manager', 'org.view'), ('manager', 'org.edit'), ('manager', 'directory.search'),
    ('manager', 'members.manage'), ('manager', 'invitations.manage'),
    ('member', 'org.view');

-- History pages list events newest first; seconds are too coarse to order them.
ALTER TABLE audit_events ADD COLUMN occurred_at_ms BIGINT NOT NULL DEFAULT 0;
UPDATE audit_events SET occurred_at_ms = occurred_at * 1000;
CREATE INDEX audit_events_organisation_ms ON audit_events (organisation_id, occurred_at_ms);
