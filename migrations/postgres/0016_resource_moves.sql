-- A resource's group can be removed from LDAP by hand once it is retired; moving a resource
-- to another organisation renames its group. Groups that must no longer exist are listed
-- here with the gidNumber they had, so the outbox removes exactly those entries.
ALTER TABLE resources ADD COLUMN group_deleted BIGINT NOT NULL DEFAULT 0;
CREATE TABLE dropped_resource_groups (
    group_name TEXT PRIMARY KEY,
    gid_number BIGINT NOT NULL,
    dropped_at BIGINT NOT NULL
);
