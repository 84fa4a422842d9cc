"""The seat-map page: same rows as the API, constant queries, untrusted names escaped."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reservations.services import reservation_create, venue_replace
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def page_state(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="seatmap-state" type="application/json">') + len(
        '<script id="seatmap-state" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_page_renders_every_seat_with_its_state(client, venue, frozen_clock):
    reservation_create(seat_id=venue[0].pk, customer_name="Jean Dupont", server_id="server-1")
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=venue[1].pk, customer_name="Jean Dupont", server_id="server-1")
    reservation_create(seat_id=venue[1].pk, customer_name="Marie Martin", server_id="server-2")

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('id="seat-') == 100
    assert f'data-seat-id="{venue[0].pk}" data-label="A1"\n                data-state="reserved"' in html
    assert 'data-label="A2"\n                data-state="conflict"' in html
    assert 'aria-label="Seat A2, in conflict"' in html
    assert 'aria-label="Seat J10, available"' in html
    state = page_state(response)
    api_seats = client.get("/api/seats").json()
    assert [s["id"] for s in state["seats"]] == [s["id"] for s in api_seats]
    for seat, api_seat in zip(state["seats"], api_seats, strict=True):
        holder = seat["reservations"][0]["id"] if seat["reservations"] else None
        assert holder == (api_seat["reservation"] or {}).get("id")
    a2 = state["seats"][1]
    assert [r["customer_name"] for r in a2["reservations"]] == ["Marie Martin", "Jean Dupont"]
    assert a2["reservations"][0]["created_at"] == "2026-06-28T10:29:50Z"
    assert a2["reservations"][0]["recorded_at"] == "2026-06-28T10:30:00Z"
    assert state["nodes"] == ["server-1", "server-2", "server-3", "server-4", "server-5"]


def test_page_escapes_customer_names(client, venue):
    reservation_create(seat_id=venue[0].pk, customer_name=XSS, server_id="server-1")
    html = client.get("/").content.decode()
    assert XSS not in html
    assert page_state(client.get("/"))["seats"][0]["reservations"][0]["customer_name"] == XSS


def test_page_query_count_does_not_grow_with_the_venue(client, venue):
    for seat in venue[:5]:
        reservation_create(seat_id=seat.pk, customer_name="Jean Dupont", server_id="server-1")
    with CaptureQueriesContext(connection) as small:
        assert client.get("/").status_code == 200

    venue_replace(rows=26, seats_per_row=40, force=True)
    from seats.models import Seat

    for seat in Seat.objects.order_by("id")[:50]:
        reservation_create(seat_id=seat.pk, customer_name="Marie Martin", server_id="server-3")
    with CaptureQueriesContext(connection) as large:
        response = client.get("/")
    assert response.content.decode().count('id="seat-') == 26 * 40
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(small.captured_queries) <= 8


def test_controls_are_shown_in_demo_mode(client, venue):
    html = client.get("/").content.decode()
    assert 'data-controls-enabled="true"' in html
    assert 'data-scenario="major_drift"' in html
    assert 'id="clear-offsets"' in html


def test_controls_hidden_from_anonymous_users_in_production_mode(client, venue, settings):
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False  # what production mode sets
    html = client.get("/").content.decode()
    assert 'data-controls-enabled="false"' in html
    assert "data-scenario=" not in html
    assert "sync-button" not in html


def test_controls_follow_the_api_switch_not_the_mode_name(client, venue, settings):
    """The page shows controls exactly when the API would accept them (one switch for both)."""
    settings.SEATCLOCK_PRODUCTION = True
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = True
    assert 'data-controls-enabled="true"' in client.get("/").content.decode()
    assert client.post("/api/simulation/clear-offsets").status_code == 200


@pytest.mark.parametrize("path", ["/static/seatmap.js", "/static/seatmap.css"])
def test_static_assets_are_served(client, path):
    response = client.get(path)
    try:
        assert response.status_code == 200
        assert b"".join(response.streaming_content)
    finally:
        response.close()


def test_consistency_mode_is_shown_and_switchable_only_with_controls(client, venue, settings):
    from timesync.services import consistency_mode_set

    consistency_mode_set("bounded")
    html = client.get("/").content.decode()
    assert '<strong id="consistency-mode">bounded</strong>' in html
    assert 'data-mode="bounded" aria-pressed="true"' in html
    assert page_state(client.get("/"))["consistency"]["mode"] == "bounded"
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False  # what production mode sets
    html = client.get("/").content.decode()
    assert '<strong id="consistency-mode">bounded</strong>' in html  # everyone sees the mode
    assert "mode-button" not in html  # only staff switch it
