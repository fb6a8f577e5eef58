-- A person's POSIX account, once they have chosen a username and it was created.
ALTER TABLE people ADD COLUMN uid_number BIGINT;
ALTER TABLE people ADD COLUMN gid_number BIGINT;
ALTER TABLE people ADD COLUMN login_shell TEXT;
CREATE UNIQUE INDEX people_uid_number ON people (uid_number);

-- gidNumbers are shared by organisations' groups and people's private groups: each number
-- is claimed here once, by whichever allocates it first, and never again.
CREATE TABLE gid_claims (
    gid_number BIGINT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    claimed_at BIGINT NOT NULL
);
INSERT INTO gid_claims (gid_number, claimed_by, claimed_at)
    SELECT gid_number, id, created_at FROM organisations;
