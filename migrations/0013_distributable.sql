-- Ready to be distributed by event on Citus (docs/scaling.md); on one PostgreSQL
-- it changes nothing a request sees. `gql-server migrate` distributes the tables
-- afterwards when the citus extension is present (gql_server/citus.py).

-- 1. Which event a session belongs to, for requests that name a session alone
-- (session(id), recordWatch, registerForSession...): on Citus `sessions WHERE id =`
-- would ask every shard; this small table is a reference table (a copy on every
-- node) read first, and then only the event's shard is asked. Written by
-- createSession in the statement that makes the session; the pair never changes.
CREATE TABLE session_events (
    session_id bigint PRIMARY KEY,
    event_id   bigint NOT NULL
);
INSERT INTO session_events (session_id, event_id) SELECT id, event_id FROM sessions;

-- Likewise for webhook endpoints (updateWebhookEndpoint(id), deliveries by endpoint).
CREATE TABLE webhook_endpoint_events (
    endpoint_id bigint PRIMARY KEY,
    event_id    bigint NOT NULL
);
INSERT INTO webhook_endpoint_events (endpoint_id, event_id) SELECT id, event_id FROM webhook_endpoints;

-- 2. Citus refuses triggers on distributed tables: createSession makes the
-- session's webhook state itself (repo/sessions.py CREATE_SESSION).
DROP TRIGGER sessions_webhook_state ON sessions;
DROP FUNCTION webhook_session_state_insert();

-- 3. The webhook tables are keyed by event like every other table of event data:
-- a distributed table's keys and foreign keys must include its distribution column.
ALTER TABLE webhook_messages DROP CONSTRAINT webhook_messages_endpoint_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_message_id_fkey;

ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_pkey;
ALTER TABLE webhook_endpoints ADD PRIMARY KEY (event_id, id);
DROP INDEX webhook_endpoints_event_idx;  -- the primary key leads with event_id now

ALTER TABLE webhook_messages ADD COLUMN event_id bigint;
UPDATE webhook_messages m SET event_id = w.event_id FROM webhook_endpoints w WHERE w.id = m.endpoint_id;
ALTER TABLE webhook_messages ALTER COLUMN event_id SET NOT NULL;
ALTER TABLE webhook_messages DROP CONSTRAINT webhook_messages_pkey;
ALTER TABLE webhook_messages ADD PRIMARY KEY (event_id, id);
-- Message ids are random (msg_ + 128 bits): unique within the event is as unique.
ALTER TABLE webhook_messages DROP CONSTRAINT webhook_messages_message_id_key;
ALTER TABLE webhook_messages ADD UNIQUE (event_id, message_id);
ALTER TABLE webhook_messages ADD FOREIGN KEY (event_id, endpoint_id)
    REFERENCES webhook_endpoints (event_id, id) ON DELETE CASCADE;
DROP INDEX webhook_messages_pending_idx;
DROP INDEX webhook_messages_endpoint_idx;
CREATE INDEX webhook_messages_pending_idx ON webhook_messages (event_id, endpoint_id, id)
    WHERE status = 'PENDING';
CREATE INDEX webhook_messages_endpoint_idx ON webhook_messages (event_id, endpoint_id, id);
-- resendWebhookDelivery(id) names a message alone (docs/scaling.md).
CREATE INDEX webhook_messages_id_idx ON webhook_messages (id);

ALTER TABLE webhook_attempts ADD COLUMN event_id bigint;
UPDATE webhook_attempts a SET event_id = m.event_id FROM webhook_messages m WHERE m.id = a.message_id;
ALTER TABLE webhook_attempts ALTER COLUMN event_id SET NOT NULL;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_pkey;
ALTER TABLE webhook_attempts ADD PRIMARY KEY (event_id, message_id, number);
ALTER TABLE webhook_attempts ADD FOREIGN KEY (event_id, message_id)
    REFERENCES webhook_messages (event_id, id) ON DELETE CASCADE;

-- 4. When the newest counted failed sign-in happened: the upsert that counts one
-- takes "now" from the row it inserts (Citus refuses now() in DO UPDATE SET).
ALTER TABLE login_failures ADD COLUMN last_failed_at timestamptz;

-- 5. Which events the webhook worker claims together (repo/webhooks.py CLAIM_GROUPS):
-- all at once here; on Citus, gql_server/citus.py replaces this with the event's
-- shard, so that each claim asks one shard.
CREATE FUNCTION event_group(event_id bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS 'SELECT 0::bigint';

-- 6. The duration a viewer's watched_seconds was last clipped to: recordWatch's
-- upsert takes it from the row it inserts (Citus allows only the row and EXCLUDED
-- in DO UPDATE SET, no subquery). Rows written before this have none until their
-- next write (nothing reads it but that upsert).
ALTER TABLE viewer_watch ADD COLUMN clipped_to integer;
