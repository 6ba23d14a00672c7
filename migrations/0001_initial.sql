-- Accounts, organizers, events, sessions, attendance and watch data.
--
-- Every table that holds event data carries event_id and has it first in its
-- primary key, so the schema can be distributed by event (Citus) later.
-- Public ids are plain identity bigints.

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text NOT NULL UNIQUE,          -- trimmed and lower-cased
    name           text NOT NULL,
    password_hash  text NOT NULL,                 -- argon2id
    is_super_admin boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_tokens (
    token_hash bytea PRIMARY KEY,                 -- sha256 of the bearer token
    user_id    bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id);

-- Consecutive failed sign-ins per email address (existing or not).
CREATE TABLE login_failures (
    email        text PRIMARY KEY,
    failures     integer NOT NULL,
    locked_until timestamptz
);

CREATE TABLE organizers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizer_admins (
    organizer_id bigint NOT NULL REFERENCES organizers (id),
    user_id      bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (organizer_id, user_id)
);

CREATE TABLE events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,   -- the event_id
    organizer_id bigint NOT NULL REFERENCES organizers (id),
    name         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_organizer_idx ON events (organizer_id);

CREATE TABLE event_admins (
    event_id bigint NOT NULL REFERENCES events (id),
    user_id  bigint NOT NULL REFERENCES users (id),
    PRIMARY KEY (event_id, user_id)
);

CREATE TABLE sessions (
    event_id        bigint NOT NULL REFERENCES events (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    title           text NOT NULL,
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    format          text NOT NULL CHECK (format IN (
                        'MAIN_STAGE', 'BREAKOUT_SESSION', 'MEET_UP', 'WORKSHOP',
                        'EXPO', 'BREAK', 'OTHER')),
    stream_provider text CHECK (stream_provider IN (
                        'YOUTUBE', 'VIMEO', 'VOXEET', 'TOKBOX', 'DIRECT_UPLOAD',
                        'ZOOM', 'FACEBOOK', 'WISTIA')),
    video_duration  integer CHECK (video_duration > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, id),
    CHECK (end_time > start_time),
    CHECK (format NOT IN ('WORKSHOP', 'MEET_UP') OR stream_provider IS NULL)
);
-- Sessions are addressed by id alone in the API (registerForSession(sessionId)).
CREATE INDEX sessions_id_idx ON sessions (id);
CREATE INDEX sessions_event_start_idx ON sessions (event_id, start_time, id);

CREATE TABLE session_registrations (
    event_id   bigint NOT NULL,
    session_id bigint NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, session_id, user_id),
    FOREIGN KEY (event_id, session_id) REFERENCES sessions (event_id, id)
);

CREATE TABLE session_joins (
    event_id   bigint NOT NULL,
    session_id bigint NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, session_id, user_id),
    FOREIGN KEY (event_id, session_id) REFERENCES sessions (event_id, id)
);

-- Raw player heartbeats, append-only. Reads never scan this table; it is the
-- record from which everything below can be rebuilt. No foreign keys: the
-- session was checked (and locked FOR SHARE) in the same transaction, and
-- this is the hottest insert path.
CREATE TABLE watch_segments (
    event_id     bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    session_id   bigint NOT NULL,
    user_id      bigint NOT NULL,
    mode         text NOT NULL CHECK (mode IN ('LIVE', 'RECORDING')),
    start_second integer NOT NULL CHECK (start_second >= 0),
    end_second   integer NOT NULL CHECK (end_second > start_second),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, id)
);

-- What one viewer watched of one session in one mode: the union of every
-- reported interval (unclipped, so a later change of the video duration can
-- re-clip it), and its length clipped to the duration.
-- previous_watched_seconds is the length before the latest upsert, so one
-- INSERT ... ON CONFLICT ... RETURNING yields the exact delta for the
-- per-session counters (PostgreSQL 15 has no RETURNING OLD).
CREATE TABLE viewer_watch (
    event_id                 bigint NOT NULL,
    session_id               bigint NOT NULL,
    user_id                  bigint NOT NULL REFERENCES users (id),
    mode                     text NOT NULL CHECK (mode IN ('LIVE', 'RECORDING')),
    watched                  int4multirange NOT NULL,
    watched_seconds          integer NOT NULL,
    previous_watched_seconds integer NOT NULL DEFAULT 0,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, session_id, user_id, mode),
    FOREIGN KEY (event_id, session_id) REFERENCES sessions (event_id, id)
);

-- Per-session counters, kept in step with the tables above in the same
-- transaction as every write. Views are counted with the threshold of the
-- session's current duration; changing the duration recomputes them.
CREATE TABLE session_stats (
    event_id          bigint NOT NULL,
    session_id        bigint NOT NULL,
    registered_count  integer NOT NULL DEFAULT 0,
    attendee_count    integer NOT NULL DEFAULT 0,
    live_viewers      integer NOT NULL DEFAULT 0,   -- W(u, LIVE) > 0
    live_views        integer NOT NULL DEFAULT 0,   -- W(u, LIVE) >= T
    live_seconds      bigint  NOT NULL DEFAULT 0,
    recording_viewers integer NOT NULL DEFAULT 0,
    recording_views   integer NOT NULL DEFAULT 0,
    recording_seconds bigint  NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, session_id),
    FOREIGN KEY (event_id, session_id) REFERENCES sessions (event_id, id)
);

-- Seconds covered by a multirange, each range clipped to [0, duration) when
-- the duration is known.
CREATE FUNCTION watched_seconds(watched int4multirange, duration integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    SELECT coalesce(sum(upper(r) - lower(r)), 0)::integer
    FROM unnest(CASE WHEN duration IS NULL THEN watched
                     ELSE watched * int4multirange(int4range(0, duration)) END) AS r
);
