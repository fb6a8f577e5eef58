-- Adopting an existing directory (`roster adopt apply`).

-- uidNumbers, like gidNumbers, are claimed once and never handed out again: by the
-- allocator for new accounts, and by adoption for the numbers existing entries hold.
CREATE TABLE uid_claims (
    uid_number BIGINT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    claimed_at BIGINT NOT NULL
);
INSERT INTO uid_claims (uid_number, claimed_by, claimed_at)
    SELECT uid_number, id, created_at FROM people WHERE uid_number IS NOT NULL;

-- One run of a plan: resumed by the next apply of the same plan until it is finished.
CREATE TABLE adoption_runs (
    id TEXT PRIMARY KEY,
    plan_sha256 TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    people BIGINT NOT NULL DEFAULT 0,
    organisations BIGINT NOT NULL DEFAULT 0,
    memberships BIGINT NOT NULL DEFAULT 0
);

-- What an adopted person's entry held when it was adopted; the portal does not manage the
-- entry (people.uid_number stays NULL) until the person claims the account.
ALTER TABLE people ADD COLUMN adopted_by_run TEXT;
ALTER TABLE people ADD COLUMN adopted_uid_number BIGINT;
ALTER TABLE people ADD COLUMN adopted_gid_number BIGINT;
ALTER TABLE organisations ADD COLUMN adopted_by_run TEXT;
