-- One meaning for "attended" (contract/analytics-semantics.md):
--     attendeeCount = #{u : u joined, or W(u, LIVE) > 0}
-- A person who watched any live second was in the session even when no join
-- was reported, so live views and live viewers never exceed attendance. It was
-- counted from joins alone, and the demo showed more live viewers than
-- attendees.
--
-- session_joins now holds everyone who attended: `explicit` rows were joined
-- (joinSession), the others stand for live watching (recordWatch adds one when
-- a person's first live second arrives; repo/watch.py). So every reader of
-- joins (attendeeCount, SessionViewer.joined, the exports, event totals,
-- noShowCount) says "attended" the same way. A duration change or a rebuild
-- re-derives the implied rows (repo.watch.sync_live_joins).
ALTER TABLE session_joins ADD COLUMN explicit boolean NOT NULL DEFAULT true;

INSERT INTO session_joins (event_id, session_id, user_id, created_at, explicit)
SELECT v.event_id, v.session_id, v.user_id, v.first_watched_at, false
FROM viewer_watch v
WHERE v.mode = 'LIVE' AND is_viewer(v.watched_seconds)
ON CONFLICT DO NOTHING;

-- Existing sessions recounted (their asOf moves only where the count changed).
UPDATE session_stats st SET attendee_count = c.attendees, updated_at = now()
FROM (SELECT st2.event_id, st2.session_id, count(j.user_id)::int AS attendees
      FROM session_stats st2
      LEFT JOIN session_joins j ON j.event_id = st2.event_id AND j.session_id = st2.session_id
      GROUP BY st2.event_id, st2.session_id) c
WHERE st.event_id = c.event_id AND st.session_id = c.session_id
  AND st.attendee_count <> c.attendees;
