-- People who hold (or are about to hold) an account in the portal.
CREATE TABLE people (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    username TEXT UNIQUE,
    surname TEXT NOT NULL,
    given_name TEXT,
    password_hash TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Roles granted site-wide (organisation_id NULL) or within one organisation.
CREATE TABLE role_grants (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    organisation_id TEXT,
    granted_at BIGINT NOT NULL,
    granted_by TEXT
);
CREATE UNIQUE INDEX role_grants_unique ON role_grants (person_id, role, COALESCE(organisation_id, ''));

-- Invitations; the token itself is never stored, only its SHA-256.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    surname TEXT NOT NULL,
    given_name TEXT,
    role TEXT NOT NULL,
    organisation_id TEXT,
    invited_by TEXT REFERENCES people(id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT REFERENCES people(id)
);
CREATE INDEX invitations_email ON invitations (email_normalized);

-- Server-side sessions shared by every instance; the cookie holds a key whose hash is here.
CREATE TABLE sessions (
    key_hash TEXT PRIMARY KEY,
    person_id TEXT REFERENCES people(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_person ON sessions (person_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Who did what, when, from where.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    subject_id TEXT,
    organisation_id TEXT,
    client_ip TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject_id, occurred_at);
CREATE INDEX audit_events_organisation ON audit_events (organisation_id, occurred_at);
