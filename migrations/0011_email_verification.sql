-- An address on an event's attendee list counts only once its owner proved
-- they read its mail (docs/security.md, "attendee lists"): whoever signed up
-- first with a listed address used to enter an ATTENDEES_ONLY event.
--
-- Accounts made before this migration are unverified, whatever their age:
-- nothing ever proved their addresses. On an OPEN event nothing changes for
-- them; on an ATTENDEES_ONLY event they verify once (requestEmailVerification,
-- or an operator's `gql-server verify-email`).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- One row per message sent: the link's token is kept as its sha256 only, for
-- the address it was sent to (a link proves that address, not a later one).
CREATE TABLE email_verifications (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX email_verifications_user ON email_verifications (user_id, created_at);

-- When the last link went out (one a minute per account), and when the owner
-- of a taken address was last told someone signed up with it (one an hour).
ALTER TABLE users ADD COLUMN verification_sent_at timestamptz,
                  ADD COLUMN notice_sent_at timestamptz;
