-- The trigram indexes of the people index and of the staff account search are keyed by a
-- row number that follows the order results are shown in (sort_key, then id), with gaps.
-- FTS5 lists matches by that number, so a page of a common fragment ("son": thousands of
-- matches) reads only the rows it shows, already sorted, instead of every match.
--
-- Triggers keep the numbering on every write: a new row, or one whose sort key changed,
-- is numbered between its neighbours. When they are adjacent, every row is numbered
-- again, spread over 2^61 (at least 2^32 apart), into a range that cannot collide with
-- the old one: below it when the old one is not negative, above it otherwise. That costs
-- about 0.15 ms a row (14 s at 100,000) under the write lock, and takes some 30 rows
-- sorted into one gap in descending order, or thousands in ascending order.

-- The people index: directory_index.rank. Until the index is first loaded its rows are
-- not numbered; the first full load numbers them all at once (store::people_index).
DROP TRIGGER directory_index_ai;
DROP TRIGGER directory_index_ad;
DROP TRIGGER directory_index_au;
DROP TABLE directory_index_keys;
ALTER TABLE directory_index ADD COLUMN rank INTEGER;
UPDATE directory_index SET rank = o.base + o.n * o.spacing
FROM (SELECT id AS oid, row_number() OVER (ORDER BY sort_key, id) AS n, s.spacing,
             COALESCE(CASE WHEN (SELECT MIN(rank) FROM directory_index) >= 0
                  THEN -((SELECT COUNT(*) FROM directory_index) + 2) * s.spacing
                  ELSE (SELECT MAX(rank) FROM directory_index) END, 0) AS base
      FROM directory_index, (SELECT MAX(4294967296, 2305843009213693952 / ((SELECT COUNT(*) FROM directory_index) + 2)) AS spacing) AS s) AS o
