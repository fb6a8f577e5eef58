-- Every POSIX group name the portal gives out (people's usernames, which are also their
-- private groups, and organisations' short names), claimed once: the primary key decides
-- a race between an organisation and a person wanting the same name, inside the
-- transaction that takes it. Names are never released (deleted accounts keep theirs).
CREATE TABLE posix_names (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    claimed_at BIGINT NOT NULL
);
INSERT INTO posix_names (name, kind, owner_id, claimed_at)
    SELECT short_name, 'organisation', id, created_at FROM organisations WHERE true
    ON CONFLICT (name) DO NOTHING;
INSERT INTO posix_names (name, kind, owner_id, claimed_at)
    SELECT username, 'person', id, created_at FROM people WHERE username IS NOT NULL
    ON CONFLICT (name) DO NOTHING;
