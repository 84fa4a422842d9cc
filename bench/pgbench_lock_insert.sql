-- pgbench: the floor of a reservation, lock the seat row then insert (no reads in between).
--   pgbench -n -c 32 -j 2 -T 15 -D first=FIRST_SEAT_ID -D last=LAST_SEAT_ID -f bench/pgbench_lock_insert.sql seatclock_bench
\set seat random(:first, :last)
\set node random(1, 5)
BEGIN;
SELECT id FROM seats_seat WHERE id = :seat FOR UPDATE;
INSERT INTO reservations_reservation (seat_id, server_id, customer_name, created_at, recorded_at, node_offset, conflict_detected, status, cancel_token_digest)
  VALUES (:seat, 'server-' || :node, 'pgbench', now(), now(), 0, false, 'active', '');
END;
