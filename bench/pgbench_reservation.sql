-- pgbench: the statements reservation_create sends on PostgreSQL (reservations/access.py), in its
-- transaction (PostgreSQL's ceiling for the full rule, without Python): index scans only (SET
-- LOCAL); the seat locked with the cluster mode; then the node and the seat's active reservations
-- and holds as JSON; then the reservation and its history row in one statement.  One command per
-- round trip: run with -M simple (planned at every execution) and -M prepared (plans kept, as
-- reservations.access prepares its statements once per connection).
\set seat random(:first, :last)
\set node random(1, 5)
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT s."id", s."row", s."number", (SELECT "mode" FROM "timesync_consistencysettings" WHERE "id" = 1)
  FROM "seats_seat" s WHERE s."id" = :seat FOR UPDATE OF s;
SELECT n."server_id", n."offset_seconds", n."drift_ppm", n."offset_since", n."ntp_synced", n."last_sync",
    n."last_sync_offset", n."last_sync_delay", n."last_sync_stratum", n."last_sync_error_bound", n."last_sync_server",
    (SELECT json_agg(r ORDER BY r."created_at", r."id") FILTER (WHERE r."status" = 'active')
      FROM "reservations_reservation" r WHERE r."seat_id" = :seat),
    (SELECT json_agg(h ORDER BY h."created_at", h."id") FILTER (WHERE h."status" = 'active')
      FROM "reservations_hold" h WHERE h."seat_id" = :seat)
  FROM (VALUES (1)) AS one LEFT JOIN "timesync_servernode" n ON n."server_id" = 'server-' || :node;
WITH new AS (INSERT INTO "reservations_reservation" ("seat_id", "server_id", "customer_name", "created_at",
    "recorded_at", "node_offset", "conflict_detected", "status", "cancelled_at", "bumped_at", "cancel_token_digest")
  VALUES (:seat, 'server-' || :node, 'pgbench', now(), now(), 0, false, 'active', NULL, NULL, md5(random()::text))
  RETURNING "id" AS id),
op AS (INSERT INTO "history_operation" ("f", "outcome", "error", "invoked_at", "completed_at", "node", "node_time",
    "mode", "seat_id", "actor_kind", "actor_name", "run", "args", "value")
  SELECT 'reserve', 'ok', '', now(), now(), 'server-' || :node, now(), 'naive', :seat, 'anonymous', '', '',
    '{"seat_id": 1, "customer_name": "pgbench", "server_id": "server-1"}'::jsonb,
    '{"created_at": "2026-11-29T22:00:00.000000Z", "recorded_at": "2026-11-29T22:00:00.000000Z", "conflict": false, "hidden_ids": []}'::jsonb
      || jsonb_build_object('reservation_id', new.id)
  FROM new)
SELECT id FROM new;
END;
