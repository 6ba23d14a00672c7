-- Webhooks (docs/webhooks.md): endpoints per event, a durable outbox of
-- messages, the log of delivery attempts, and what was last sent about each
-- session (so that session.updated is sent only when its numbers change).

CREATE TABLE webhook_endpoints (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id              bigint NOT NULL REFERENCES events (id),
    url                   text NOT NULL,
    -- Standard Webhooks' whsec_ key. Kept as is: HMAC needs it (it is shown
    -- once, when made or rotated, and never again through the API).
    secret                text NOT NULL,
    -- After a rotation, messages are signed with both keys until then.
    previous_secret       text,
    previous_secret_until timestamptz,
    event_types           text[] NOT NULL CHECK (cardinality(event_types) > 0),
    enabled               boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_event_idx ON webhook_endpoints (event_id);

-- The outbox: one row per message and endpoint, written in the transaction
-- that causes it. The body is stored as the exact bytes that are signed.
CREATE TABLE webhook_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id      text NOT NULL UNIQUE,            -- the webhook-id header
    event_type      text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempt_count   integer NOT NULL DEFAULT 0,
    -- Attempts of the current series (a resend starts a new one).
    series_attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A worker that claimed the message holds it until then; one that dies
    -- mid-delivery lets it go when the lease runs out (then it is sent again).
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
-- The head of each endpoint's queue (in order per endpoint).
CREATE INDEX webhook_messages_pending_idx ON webhook_messages (endpoint_id, id)
    WHERE status = 'PENDING';
CREATE INDEX webhook_messages_endpoint_idx ON webhook_messages (endpoint_id, id);

CREATE TABLE webhook_attempts (
    message_id    bigint NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    number        integer NOT NULL,
    attempted_at  timestamptz NOT NULL,
    duration_ms   integer NOT NULL,
    status_code   integer,             -- null: no HTTP answer (refused, timeout, reset)
    error         text,
    response_body text,                -- at most the first 512 characters
    PRIMARY KEY (message_id, number)
);

-- One row per session, made with it (trigger below). ended_sent_at: when
-- session.ended was handled (sent to the endpoints then subscribed, or to
-- none); sent_data: the session's data as last sent (null when its event had
-- no endpoint for session messages then). seen_*: the updated_at of its
-- counters and of its own row when sent_data was read; the scheduler looks
-- again when either differs (compared for inequality: updated_at is the
-- writer's transaction start, so a later commit can carry an earlier time).
CREATE TABLE webhook_session_state (
    event_id      bigint NOT NULL,
    session_id    bigint NOT NULL,
    ended_sent_at timestamptz,
    sent_data     jsonb,
    seen_stats_at   timestamptz,
    seen_session_at timestamptz,
    PRIMARY KEY (event_id, session_id),
    FOREIGN KEY (event_id, session_id) REFERENCES sessions (event_id, id)
);
CREATE INDEX webhook_session_state_due_idx ON webhook_session_state (event_id, session_id)
    WHERE ended_sent_at IS NULL;
CREATE INDEX webhook_session_state_sent_idx ON webhook_session_state (event_id, session_id)
    WHERE sent_data IS NOT NULL;

INSERT INTO webhook_session_state (event_id, session_id) SELECT event_id, id FROM sessions;

CREATE FUNCTION webhook_session_state_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_session_state (event_id, session_id)
    SELECT event_id, id FROM new_sessions;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_webhook_state AFTER INSERT ON sessions
    REFERENCING NEW TABLE AS new_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_session_state_insert();

-- When a session's own fields last changed (title, times, duration...), so
-- the scheduler finds sessions whose sent data may be out of date.
ALTER TABLE sessions ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
