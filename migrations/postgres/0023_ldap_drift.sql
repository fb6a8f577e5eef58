-- The last LDAP drift count the scheduled dry run reported: site admins are mailed only
-- when it changes. One row (id = 1), claimed by a conditional upsert, so of several
-- instances only one mails.
CREATE TABLE ldap_drift_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    item_count BIGINT NOT NULL,
    reported_at BIGINT NOT NULL
);
