-- Service clients of the automation API (OAuth 2.0 client credentials), the keys that
-- sign their access tokens, and the per-client rate-limit window, kept on the client row
-- so that every instance counts against the same limit in one statement.
INSERT INTO permissions (name, description) VALUES
    ('clients.manage', 'Create and revoke API clients');
INSERT INTO role_permissions (role, permission) VALUES
    ('admin', 'clients.manage'), ('owner', 'clients.manage');

CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- NULL for a site-wide client (made by a site administrator).
    organisation_id TEXT REFERENCES organisations(id),
    secret_hash TEXT NOT NULL,
    -- Permission names, space-separated.
    scopes TEXT NOT NULL,
    -- Networks the client may call from, space-separated CIDRs; empty means anywhere.
    allowed_cidrs TEXT NOT NULL DEFAULT '',
    expires_at BIGINT,
    -- NULL when made with the command line.
    created_by TEXT REFERENCES people(id),
    created_at BIGINT NOT NULL,
    first_used_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    rate_window BIGINT NOT NULL DEFAULT 0,
    rate_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_clients_organisation ON api_clients (organisation_id, created_at);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    -- PKCS#8 DER, base64.
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When a newer key took over signing; published until the tokens it signed expired.
    retired_at BIGINT
);

-- An invitation sent by an API client names it, as one sent from a page names the person.
ALTER TABLE invitations ADD COLUMN invited_by_client TEXT REFERENCES api_clients(id);
