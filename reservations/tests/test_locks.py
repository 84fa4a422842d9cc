"""The seat lock: a writer waits for another's lock at most the lock timeout, then gets a 409."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from core.locks import lock_rows
from reservations.models import Reservation
from seats.models import Seat

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # plain db wraps tests in a transaction
def test_a_lock_outside_a_transaction_is_a_programming_error():
    with pytest.raises(RuntimeError, match="needs a transaction"):
        lock_rows(Seat.objects.all())


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_seat_locked_past_the_lock_timeout_is_409_with_retry_after(api, venue):
    seat = venue[0]
    params = connection.get_connection_params()
    with psycopg.connect(**params) as other:
        other.execute("SELECT id FROM seats_seat WHERE id = %s FOR UPDATE", [seat.pk])  # holds it (open tx)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        try:
            response = api.post(
                "/api/reservations",
                {"seat_id": seat.pk, "customer_name": "Jean Dupont", "server_id": "server-1"},
                format="json",
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        other.rollback()
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "LOCK_TIMEOUT"
    assert int(response["Retry-After"]) >= 1
    assert not Reservation.objects.exists()
    # Once the other transaction is gone, the same request goes through.
    again = api.post(
        "/api/reservations",
        {"seat_id": seat.pk, "customer_name": "Jean Dupont", "server_id": "server-1"},
        format="json",
    )
    assert again.status_code == 201


@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lock_serialises_writers_of_one_seat(venue):
    """Holding the seat lock, a second connection cannot take it (NOWAIT fails at once)."""
    seat = venue[1]
    params = connection.get_connection_params()
    with transaction.atomic():
        lock_rows(Seat.objects.filter(pk=seat.pk))
        with psycopg.connect(**params) as other, pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT id FROM seats_seat WHERE id = %s FOR UPDATE NOWAIT", [seat.pk])
