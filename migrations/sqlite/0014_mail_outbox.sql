-- Every email is stored with the change that causes it, in the same transaction, and sent
-- by a worker: a mail server that is down delays mail, never loses it. The bodies carry
-- single-use links, so they are erased once the message is sent or refused for good.
CREATE TABLE mail_outbox (
    -- The order messages were stored in: each person's mail goes out in this order.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    -- queued, sent or failed (refused for good by the mail server).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    -- The audit actor whose change caused the mail (a person, an API client), if any.
    caused_by TEXT,
    invitation_id TEXT,
    batch_id TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mail_outbox_queue ON mail_outbox (status, seq);
CREATE INDEX mail_outbox_invitation ON mail_outbox (invitation_id, seq);
CREATE INDEX mail_outbox_recipient ON mail_outbox (recipient, status, seq);
CREATE INDEX mail_outbox_batch ON mail_outbox (batch_id);

-- The site-wide send pacing (mail.rate_per_minute): each send takes the next slot, one
-- UPDATE for all instances.
CREATE TABLE mail_pacing (
    id BIGINT PRIMARY KEY,
    next_slot_ms BIGINT NOT NULL
);
INSERT INTO mail_pacing (id, next_slot_ms) VALUES (1, 0);

-- A confirmed batch of invitations (a spreadsheet upload or one API request). Its id comes
-- from the confirm form, or is made for an API request; a repeat of either finds the row.
CREATE TABLE invitation_batches (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    actor_id TEXT,
    client_id TEXT,
    -- The API's Idempotency-Key (NULL from a page, or once older than 24 hours), and a
    -- hash of the request it came with.
    idempotency_key TEXT,
    request_hash TEXT,
    -- The per-row outcome as the API answered it (JSON), replayed for a repeated key.
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX invitation_batches_key ON invitation_batches (client_id, idempotency_key);
CREATE INDEX invitation_batches_organisation ON invitation_batches (organisation_id, created_at);

ALTER TABLE invitations ADD COLUMN batch_id TEXT;

-- At most one pending invitation per address and place (the upsert re-sends it instead),
-- also when two requests race: the loser's insert does nothing and it re-sends.
CREATE UNIQUE INDEX invitations_one_pending
    ON invitations (email_normalized, COALESCE(organisation_id, '')) WHERE status = 'pending';
