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
CREATE INDEX watch_slots_event_slot_idx ON watch_slots (event_id, slot);
CREATE INDEX watch_slots_user_idx ON watch_slots (user_id);

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

-- The slots a set of live positions touches.
CREATE FUNCTION live_slots(watched int4multirange, start_time timestamptz)
RETURNS SETOF timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT DISTINCT s FROM unnest(watched) r,
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
    FROM live_slots(watched, start_time) s
$$;
