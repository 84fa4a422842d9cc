"""The reset orders itself with reservations through the seat lock (PostgreSQL, real connections).

A reservation in flight on a seat (its transaction holds the seat lock) must be cancelled by a
reset that started meanwhile: the reset waits for the lock, then cancels what the seat holds.
Without the lock the reset's UPDATE would run at once, miss the uncommitted reservation, and
leave it active after "every reservation cancelled".
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from reservations.models import Reservation
from reservations.services import reservation_create
from simulation.services import demo_reset
from tests.servers import skip_or_fail
from timesync import clock
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def waiting_on_a_lock(pid_holder: list[int]) -> bool:
    """Whether the reset's session (its backend pid) is waiting for a row lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid_holder[0]])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def test_reset_waits_for_a_reservation_in_flight_and_cancels_it(venue):
    if connection.vendor != "postgresql":
        skip_or_fail("row locks need PostgreSQL (SQLite serialises every writer anyway)")
    seat = venue[0]
    node_offset_set(server_id="server-2", offset_seconds=-10.0)  # so it double-books the seat
    reservation_create(seat_id=seat.pk, customer_name="Jean Dupont", server_id="server-1")
    locked, go = threading.Event(), threading.Event()
    reset_pid: list[int] = []
    reset_done = threading.Event()
    errors: list[BaseException] = []

    def in_flight() -> None:
        try:
            with transaction.atomic():  # holds the seat lock until "go"
                reservation_create(seat_id=seat.pk, customer_name="Marie Martin", server_id="server-2")
                locked.set()
                assert go.wait(30)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def reset() -> None:
        try:
            connection.ensure_connection()
            reset_pid.append(connection.connection.info.backend_pid)
            demo_reset()
        except BaseException as exc:
            errors.append(exc)
        finally:
            reset_done.set()
            connections.close_all()

    writer = threading.Thread(target=in_flight)
    writer.start()
    assert locked.wait(30), errors
    resetter = threading.Thread(target=reset)
    resetter.start()
    deadline = clock.monotonic() + 30
    while not (reset_pid and waiting_on_a_lock(reset_pid)):
        assert not reset_done.is_set(), "the reset did not wait for the seat lock held by a reservation in flight"
        assert clock.monotonic() < deadline, "the reset never waited for the seat lock"
        reset_done.wait(0.01)
    go.set()
    writer.join(30)
    resetter.join(30)

    assert errors == []
    assert Reservation.objects.filter(seat=seat).count() == 2
    assert Reservation.objects.active().count() == 0
