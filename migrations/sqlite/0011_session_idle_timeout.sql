-- Idle timeout beside the absolute lifetime: when the session began and when it was last used.
ALTER TABLE sessions ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
-- Sessions from before keep their remaining lifetime and count as just used.
UPDATE sessions SET created_at = CAST(strftime('%s', 'now') AS INTEGER),
    last_seen_at = CAST(strftime('%s', 'now') AS INTEGER);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