WHERE directory_index.id = o.oid;
CREATE UNIQUE INDEX directory_index_rank ON directory_index (rank);
CREATE VIRTUAL TABLE directory_index_keys USING fts5(search_key, tokenize = 'trigram');
INSERT INTO directory_index_keys (rowid, search_key) SELECT rank, search_key FROM directory_index WHERE rank IS NOT NULL;
INSERT INTO directory_index_keys (directory_index_keys) VALUES ('optimize');
-- The index entry follows the row as it is now, not as the statement that fired this
-- left it: a nested trigger may have numbered the row again meanwhile. (Not INSERT OR
-- REPLACE: an upsert's conflict handling would override it.)
CREATE TRIGGER directory_index_keys_follow AFTER UPDATE OF rank, search_key ON directory_index
WHEN old.rank IS NOT new.rank OR old.search_key IS NOT new.search_key BEGIN
    DELETE FROM directory_index_keys WHERE rowid = old.rank AND NOT EXISTS (SELECT 1 FROM directory_index WHERE rank = old.rank);
    DELETE FROM directory_index_keys WHERE rowid = (SELECT rank FROM directory_index WHERE id = new.id);
    INSERT INTO directory_index_keys (rowid, search_key) SELECT rank, search_key FROM directory_index WHERE id = new.id AND rank IS NOT NULL;
END;
CREATE TRIGGER directory_index_keys_gone AFTER DELETE ON directory_index
WHEN old.rank IS NOT NULL BEGIN
    DELETE FROM directory_index_keys WHERE rowid = old.rank AND NOT EXISTS (SELECT 1 FROM directory_index WHERE rank = old.rank);
END;
-- A row without a number gets one. When its neighbours' numbers are adjacent, every row
-- is numbered again (this one among them); else it takes the number 2^32 past the one
-- before (halfway, when closer), so a sorted batch fills a gap thousands at a time. The
-- two triggers may fire in either order: the second finds nothing left to do.
CREATE TRIGGER directory_index_rank_renumber AFTER UPDATE OF rank ON directory_index
WHEN new.rank IS NULL
 AND (SELECT loaded_at FROM directory_index_state WHERE id = 1) IS NOT NULL
 AND (SELECT rank FROM directory_index WHERE (sort_key, id) > (new.sort_key, new.id)
      AND rank IS NOT NULL ORDER BY sort_key, id LIMIT 1)
   - (SELECT rank FROM directory_index WHERE (sort_key, id) < (new.sort_key, new.id)
      AND rank IS NOT NULL ORDER BY sort_key DESC, id DESC LIMIT 1) < 2 BEGIN
    UPDATE directory_index SET rank = o.base + o.n * o.spacing
    FROM (SELECT id AS oid, row_number() OVER (ORDER BY sort_key, id) AS n, s.spacing,
                 COALESCE(CASE WHEN (SELECT MIN(rank) FROM directory_index) >= 0
                      THEN -((SELECT COUNT(*) FROM directory_index) + 2) * s.spacing
                      ELSE (SELECT MAX(rank) FROM directory_index) END, 0) AS base
          FROM directory_index, (SELECT MAX(4294967296, 2305843009213693952 / ((SELECT COUNT(*) FROM directory_index) + 2)) AS spacing) AS s) AS o
    WHERE directory_index.id = o.oid;
    -- One segment again: a long query reads far fewer pages.
    INSERT INTO directory_index_keys (directory_index_keys) VALUES ('optimize');
END;
CREATE TRIGGER directory_index_rank_place AFTER UPDATE OF rank ON directory_index
WHEN new.rank IS NULL
 AND (SELECT loaded_at FROM directory_index_state WHERE id = 1) IS NOT NULL BEGIN
    UPDATE directory_index SET rank = (
        SELECT CASE WHEN p IS NULL AND n IS NULL THEN 0
                    WHEN p IS NULL THEN n - 4294967296
                    WHEN n IS NULL THEN p + 4294967296
                    ELSE p + MIN((n - p) / 2, 4294967296) END
        FROM (SELECT (SELECT rank FROM directory_index WHERE (sort_key, id) < (new.sort_key, new.id)
                AND rank IS NOT NULL ORDER BY sort_key DESC, id DESC LIMIT 1) AS p,
                     (SELECT rank FROM directory_index WHERE (sort_key, id) > (new.sort_key, new.id)
                AND rank IS NOT NULL ORDER BY sort_key, id LIMIT 1) AS n))
    WHERE id = new.id AND rank IS NULL
      AND COALESCE((SELECT rank FROM directory_index WHERE (sort_key, id) > (new.sort_key, new.id)
                   AND rank IS NOT NULL ORDER BY sort_key, id LIMIT 1)
          - (SELECT rank FROM directory_index WHERE (sort_key, id) < (new.sort_key, new.id)
                   AND rank IS NOT NULL ORDER BY sort_key DESC, id DESC LIMIT 1) >= 2, 1);
END;
CREATE TRIGGER directory_index_rank_new AFTER INSERT ON directory_index BEGIN
    UPDATE directory_index SET rank = NULL WHERE id = new.id;
END;
CREATE TRIGGER directory_index_rank_moved AFTER UPDATE OF sort_key ON directory_index
WHEN old.sort_key IS NOT new.sort_key BEGIN
    UPDATE directory_index SET rank = NULL WHERE id = new.id;
END;

-- The staff account search: people.key_row (migration 0019).
DROP TRIGGER people_keys_ai;
DROP TRIGGER people_keys_au;
DROP TRIGGER people_keys_ad;
DROP TABLE people_keys;
CREATE INDEX people_sort_order ON people (sort_key, id);
-- "Any status" counts the matches less the deleted accounts among them (store::people).
CREATE INDEX people_deleted ON people (key_row) WHERE status = 'deleted';
UPDATE people SET key_row = NULL;
UPDATE people SET key_row = o.base + o.n * o.spacing
FROM (SELECT id AS oid, row_number() OVER (ORDER BY sort_key, id) AS n, s.spacing,
             COALESCE(CASE WHEN (SELECT MIN(key_row) FROM people) >= 0
                  THEN -((SELECT COUNT(*) FROM people) + 2) * s.spacing
                  ELSE (SELECT MAX(key_row) FROM people) END, 0) AS base
      FROM people, (SELECT MAX(4294967296, 2305843009213693952 / ((SELECT COUNT(*) FROM people) + 2)) AS spacing) AS s) AS o
WHERE people.id = o.oid;
CREATE VIRTUAL TABLE people_keys USING fts5(search_text, tokenize = 'trigram');
INSERT INTO people_keys (rowid, search_text) SELECT key_row, search_text FROM people WHERE key_row IS NOT NULL;
INSERT INTO people_keys (people_keys) VALUES ('optimize');
-- The index entry follows the row as it is now, not as the statement that fired this
-- left it: a nested trigger may have numbered the row again meanwhile. (Not INSERT OR
-- REPLACE: an upsert's conflict handling would override it.)
CREATE TRIGGER people_keys_follow AFTER UPDATE OF key_row, search_text ON people
WHEN old.key_row IS NOT new.key_row OR old.search_text IS NOT new.search_text BEGIN
    DELETE FROM people_keys WHERE rowid = old.key_row AND NOT EXISTS (SELECT 1 FROM people WHERE key_row = old.key_row);
    DELETE FROM people_keys WHERE rowid = (SELECT key_row FROM people WHERE id = new.id);
    INSERT INTO people_keys (rowid, search_text) SELECT key_row, search_text FROM people WHERE id = new.id AND key_row IS NOT NULL;
END;
CREATE TRIGGER people_keys_gone AFTER DELETE ON people
WHEN old.key_row IS NOT NULL BEGIN
    DELETE FROM people_keys WHERE rowid = old.key_row AND NOT EXISTS (SELECT 1 FROM people WHERE key_row = old.key_row);
END;
-- A row without a number gets one. When its neighbours' numbers are adjacent, every row
-- is numbered again (this one among them); else it takes the number 2^32 past the one
-- before (halfway, when closer), so a sorted batch fills a gap thousands at a time. The
-- two triggers may fire in either order: the second finds nothing left to do.
CREATE TRIGGER people_rank_renumber AFTER UPDATE OF key_row ON people
WHEN new.key_row IS NULL
 AND (SELECT key_row FROM people WHERE (sort_key, id) > (new.sort_key, new.id)
      AND key_row IS NOT NULL ORDER BY sort_key, id LIMIT 1)
   - (SELECT key_row FROM people WHERE (sort_key, id) < (new.sort_key, new.id)
      AND key_row IS NOT NULL ORDER BY sort_key DESC, id DESC LIMIT 1) < 2 BEGIN
    UPDATE people SET key_row = o.base + o.n * o.spacing
    FROM (SELECT id AS oid, row_number() OVER (ORDER BY sort_key, id) AS n, s.spacing,
                 COALESCE(CASE WHEN (SELECT MIN(key_row) FROM people) >= 0
                      THEN -((SELECT COUNT(*) FROM people) + 2) * s.spacing
                      ELSE (SELECT MAX(key_row) FROM people) END, 0) AS base
          FROM people, (SELECT MAX(4294967296, 2305843009213693952 / ((SELECT COUNT(*) FROM people) + 2)) AS spacing) AS s) AS o
    WHERE people.id = o.oid;
    -- One segment again: a long query reads far fewer pages.
    INSERT INTO people_keys (people_keys) VALUES ('optimize');
END;
CREATE TRIGGER people_rank_place AFTER UPDATE OF key_row ON people
WHEN new.key_row IS NULL BEGIN
    UPDATE people SET key_row = (
        SELECT CASE WHEN p IS NULL AND n IS NULL THEN 0
                    WHEN p IS NULL THEN n - 4294967296
                    WHEN n IS NULL THEN p + 4294967296
                    ELSE p + MIN((n - p) / 2, 4294967296) END
        FROM (SELECT (SELECT key_row FROM people WHERE (sort_key, id) < (new.sort_key, new.id)
                AND key_row IS NOT NULL ORDER BY sort_key DESC, id DESC LIMIT 1) AS p,
                     (SELECT key_row FROM people WHERE (sort_key, id) > (new.sort_key, new.id)
                AND key_row IS NOT NULL ORDER BY sort_key, id LIMIT 1) AS n))
    WHERE id = new.id AND key_row IS NULL
      AND COALESCE((SELECT key_row FROM people WHERE (sort_key, id) > (new.sort_key, new.id)
                   AND key_row IS NOT NULL ORDER BY sort_key, id LIMIT 1)
          - (SELECT key_row FROM people WHERE (sort_key, id) < (new.sort_key, new.id)
                   AND key_row IS NOT NULL ORDER BY sort_key DESC, id DESC LIMIT 1) >= 2, 1);
END;
CREATE TRIGGER people_rank_new AFTER INSERT ON people BEGIN
    UPDATE people SET key_row = NULL WHERE id = new.id;
END;
CREATE TRIGGER people_rank_moved AFTER UPDATE OF sort_key ON people
WHEN old.sort_key IS NOT new.sort_key BEGIN
    UPDATE people SET key_row = NULL WHERE id = new.id;
END;
