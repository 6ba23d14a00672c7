-- Who may attend an event's sessions (docs/security.md). OPEN: anyone signed
-- in may register, join and report watching (as before this migration).
-- ATTENDEES_ONLY: only the people on the event's attendee list.
ALTER TABLE events ADD COLUMN attendance text NOT NULL DEFAULT 'OPEN'
    CHECK (attendance IN ('OPEN', 'ATTENDEES_ONLY'));

-- The attendee list holds email addresses (trimmed, lower-cased), as ticket
-- lists do: a host lists people before they have an account, and signing up
-- later with the address is enough.
CREATE TABLE event_attendees (
    event_id bigint NOT NULL REFERENCES events (id),
    email    text   NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, email)
);
