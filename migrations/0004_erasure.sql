-- Erasure (docs/privacy.md): finding everything of one person without a scan
-- of the tables keyed by event first. watch_segments has no such index on
-- purpose (it is the hottest insert path): erasure deletes there by the
-- events the person took part in.
CREATE INDEX session_registrations_user_idx ON session_registrations (user_id);
CREATE INDEX session_joins_user_idx ON session_joins (user_id);
CREATE INDEX viewer_watch_user_idx ON viewer_watch (user_id);

-- What is kept of an erasure: that one happened, when, and how much was
-- recomputed. No personal data (no id, name or email of the person).
CREATE TABLE erasures (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erased_at          timestamptz NOT NULL DEFAULT now(),
    by_the_person      boolean NOT NULL,   -- deleteMyAccount, or a super admin's eraseUser
    sessions_recounted integer NOT NULL
);
