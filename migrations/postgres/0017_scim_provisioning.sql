-- SCIM 2.0 targets beside LDAP. Their jobs live in the same outbox: `target` is '' for
-- LDAP and the target's configured name otherwise, so each target is claimed, paced and
-- shown on its own.
ALTER TABLE jobs ADD COLUMN target TEXT NOT NULL DEFAULT '';
DROP INDEX jobs_due;
DROP INDEX jobs_subject;
CREATE INDEX jobs_due ON jobs (target, status, next_attempt_at);
CREATE INDEX jobs_subject ON jobs (target, kind, subject_id, status);

-- What each target knows about: the id it gave each pushed User ('user') or Group
-- ('group'), by the portal id (the object's externalId there).
CREATE TABLE scim_objects (
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    local_id TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (target, kind, local_id)
);

-- Per target: when everything was first queued for it, the shared pacing (the next free
-- request slot, wall-clock milliseconds), a pause a 429's Retry-After asked for (portal
-- clock seconds), and the last drift report mailed to admins.
CREATE TABLE scim_targets (
    name TEXT PRIMARY KEY,
    seeded_at BIGINT NOT NULL,
    next_slot_ms BIGINT NOT NULL DEFAULT 0,
    paused_until BIGINT NOT NULL DEFAULT 0,
    report_digest TEXT,
    reported_at BIGINT
);
