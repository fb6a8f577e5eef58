-- Identities at an OpenID Connect provider linked to accounts. The provider's (issuer,
-- subject) pair is the identity: a later email change at the provider neither loses nor
-- hijacks the account.
CREATE TABLE oidc_links (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    -- What the provider said the email was when the link was made, for the account page.
    email_at_link TEXT,
    linked_at BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_links_person ON oidc_links (person_id);
