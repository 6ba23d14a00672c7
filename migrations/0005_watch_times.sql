-- When each person first and last watched a session in a mode (wall clock,
-- as received), for the per-attendee exports: set by recordWatch in the same
-- statement as the union. Rows from before this migration get the times of
-- their raw segments.
ALTER TABLE viewer_watch
    ADD COLUMN first_watched_at timestamptz,
    ADD COLUMN last_watched_at timestamptz;

UPDATE viewer_watch v SET first_watched_at = t.first_at, last_watched_at = t.last_at
FROM (SELECT event_id, session_id, user_id, mode,
             min(received_at) AS first_at, max(received_at) AS last_at
      FROM watch_segments GROUP BY event_id, session_id, user_id, mode) t
WHERE t.event_id = v.event_id AND t.session_id = v.session_id
  AND t.user_id = v.user_id AND t.mode = v.mode;

ALTER TABLE viewer_watch
    ALTER COLUMN first_watched_at SET DEFAULT now(),
    ALTER COLUMN last_watched_at SET DEFAULT now();
