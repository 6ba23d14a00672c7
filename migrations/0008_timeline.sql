-- Time series (docs/metrics.md, "Timeline"): what each viewer added to their
-- watched union, per 15-minute slot of wall-clock time (UTC quarter hours; every
-- time zone in use is offset by a multiple of 15 minutes, so a slot lies in one
-- local hour and one local day of any zone). Kept by recordWatch in the same
-- statement as the union; rebuilt from the unions and the raw segments when
-- a duration changes (re-clipping) and by the bulk rebuild.
--   LIVE: live position p happened at startTime + p (the stream clock); a
--     slot's seconds are the viewer's clipped live seconds that fall in it, and
--     their view (W >= T) happened at their T-th watched second.
--   RECORDING: the seconds a report added to the union count in the slot the
--     report was received in, and the view in the slot of the report that made
--     W reach T.
CREATE TABLE watch_slots (
    event_id   bigint NOT NULL,
    session_id bigint NOT NULL,
    user_id    bigint NOT NULL,
    mode       text NOT NULL CHECK (mode IN ('LIVE', 'RECORDING')),
    slot       timestamptz NOT NULL,
    seconds    integer NOT NULL,
    views      integer NOT NULL,
    PRIMARY KEY (event_id, session_id, user_id, mode, slot)
);
-- No other index: every recordWatch batch writes here, and reads (a timeline,
-- an erasure) are by event, the key's first column.

-- The 15-minute slot an instant is in.
CREATE FUNCTION slot_of(t timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_bin('15 minutes', t, TIMESTAMPTZ '2000-01-01 00:00:00+00');

-- The live positions whose instant startTime + p falls in the slot: [lo, hi).
CREATE FUNCTION slot_positions(start_time timestamptz, slot timestamptz)
RETURNS int4range
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN int4range(ceil(extract(epoch FROM slot - start_time))::integer,
                 ceil(extract(epoch FROM slot - start_time) + 900)::integer);

-- Seconds of a (clipped) union that fall in the slot.
CREATE FUNCTION slot_seconds(watched int4multirange, start_time timestamptz, slot timestamptz)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN watched_seconds(watched * int4multirange(slot_positions(start_time, slot)), NULL);

-- The slots a set of live positions touches (a slot twice when two of its
-- ranges share it: callers dedupe).
CREATE FUNCTION live_slots(watched int4multirange, start_time timestamptz)
RETURNS SETOF timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT s FROM unnest(watched) r,
        generate_series(slot_of(start_time + make_interval(secs => lower(r))),
                        start_time + make_interval(secs => upper(r) - 1),
                        interval '15 minutes') s
$$;

-- The position of the T-th watched second of a union (null when it has fewer).
CREATE FUNCTION view_position(watched int4multirange, threshold integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT upper(r) - (total - threshold) - 1
        FROM (SELECT r, sum(upper(r) - lower(r)) OVER (ORDER BY r) AS total
              FROM unnest(watched) r) c
        WHERE total >= threshold ORDER BY r LIMIT 1);

-- A LIVE union's slots, from scratch: (slot, seconds, views).
CREATE FUNCTION live_slot_rows(watched int4multirange, start_time timestamptz, threshold integer)
RETURNS TABLE (slot timestamptz, seconds integer, views integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT s, slot_seconds(watched, start_time, s),
           coalesce(s = slot_of(start_time + make_interval(
               secs => view_position(watched, threshold))), false)::integer
    FROM (SELECT DISTINCT s FROM live_slots(watched, start_time) s) d(s)
$$;

-- recordWatch's LIVE part of the timeline for one viewer of one session, in
-- PL/pgSQL because its statements' plans are kept per connection (a SQL
-- function called from recordWatch's statement would be planned again at
-- every execution): the slots the batch's seconds (`got`) fall in and the slot
-- of the T-th second are set from the whole union; a view counted before in
-- another slot is taken back from it when the batch added a second before
-- the T-th (only then can it move).
CREATE FUNCTION touch_live_slots(p_event_id bigint, p_session_id bigint, p_user_id bigint,
                                 watched int4multirange, got int4multirange,
                                 start_time timestamptz, threshold integer, old_seconds integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r int4range;
    total integer := 0;
    q integer;  -- the position of the T-th watched second (view_position)
    view_slot timestamptz;
    s timestamptz;
    touched timestamptz[] := '{}';
BEGIN
    FOREACH r IN ARRAY ARRAY(SELECT unnest(watched)) LOOP
        IF total + (upper(r) - lower(r)) >= threshold THEN
            q := lower(r) + (threshold - total) - 1;
            EXIT;
        END IF;
        total := total + (upper(r) - lower(r));
    END LOOP;
    IF q IS NOT NULL THEN
        view_slot := slot_of(start_time + make_interval(secs => q));
        touched := ARRAY[view_slot];
    END IF;
    FOREACH r IN ARRAY ARRAY(SELECT unnest(got)) LOOP
        s := slot_of(start_time + make_interval(secs => lower(r)));
        WHILE s < start_time + make_interval(secs => upper(r)) LOOP
            IF NOT s = ANY(touched) THEN
                touched := touched || s;
            END IF;
            s := s + interval '15 minutes';
        END LOOP;
    END LOOP;
    IF cardinality(touched) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO watch_slots AS w (event_id, session_id, user_id, mode, slot, seconds, views)
    SELECT p_event_id, p_session_id, p_user_id, 'LIVE', t, slot_seconds(watched, start_time, t),
           coalesce(t = view_slot, false)::integer
    FROM unnest(touched) t ORDER BY t
    ON CONFLICT (event_id, session_id, user_id, mode, slot)
        DO UPDATE SET seconds = excluded.seconds, views = excluded.views;
    IF is_view(old_seconds, threshold) AND lower(got) <= q THEN
        UPDATE watch_slots SET views = 0
        WHERE event_id = p_event_id AND session_id = p_session_id AND user_id = p_user_id
          AND mode = 'LIVE' AND views = 1 AND slot <> ALL(touched);
    END IF;
    RETURN cardinality(touched);
END $$;
