"""50 requests racing for one seat across the five nodes, through real parallel connections."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from reservations.models import Reservation

# serialized_rollback restores the migrations' data (nodes, scenarios) flushed by other transactional tests.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_fifty_racers_in_sync_get_exactly_one_seat(venue):
    seat = venue[0]
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def racer(i: int) -> None:
        client = APIClient()
        try:
            barrier.wait(timeout=30)
            response = client.post(
                "/api/reservations",
                {"seat_id": seat.pk, "customer_name": f"Customer {i}", "server_id": f"server-{i % 5 + 1}"},
                format="json",
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert Counter(statuses) == {201: 1, 409: 49}
    assert Reservation.objects.filter(seat=seat, status="active").count() == 1
    # In sync there is no conflict, hence nothing for the conflicts endpoint to explain.
    assert APIClient().get("/api/reservations/conflicts").json() == {"conflicts": [], "total_conflicts": 0}


def test_race_runs_on_separate_connections(venue):
    """The racers above really use their own database sessions (not one shared connection).

    The probes hold their sessions open together (barrier) and report the server-side session
    identity: a backend PID on PostgreSQL, the DB-API connection object itself on SQLite (kept
    referenced so that Python cannot recycle its id).
    """
    sessions: list[object] = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def identity(conn) -> object:
        conn.ensure_connection()
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                return cursor.fetchone()[0]
        return conn.connection

    def probe() -> None:
        try:
            from django.db import connection as thread_connection

            session = identity(thread_connection)
            with lock:
                sessions.append(session)
            barrier.wait(timeout=30)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=probe) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    sessions.append(identity(connection))
    assert len(sessions) == 4
    assert len({id(s) if not isinstance(s, int) else s for s in sessions}) == 4
