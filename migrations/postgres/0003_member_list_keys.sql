-- The member list is sorted and searched on these, kept with each membership so a page of
-- a large organisation is an index range scan instead of a join and sort of every member.
-- They are lowercased copies of the person's name, email and username (see
-- store::memberships::MemberKeys) and are refreshed whenever those change.
ALTER TABLE memberships ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE memberships SET
    sort_key = (SELECT LOWER(p.surname) || ' ' || LOWER(COALESCE(p.given_name, '')) || ' ' || p.id
                FROM people p WHERE p.id = memberships.person_id),
    search_text = (SELECT LOWER(p.surname) || ' ' || LOWER(COALESCE(p.given_name, '')) || ' ' ||
                   p.email_normalized || ' ' || COALESCE(p.username, '')
                   FROM people p WHERE p.id = memberships.person_id);
CREATE INDEX memberships_organisation_sort ON memberships (organisation_id, sort_key);

-- Counting 10,000 index entries costs about half a millisecond on every page view; the
-- count is kept with the organisation instead, changed in the same transaction as the
-- membership.
ALTER TABLE organisations ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
UPDATE organisations SET member_count =
    (SELECT COUNT(*) FROM memberships WHERE memberships.organisation_id = organisations.id);

-- Moves whenever the organisation's member list would show something different, so an
-- instance can reuse a page it rendered from the same version (store::memberships).
ALTER TABLE organisations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
