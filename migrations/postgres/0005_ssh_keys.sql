-- SSH public keys; the fingerprint is unique, so one key cannot serve two accounts.
CREATE TABLE ssh_keys (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    bits BIGINT,
    comment TEXT NOT NULL,
    openssh TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ssh_keys_person ON ssh_keys (person_id, created_at);
