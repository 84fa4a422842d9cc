-- pgbench: the statements reservation_create sends, in its transaction (PostgreSQL's ceiling for
-- the full rule, without Python): seat lock with the cluster mode, the node, the seat's active
-- reservations, the insert.
\set seat random(:first, :last)
\set node random(1, 5)
BEGIN;
SELECT id, "row", number, (SELECT mode FROM timesync_consistencysettings WHERE id = 1 LIMIT 1) AS cluster_mode
  FROM seats_seat WHERE id = :seat ORDER BY "row", number LIMIT 1 FOR UPDATE;
SELECT server_id, offset_seconds, drift_ppm, offset_since FROM timesync_servernode WHERE server_id = 'server-' || :node LIMIT 1;
SELECT id, created_at, customer_name FROM reservations_reservation
  WHERE seat_id = :seat AND status = 'active' ORDER BY created_at, id;
INSERT INTO reservations_reservation (seat_id, server_id, customer_name, created_at, recorded_at, node_offset, conflict_detected, status)
  VALUES (:seat, 'server-' || :node, 'pgbench', now(), now(), 0, false, 'active') RETURNING id;
END;
