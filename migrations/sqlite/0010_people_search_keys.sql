-- The staff account search sorts and searches people the way member lists do: on a
-- lowercased sort key (indexed) and one search text, kept by store::memberships::MemberKeys.
ALTER TABLE people ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
-- Members already have keys made in Rust (Unicode lowercase): copy them.
UPDATE people SET
    sort_key = COALESCE((SELECT m.sort_key FROM memberships m WHERE m.person_id = people.id LIMIT 1), ''),
    search_text = COALESCE((SELECT m.search_text FROM memberships m WHERE m.person_id = people.id LIMIT 1), '');
-- Everyone else (staff without a membership): the database's lowercase.
UPDATE people SET
    sort_key = LOWER(surname) || ' ' || LOWER(COALESCE(given_name, '')) || ' ' || id,
    search_text = LOWER(surname) || ' ' || LOWER(COALESCE(given_name, '')) || ' ' || LOWER(email) || ' ' || LOWER(COALESCE(username, ''))
    WHERE sort_key = '';
CREATE INDEX people_sort_key ON people (sort_key);
