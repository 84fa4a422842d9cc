"""Resetting the demo (API and command): reservations cancelled, clocks back on true time, the
venue and its seat ids kept, the consistency mode kept, nothing else touched."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from reservations.models import Reservation
from reservations.services import reservation_create
from seats.models import Seat
from timesync.models import ServerNode
from timesync.services import consistency_mode_set, node_offset_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_demo(venue, frozen_clock):
    """A demo in full swing: server-2 lags 10 s (drifting), a double-booked seat, a plain one."""
    node_offset_set(server_id="server-2", offset_seconds=-10.0, drift_ppm=50.0)
    reservation_create(seat_id=venue[0].pk, customer_name="Jean Dupont", server_id="server-1")
    frozen_clock.advance(1)
    reservation_create(seat_id=venue[0].pk, customer_name="Marie Martin", server_id="server-2")
    reservation_create(seat_id=venue[5].pk, customer_name="Ana Lopez", server_id="server-3")
    consistency_mode_set("serializable")
    return venue


def test_reset_cancels_every_reservation_and_clears_every_clock(api, busy_demo, frozen_clock):
    seats_before = list(Seat.objects.order_by("id").values_list("id", "row", "number"))
    frozen_clock.advance(2)

    response = api.post("/api/simulation/reset")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "reservations_cancelled": 3,
        "cancelled_at": "2026-06-28T10:30:03Z",
        "holds_released": 0,
        "nodes_reset": 5,
        "message": "Demo reset: 3 reservation(s) cancelled, every clock back on true time",
    }
    # Soft delete: the rows stay for the audit trail, cancelled at the reset's true instant.
    assert set(Reservation.objects.values_list("status", flat=True)) == {"cancelled"}
    assert {r.cancelled_at.isoformat() for r in Reservation.objects.all()} == {"2026-06-28T10:30:03+00:00"}
    assert api.get("/api/reservations").json()["reservations"] == []
    assert api.get("/api/reservations/conflicts").json()["conflicts"] == []
    # The venue and its seat ids are kept; every seat is free.
    assert list(Seat.objects.order_by("id").values_list("id", "row", "number")) == seats_before
    assert all(seat["is_available"] for seat in api.get("/api/seats").json())
    # Every node back on true time; the mode is the presenter's choice and stays.
    assert {(n.offset_seconds, n.drift_ppm, n.ntp_synced) for n in ServerNode.objects.all()} == {(0.0, 0.0, True)}
    assert api.get("/api/simulation/consistency").json()["mode"] == "serializable"


def test_the_same_seat_can_be_reserved_again_after_a_reset(api, busy_demo):
    api.post("/api/simulation/reset")
    again = api.post(
        "/api/reservations",
        {"seat_id": busy_demo[0].pk, "customer_name": "Jean Dupont", "server_id": "server-2"},
        format="json",
    )
    assert again.status_code == 201
    assert again.json()["conflict_detected"] is False


def test_reset_of_an_empty_demo_is_harmless(api, venue):
    response = api.post("/api/simulation/reset")
    assert response.status_code == 200
    assert response.json()["reservations_cancelled"] == 0


def test_reset_needs_an_operator_in_production_mode(api, busy_demo, settings, django_user_model):
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False  # what production mode sets
    refused = api.post("/api/simulation/reset")
    assert refused.status_code in (401, 403)
    assert "error" in refused.json()
    assert Reservation.objects.active().count() == 3  # nothing changed
    assert ServerNode.objects.get(pk="server-2").offset_seconds == -10.0

    api.force_authenticate(django_user_model.objects.create_user("op", is_staff=True))
    assert api.post("/api/simulation/reset").status_code == 200
    assert Reservation.objects.active().count() == 0


def test_reset_refuses_other_methods(api, venue):
    response = api.get("/api/simulation/reset")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_reset_demo_command(busy_demo):
    out = StringIO()
    call_command("reset_demo", stdout=out)
    assert out.getvalue().strip() == (
        "Demo reset: 3 reservation(s) cancelled, 0 hold(s) released, 5 node clock(s) back on true time; "
        "venue kept (100 seats)."
    )
    assert Reservation.objects.active().count() == 0
    assert ServerNode.objects.get(pk="server-2").offset_seconds == 0.0
