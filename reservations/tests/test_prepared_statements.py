"""The rule's statements on PostgreSQL are prepared once per connection (``reservations.access._run``):
a new connection first sends the ``PREPARE``s in a message of their own, then only ``EXECUTE``s;
PostgreSQL reuses its plans, and the plan it keeps from empty tables still reads by the seat's
index; a session that lost them (a ``DEALLOCATE`` behind our back) answers one request 503 and
prepares them again; a seat's lock timeout keeps them; a migration's lock while preparing is a
503, not the seat's LOCK_TIMEOUT; the index-only hint ends with the reads."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from reservations.models import Reservation
from reservations.services import reservation_create

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the SQL path is PostgreSQL's"),
]

NAMES = {
    "seatclock_seat_lock",
    "seatclock_seat_reads",
    "seatclock_insert_reservations_reservation",
    "seatclock_insert_reservations_hold",
}


def reserve(api, seat_id: int, name: str = "Jean Dupont", server_id: str = "server-1"):
    body = {"seat_id": seat_id, "customer_name": name, "server_id": server_id}
    return api.post("/api/reservations", body, format="json")


def prepared_here() -> dict[str, tuple[int, int]]:
    """This session's prepared statements: name -> (generic plans, custom plans) used so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
        return {name: (generic, custom) for name, generic, custom in cursor.fetchall()}


def test_a_new_connection_prepares_once_then_only_executes(api, venue):
    connection.close()
    with CaptureQueriesContext(connection) as first:
        assert reserve(api, venue[0].pk).status_code == 201
    opening, *sale = (q["sql"] for q in first.captured_queries)
    assert opening.startswith("DEALLOCATE ALL; PREPARE seatclock_seat_lock AS SELECT"), opening[:80]
    assert "FOR UPDATE OF s" in opening and all(f"PREPARE {name} AS" in opening for name in NAMES)
    assert "EXECUTE" not in opening and "BEGIN" not in opening  # a message of its own
    assert len(sale) == 2 and sale[0].startswith("BEGIN; SET LOCAL enable_seqscan = off; EXECUTE"), sale

    with CaptureQueriesContext(connection) as later:
        for seat in venue[1:9]:
            assert reserve(api, seat.pk).status_code == 201
    messages = [q["sql"] for q in later.captured_queries]
    assert len(messages) == 16, messages  # 2 round trips per sale
    assert not any("PREPARE" in m for m in messages), messages
    reads = "BEGIN; SET LOCAL enable_seqscan = off; EXECUTE seatclock_seat_lock("
    assert all(m.startswith(reads) for m in messages[::2]), messages[::2]
    assert all(m.startswith("EXECUTE seatclock_insert_reservations_reservation(") for m in messages[1::2])

    plans = prepared_here()
    assert set(plans) >= NAMES, plans
    # PostgreSQL plans the first executions for their values (5), then reuses one generic plan.
    generic, custom = plans["seatclock_seat_lock"]
    assert custom + generic == 9 and generic >= 1, plans


def test_statements_dropped_behind_its_back_cost_one_503_then_come_back(api, venue):
    assert reserve(api, venue[0].pk).status_code == 201
    connection.connection.execute("DEALLOCATE ALL")  # what a pooler's DISCARD ALL would do

    lost = reserve(api, venue[1].pk, "Marie Martin")
    assert lost.status_code == 503, lost.json()
    assert lost.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert lost["Retry-After"]
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not Reservation.objects.filter(seat=venue[1]).exists()

    again = reserve(api, venue[1].pk, "Marie Martin")
    assert again.status_code == 201, again.json()
    assert set(prepared_here()) >= NAMES


def test_the_plan_kept_from_empty_tables_still_uses_the_indexes(api, venue):
    """PostgreSQL keeps one generic plan per statement, made from the table sizes of the moment
    it made it: here empty reservations and holds.  Planned as such tables deserve, it would
    scan them whole for every sale as they grow; the rule's transaction allows index scans only."""
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reservations_reservation, reservations_hold")
    for seat in venue[:9]:
        assert reserve(api, seat.pk).status_code == 201
    assert prepared_here()["seatclock_seat_reads"][0] >= 1  # the generic plan is the one in use
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN EXECUTE seatclock_seat_reads({venue[0].pk}, 'server-1')")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scans = [line.strip() for line in plan.splitlines() if " on reservations_" in line]
    assert len(scans) == 2, plan
    for scan in scans:  # the seat's index (Django's on seat_id, or resv_seat_status_created / hold_seat_status)
        assert scan.startswith("->  Index Scan using") and "seat" in scan.split(" on ")[0], plan
    assert "Index Cond: (seat_id = $1)" in plan and "Filter" not in plan, plan


def other_session() -> psycopg.Connection:
    """A second session on the test database (another client of the same PostgreSQL)."""
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def short_lock_timeout() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")


def test_a_seat_lock_timeout_keeps_the_statements(api, venue):
    assert reserve(api, venue[0].pk).status_code == 201  # prepared
    short_lock_timeout()
    with other_session() as holder, holder.transaction():
        holder.execute("SELECT id FROM seats_seat WHERE id = %s FOR UPDATE", [venue[1].pk])
        busy = reserve(api, venue[1].pk, "Lock Waiter")
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "LOCK_TIMEOUT", busy.json()
    with CaptureQueriesContext(connection) as after:
        assert reserve(api, venue[1].pk, "Lock Waiter").status_code == 201
    assert not any("PREPARE" in q["sql"] for q in after.captured_queries)  # not prepared again


def test_a_table_locked_by_a_migration_is_a_503_not_the_seats_lock(api, venue):
    """Preparing analyses every statement of the rule: a lock held on one of its tables (a
    migration's) makes it wait past the lock timeout.  Nothing ran: 503, not LOCK_TIMEOUT on
    the seat; once the lock is gone, the next request prepares and sells."""
    connection.close()
    connection.ensure_connection()
    short_lock_timeout()
    with other_session() as migration, migration.transaction():
        migration.execute("LOCK TABLE history_operation IN ACCESS EXCLUSIVE MODE")
        blocked = reserve(api, venue[0].pk)
        assert blocked.status_code == 503, blocked.json()
        assert blocked.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert reserve(api, venue[0].pk).status_code == 201
    assert set(prepared_here()) >= NAMES


def test_the_index_only_hint_ends_with_the_reads(venue):
    """Inside a caller's transaction (an Idempotency-Key's, a confirmation's), the queries after
    the rule are planned as usual."""
    with transaction.atomic():
        reservation_create(seat_id=venue[0].pk, customer_name="Jean Dupont")
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_seqscan")
            assert cursor.fetchone()[0] == "on"
