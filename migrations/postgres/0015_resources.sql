-- Resources owned by organisations (clusters, storage, devices, services). Who may use one
-- is derived from membership, role and the resource's own settings, never stored per
-- person except on a restricted resource's access list; LDAP gets one posixGroup each.
INSERT INTO permissions (name, description) VALUES
    ('resources.manage', 'Create and edit the organisation''s devices and services'),
    ('resources.use', 'Use the organisation''s open resources'),
    ('resources.read', 'See resources and check who may use them');
INSERT INTO role_permissions (role, permission) VALUES
    ('admin', 'resources.manage'), ('admin', 'resources.read'),
    ('helpdesk', 'resources.read'),
    ('owner', 'resources.manage'), ('owner', 'resources.use'), ('owner', 'resources.read'),
    ('manager', 'resources.manage'), ('manager', 'resources.use'), ('manager', 'resources.read'),
    ('member', 'resources.use'), ('member', 'resources.read');

CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    short_name TEXT NOT NULL,
    -- The posixGroup's cn, <org short>-<resource short>, claimed in posix_names.
    group_name TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    ends_on TEXT,
    -- active or retired.
    status TEXT NOT NULL,
    -- 1: only the access list (and the assigned member) may use it.
    restricted BIGINT NOT NULL DEFAULT 0,
    assigned_to TEXT REFERENCES people(id),
    gid_number BIGINT NOT NULL UNIQUE,
    version BIGINT NOT NULL DEFAULT 1,
    -- The end date a reminder was sent for, and the end date whose ending was applied.
    reminded_for TEXT,
    ended_for TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX resources_short_name ON resources (organisation_id, short_name);

CREATE TABLE resource_access (
    resource_id TEXT NOT NULL REFERENCES resources(id),
    person_id TEXT NOT NULL REFERENCES people(id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (resource_id, person_id)
);
CREATE INDEX resource_access_person ON resource_access (person_id);
