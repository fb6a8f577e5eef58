-- The staff account search matches a folded fragment anywhere in people.search_text; an
-- FTS5 trigram index serves those queries of 3+ characters. It is keyed by key_row, a row
-- number of its own: VACUUM may renumber the rowids of this TEXT-keyed table, which would
-- point the index at the wrong people. (PostgreSQL gets pg_trgm indexes in its 0019.)
ALTER TABLE people ADD COLUMN key_row INTEGER;
UPDATE people SET key_row = rowid;
CREATE UNIQUE INDEX people_key_row ON people (key_row);
CREATE VIRTUAL TABLE people_keys USING fts5(
    search_text, content = 'people', content_rowid = 'key_row', tokenize = 'trigram'
);
INSERT INTO people_keys (people_keys) VALUES ('rebuild');
CREATE TRIGGER people_keys_ai AFTER INSERT ON people BEGIN
    UPDATE people SET key_row = (SELECT COALESCE(MAX(key_row), 0) + 1 FROM people)
    WHERE id = new.id;
    INSERT INTO people_keys (rowid, search_text)
    SELECT key_row, search_text FROM people WHERE id = new.id;
END;
CREATE TRIGGER people_keys_au AFTER UPDATE OF search_text ON people BEGIN
    INSERT INTO people_keys (people_keys, rowid, search_text)
    VALUES ('delete', old.key_row, old.search_text);
    INSERT INTO people_keys (rowid, search_text) VALUES (new.key_row, new.search_text);
END;
CREATE TRIGGER people_keys_ad AFTER DELETE ON people BEGIN
    INSERT INTO people_keys (people_keys, rowid, search_text)
    VALUES ('delete', old.key_row, old.search_text);
END;
