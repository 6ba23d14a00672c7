-- recordWatch's LIVE slot upkeep in time linear in the slots a batch touches
-- (docs/security.md, "positions"): 0009's version kept the touched slots in an
-- array searched for every slot (s = ANY(touched)), quadratic in them; a
-- segment of 2^31 seconds walked 2.4 million slots that way. The slots are now
-- one set (DISTINCT over generate_series), and the positions are bounded by
-- recordWatch itself (services/watch.py: MAX_POSITION and the live margin).
-- The common case (the batch's seconds in one slot) is unchanged.
CREATE OR REPLACE FUNCTION touch_live_slots(p_event_id bigint, p_session_id bigint,
                                            p_user_id bigint, watched int4multirange,
                                            got int4multirange, start_time timestamptz,
                                            threshold integer, old_seconds integer,
                                            new_seconds integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r int4range;
    total integer := 0;
    q integer;  -- the position of the T-th watched second (view_position)
    view_slot timestamptz;
    s timestamptz;
    touched timestamptz[];
BEGIN
    IF new_seconds = old_seconds THEN
        RETURN 0;  -- nothing added (a rewatch, or only seconds past the duration)
    END IF;
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
    END IF;
    touched := ARRAY(
        SELECT DISTINCT t FROM (
            SELECT view_slot WHERE view_slot IS NOT NULL
            UNION ALL
            SELECT live_slots(got, start_time)
        ) u(t)
        ORDER BY t
    );
    IF cardinality(touched) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO watch_slots AS w (event_id, session_id, user_id, mode, slot, seconds, views)
    SELECT p_event_id, p_session_id, p_user_id, 'LIVE', t, slot_seconds(watched, start_time, t),
           coalesce(t = view_slot, false)::integer
    FROM unnest(touched) t
    ON CONFLICT (event_id, session_id, user_id, mode, slot)
        DO UPDATE SET seconds = excluded.seconds, views = excluded.views;
    IF is_view(old_seconds, threshold) AND lower(got) <= q THEN
        UPDATE watch_slots SET views = 0
        WHERE event_id = p_event_id AND session_id = p_session_id AND user_id = p_user_id
          AND mode = 'LIVE' AND views = 1 AND slot <> ALL(touched);
    END IF;
    RETURN cardinality(touched);
END $$;
