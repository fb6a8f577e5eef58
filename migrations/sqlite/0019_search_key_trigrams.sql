-- PostgreSQL gets trigram indexes on people.search_text and memberships.search_text here.
-- SQLite keeps scanning those columns for now (an FTS5 table would need the rows' rowids
-- to stay put, which VACUUM does not promise for these TEXT-keyed tables).
SELECT 1;
