-- The staff account search and the member-list search match a folded fragment anywhere in
-- search_text (LIKE '%…%'); trigram indexes serve those queries of 3+ characters.
CREATE INDEX people_search_trgm ON people USING gin (search_text gin_trgm_ops);
CREATE INDEX memberships_search_trgm ON memberships USING gin (search_text gin_trgm_ops);
