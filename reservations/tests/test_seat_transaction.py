"""The own transaction of a reservation or a hold on PostgreSQL (``reservations.access.seat_transaction``):
BEGIN sent with the locked reads, COMMIT with the insert, a ROLLBACK for anything that stops
it — through the API, in committed transactions (a test's own transaction would turn it into
``atomic()``: the last test)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from history.models import Operation
from reservations.models import Reservation
from timesync.services import consistency_mode_set, node_offset_set

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the SQL path is PostgreSQL's"),
]


def reserve(api, seat_id: int, name: str, server_id: str, **headers):
    body = {"seat_id": seat_id, "customer_name": name, "server_id": server_id}
    return api.post("/api/reservations", body, format="json", **headers)


def rule_messages(captured: CaptureQueriesContext) -> list[str]:
    """The messages sent, but the preparation of the rule's statements (once per connection:
    ``test_prepared_statements.py``)."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("DEALLOCATE ALL; PREPARE")]


def assert_two_round_trips(captured: CaptureQueriesContext, table: str) -> None:
    """The own transaction's two messages: BEGIN with the locked reads, the insert into ``table``
    (and its history row) with COMMIT."""
    statements = rule_messages(captured)
    assert len(statements) == 2, statements
    assert statements[0].startswith("BEGIN; SET LOCAL enable_seqscan = off; EXECUTE seatclock_seat_lock("), statements
    assert statements[1].startswith(f"EXECUTE seatclock_insert_{table}("), statements[1][:80]
    assert statements[1].endswith("; COMMIT"), statements[1][-80:]


def idle() -> bool:
    """No transaction left open on this thread's connection."""
    return connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_sale_is_two_round_trips_begin_with_the_reads_commit_with_the_insert(api, venue):
    with CaptureQueriesContext(connection) as captured:
        response = reserve(api, venue[0].pk, "Jean Dupont", "server-1")
    assert response.status_code == 201, response.json()
    assert_two_round_trips(captured, "reservations_reservation")
    assert idle()
    kept = Reservation.objects.get(pk=response.json()["id"])  # committed: another read sees it
    assert Operation.objects.filter(f="reserve", outcome="ok", value__reservation_id=kept.pk).count() == 1


def test_a_refusal_rolls_back_then_appends_its_history(api, venue):
    assert reserve(api, venue[0].pk, "Jean Dupont", "server-1").status_code == 201
    refused = reserve(api, venue[0].pk, "Marie Martin", "server-3")
    assert refused.status_code == 409, refused.json()
    assert idle()
    assert Reservation.objects.filter(seat=venue[0], status="active").count() == 1
    assert Operation.objects.filter(f="reserve", outcome="fail", error="SEAT_ALREADY_RESERVED").count() == 1
    # The seat's lock went with the rollback: the next sale of another seat is not held up.
    assert reserve(api, venue[1].pk, "Marie Martin", "server-3").status_code == 201


def test_a_fenced_node_after_the_reads_rolls_back_and_writes_nothing(api, venue):
    consistency_mode_set(mode="bounded")
    node_offset_set(server_id="server-2", offset_seconds=30.0)
    response = reserve(api, venue[0].pk, "Jean Dupont", "server-2")
    assert response.status_code == 503, response.json()
    assert response.json()["error"]["code"] == "TIME_DRIFT_DETECTED"
    assert idle()
    assert not Reservation.objects.filter(seat=venue[0]).exists()
    assert reserve(api, venue[0].pk, "Jean Dupont", "server-1").status_code == 201


def test_inside_a_transaction_already_it_is_atomic(api, venue):
    """An Idempotency-Key's record is written in a transaction around the view: the rule then
    runs in Django's atomic() (a savepoint), and nothing of its own is sent."""
    with CaptureQueriesContext(connection) as captured:
        response = reserve(api, venue[0].pk, "Jean Dupont", "server-1", HTTP_IDEMPOTENCY_KEY="key-0001-abcd")
    assert response.status_code == 201, response.json()
    statements = rule_messages(captured)
    assert not any("BEGIN; " in s or s.endswith("; COMMIT") for s in statements), statements
    assert idle()
    assert Reservation.objects.filter(pk=response.json()["id"]).exists()


def test_a_hold_is_two_round_trips_too(api, venue):
    with CaptureQueriesContext(connection) as captured:
        response = api.post(
            "/api/holds",
            {"seat_id": venue[0].pk, "customer_name": "Jean Dupont", "server_id": "server-1", "ttl_seconds": 60},
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert_two_round_trips(captured, "reservations_hold")
    assert idle()
    refused = reserve(api, venue[0].pk, "Marie Martin", "server-1")  # the hold is live on its clock
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "SEAT_HELD", refused.json()
    assert idle()
