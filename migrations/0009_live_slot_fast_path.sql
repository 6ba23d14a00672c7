-- recordWatch's LIVE slot upkeep without the recount in the common case
-- (docs/performance.md, "what the timeline rollup costs recordWatch"): the
-- function also receives the union's new length, and when the batch's seconds
-- lie in one slot and cannot move the view it adds the difference to that slot
-- with one statement. Otherwise it does what 0008's version did.
DROP FUNCTION touch_live_slots(bigint, bigint, bigint, int4multirange, int4multirange,
                               timestamptz, integer, integer);

CREATE FUNCTION touch_live_slots(p_event_id bigint, p_session_id bigint, p_user_id bigint,
                                 watched int4multirange, got int4multirange,
                                 start_time timestamptz, threshold integer,
                                 old_seconds integer, new_seconds integer)
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
    IF new_seconds = old_seconds THEN
        RETURN 0;  -- nothing added (a rewatch, or only seconds past the duration)
    END IF;
    -- The common case, a player's next heartbeats: all of the batch's seconds
    -- fall in one slot and cannot move the view (there is none yet, or the
    -- union is one range holding the T-th second before the batch's first).
    -- Everything added is then in that slot: add the difference, no recount.
    s := slot_of(start_time + make_interval(secs => lower(got)));
    IF s = slot_of(start_time + make_interval(secs => upper(got) - 1))
       AND (new_seconds < threshold
            OR (watched = int4multirange(range_merge(watched))
                AND lower(got) - lower(watched) >= threshold)) THEN
        INSERT INTO watch_slots AS w (event_id, session_id, user_id, mode, slot, seconds, views)
        VALUES (p_event_id, p_session_id, p_user_id, 'LIVE', s, new_seconds - old_seconds, 0)
        ON CONFLICT (event_id, session_id, user_id, mode, slot)
            DO UPDATE SET seconds = w.seconds + excluded.seconds;
        RETURN 1;
    END IF;
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
