-- A short personal message from the inviter, shown to the invitee as plain text on the
-- invitation page and in its email; kept when the invitation is re-sent.
ALTER TABLE invitations ADD COLUMN message TEXT;
