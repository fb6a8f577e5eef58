-- A local copy of what finding people in the directory needs, kept in step with LDAP by
-- paged searches (modifyTimestamp after the first load, a full pass now and then for
-- deletions). `search_key` holds the folded surname, given name, mail and uid, one per
-- line; `sort_key` the order of the results; `pass` the full pass that last saw the entry.
CREATE TABLE directory_index (
    id INTEGER PRIMARY KEY,
    dn TEXT NOT NULL UNIQUE,
    uid TEXT NOT NULL,
    surname TEXT NOT NULL,
    given_name TEXT,
    mail TEXT,
    search_key TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    modified TEXT NOT NULL,
    pass BIGINT NOT NULL
);
CREATE INDEX directory_index_sort ON directory_index (sort_key);
CREATE INDEX directory_index_uid ON directory_index (uid);

-- Trigram full-text index over the search keys (substring queries of 3+ characters).
CREATE VIRTUAL TABLE directory_index_keys USING fts5(
    search_key, content = 'directory_index', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER directory_index_ai AFTER INSERT ON directory_index BEGIN
    INSERT INTO directory_index_keys (rowid, search_key) VALUES (new.id, new.search_key);
END;
CREATE TRIGGER directory_index_ad AFTER DELETE ON directory_index BEGIN
    INSERT INTO directory_index_keys (directory_index_keys, rowid, search_key)
    VALUES ('delete', old.id, old.search_key);
END;
CREATE TRIGGER directory_index_au AFTER UPDATE OF search_key ON directory_index BEGIN
    INSERT INTO directory_index_keys (directory_index_keys, rowid, search_key)
    VALUES ('delete', old.id, old.search_key);
    INSERT INTO directory_index_keys (rowid, search_key) VALUES (new.id, new.search_key);
END;

-- One row: when the index was last loaded in full and refreshed, the newest
-- modifyTimestamp seen, the current full pass, and the lease of the instance refreshing.
CREATE TABLE directory_index_state (
    id BIGINT PRIMARY KEY,
    loaded_at BIGINT,
    full_at BIGINT,
    refreshed_at BIGINT,
    last_modified TEXT NOT NULL,
    pass BIGINT NOT NULL,
    refreshing_until BIGINT NOT NULL
);
INSERT INTO directory_index_state (id, last_modified, pass, refreshing_until) VALUES (1, '', 0, 0);
