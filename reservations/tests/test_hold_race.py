"""Holds under real parallel connections (PostgreSQL in CI): the seat lock orders holds,
confirmations and reservations, so each race has exactly one winner."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connections
from rest_framework.test import APIClient

from history.models import Operation
from reservations.models import Hold, Reservation
from reservations.services import hold_create

# serialized_rollback restores the migrations' data (nodes, scenarios) flushed by other transactional tests.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def race(requests: list[Callable[[APIClient], object]]) -> list[tuple[int, str | None]]:
    """Run every request from its own thread (its own database connection), released together
    by a barrier; returns each (status, error code)."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def racer(request: Callable[[APIClient], object]) -> None:
        try:
            client = APIClient()
            barrier.wait(timeout=30)
            response = request(client)
            code = response.json()["error"]["code"] if response.status_code >= 400 else None
            with lock:
                results.append((response.status_code, code))
        finally:
            connections.close_all()

    # One request first: the middleware's lazy singletons (django-prometheus) are not built
    # thread-safely, and the race is about the seat, not about them.
    APIClient().get("/health/live")
    threads = [threading.Thread(target=racer, args=(request,)) for request in requests]
    # A request is mostly Python work, done within one slice of the GIL (5 ms): without a short
    # switch interval the racers would mostly run one after the other and prove little.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert len(results) == len(requests)
    return results


def test_concurrent_confirms_of_one_hold_through_several_nodes_make_one_reservation(venue):
    """Two confirmations racing rarely interleave; eight per hold, five holds, do."""
    for seat in venue[:5]:
        token = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=600).token
        results = race(
            [
                lambda c, n=n, token=token: c.post(
                    f"/api/holds/{token}/confirm", {"server_id": f"server-{n % 5 + 1}"}, format="json"
                )
                for n in range(8)
            ]
        )
        assert Counter(results) == {(201, None): 1, (404, "HOLD_NOT_FOUND"): 7}, results
        assert Reservation.objects.filter(seat=seat, status="active").count() == 1
        assert Hold.objects.get(seat=seat).status == "confirmed"
        confirms = Operation.objects.filter(f="confirm", seat_id=seat.pk)
        assert Counter(confirms.values_list("outcome", "error")) == {("ok", ""): 1, ("fail", "HOLD_NOT_FOUND"): 7}


def test_holds_and_reservations_racing_for_one_seat_across_nodes_have_one_winner(venue):
    for seat in venue[:3]:
        body = {"seat_id": seat.pk, "customer_name": "Racer"}
        requests = [
            lambda c, i=i, body=body: c.post(
                "/api/holds" if i % 2 else "/api/reservations",
                {**body, "server_id": f"server-{i % 5 + 1}"},
                format="json",
            )
            for i in range(20)
        ]
        results = race(requests)
        statuses = Counter(status for status, _ in results)
        assert statuses == {201: 1, 409: 19}, results
        assert {code for _, code in results} <= {None, "SEAT_HELD", "SEAT_ALREADY_RESERVED"}
        held = Hold.objects.filter(seat=seat, status="active").count()
        sold = Reservation.objects.filter(seat=seat, status="active").count()
        assert held + sold == 1
        # Every attempt is in the history: one granted, nineteen refused.
        ops = Operation.objects.filter(seat_id=seat.pk)
        assert Counter(ops.values_list("outcome", flat=True)) == {"ok": 1, "fail": 19}
