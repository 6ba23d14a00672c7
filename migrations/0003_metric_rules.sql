-- The metric rules in SQL, each written once (docs/analytics.md defines them;
-- gql_server/analytics/rules.py has the Python forms, and the view threshold
-- min(30, D) itself, which statements receive as a parameter). Simple
-- IMMUTABLE SQL functions: the planner inlines them, so they cost nothing.
-- gql_server/repo/verify.py keeps its own copy on purpose: it is the check.

-- A viewer's union of watched seconds, clipped to [0, duration) when the
-- duration is known.
CREATE FUNCTION clipped(watched int4multirange, duration integer)
RETURNS int4multirange
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN duration IS NULL THEN watched
            ELSE watched * int4multirange(int4range(0, duration)) END;

-- A viewer of a mode: watched at least one second in it (W > 0).
CREATE FUNCTION is_viewer(watched_seconds integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN watched_seconds > 0;

-- A view: at least the session's threshold of distinct seconds (W >= T).
CREATE FUNCTION is_view(watched_seconds integer, threshold integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN watched_seconds >= threshold;

-- W: the length of the clipped union (was written out in 0001).
CREATE OR REPLACE FUNCTION watched_seconds(watched int4multirange, duration integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    SELECT coalesce(sum(upper(r) - lower(r)), 0)::integer
    FROM unnest(clipped(watched, duration)) AS r
);
