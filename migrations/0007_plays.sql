-- Plays (docs/metrics.md): a viewer's play of a session in a mode starts with
-- their first report and again with each report received more than 300 s
-- after their previous one. Kept per viewer in the same statement as the
-- union (recordWatch); rows from before this migration are counted from the
-- reception times of their raw segments.
ALTER TABLE viewer_watch ADD COLUMN plays integer NOT NULL DEFAULT 1;

UPDATE viewer_watch v SET plays = p.plays
FROM (SELECT event_id, session_id, user_id, mode,
             1 + count(*) FILTER (WHERE gap > interval '300 seconds') AS plays
      FROM (SELECT event_id, session_id, user_id, mode,
                   received_at - lag(received_at) OVER (
                       PARTITION BY event_id, session_id, user_id, mode
                       ORDER BY received_at) AS gap
            FROM (SELECT DISTINCT event_id, session_id, user_id, mode, received_at
                  FROM watch_segments) d) g
      GROUP BY event_id, session_id, user_id, mode) p
WHERE p.event_id = v.event_id AND p.session_id = v.session_id
  AND p.user_id = v.user_id AND p.mode = v.mode;
