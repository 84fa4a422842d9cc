"""The seat-map page: same rows as the API, constant queries, untrusted names escaped, the
timeline's data on load, fr/en, its assets served from here (offline)."""

from __future__ import annotations

import hashlib
import html as htmllib
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reservations.services import reservation_create, venue_replace
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


SEAT_BUTTON = re.compile(
    r'<button type="button" class="seat seat--(\w+)"[^>]*?data-label="(\w+)"[^>]*?aria-label="([^"]*)"'
)


def seat_buttons(html: str) -> dict[str, tuple[str, str]]:
    """Each rendered seat by label: (state class, aria-label)."""
    return {label: (state, htmllib.unescape(aria)) for state, label, aria in SEAT_BUTTON.findall(html)}


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
    buttons = seat_buttons(html)
    assert len(buttons) == 100
    assert buttons["A1"] == ("reserved", "Seat A1, booked")
    assert buttons["A2"] == ("conflict", "Seat A2, double-booked")
    assert buttons["J10"] == ("available", "Seat J10, free")
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
    # What the timeline replays from: both stamps per reservation (above), every node's clock in
    # /api/time/servers' shape (offset, drift and since when), and the modes the server knows.
    clocks = state["clocks"]
    assert clocks["true_time"] == "2026-06-28T10:30:00Z"
    server2 = next(s for s in clocks["servers"] if s["server_id"] == "server-2")
    assert (server2["offset_seconds"], server2["offset_since"]) == (-10.0, "2026-06-28T10:30:00Z")
    assert {k: clocks[k] for k in ("consistency_mode", "fence_limit_seconds")} == {
        k: client.get("/api/time/servers").json()[k] for k in ("consistency_mode", "fence_limit_seconds")
    }
    assert state["consistency"]["modes"] == client.get("/api/simulation/consistency").json()["modes"]


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
    assert client.post("/api/simulation/clear-offsets", content_type="application/json").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/seatmap.js",
        "/static/seatmap.css",
        "/static/timeline.js",
        "/static/vendor/d3/d3.min.js",
        "/static/vendor/d3/LICENSE",
        "/static/favicon.svg",
    ],
)
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


def test_vendored_d3_is_the_published_file():
    """pages/static/vendor/d3/d3.min.js is D3 7.9.2's dist/d3.min.js from the npm registry, unchanged
    (``npm pack d3@7.9.2``), with its licence beside it."""
    from django.conf import settings

    vendor = settings.BASE_DIR / "pages" / "static" / "vendor" / "d3"
    digest = hashlib.sha256((vendor / "d3.min.js").read_bytes()).hexdigest()
    assert digest == "912111098ea99503a6f4967361d2bbdc9dbf58cf9c678c8e27e5b02d1a07f0c1"
    assert (vendor / "d3.min.js").read_text().startswith("// https://d3js.org v7.9.2")
    assert "Permission to use, copy, modify" in (vendor / "LICENSE").read_text()


def test_page_follows_accept_language(client, venue):
    fr = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    assert '<html lang="fr">' in fr
    assert "Horloges des nœuds" in fr and "Réinitialiser" in fr
    assert seat_buttons(fr)["A1"] == ("available", "Siège A1, libre")
    en = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in en and "Node clocks" in en


def test_language_switch_is_remembered(client, venue):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert "Horloges des nœuds" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_javascript_strings_are_translated(client):
    fr = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "En direct" in fr and "serait cl" in fr  # "would be fenced"
    en = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "En direct" not in en


def test_the_page_names_no_setting_and_hard_codes_no_mode():
    """The audience reads words, not setting names; the modes and the fence come from the server
    (h11's commit_wait and fence at half the bound need no change here)."""
    from django.conf import settings

    static = settings.BASE_DIR / "pages" / "static"
    script = (static / "seatmap.js").read_text() + (static / "timeline.js").read_text()
    template = (settings.BASE_DIR / "pages" / "templates" / "seatmap.html").read_text()
    for text in (script, template):
        assert "MAX_CLOCK_OFFSET" not in text
        assert "80 %" not in text
        assert '"naive", "bounded"' not in text  # no list of modes of its own
    assert "{% for mode in consistency.modes %}" in template


# --- Stolen and zombie holds for the timeline: the checker's witness pairs ----------------------


def test_hold_anomalies_name_the_stolen_and_the_zombie_hold_with_their_witnesses(client, venue, frozen_clock):
    from reservations.errors import SeatHeld
    from reservations.services import hold_create

    stolen_seat, zombie_seat = venue[0], venue[1]
    node_offset_set(server_id="server-3", offset_seconds=+20.0)
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    stolen = hold_create(seat_id=stolen_seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60).hold
    zombie = hold_create(seat_id=zombie_seat.pk, customer_name="Ana", server_id="server-1", ttl_seconds=60).hold
    frozen_clock.advance(45)  # server-3 reads 65 s: the first hold has expired for it, 15 s early
    thief = reservation_create(seat_id=stolen_seat.pk, customer_name="Marie", server_id="server-3").reservation
    frozen_clock.advance(20)  # 5 s past the true end; server-2 reads 55 s: the second is live for it
    with pytest.raises(SeatHeld):
        reservation_create(seat_id=zombie_seat.pk, customer_name="Luc", server_id="server-2")

    body = client.get("/seat-map/hold-anomalies").json()
    by_kind = {a["kind"]: a for a in body["anomalies"]}
    assert sorted(by_kind) == ["stolen_hold", "zombie_hold"]
    theft = by_kind["stolen_hold"]
    assert (theft["seat_id"], theft["hold_id"], theft["reservation_id"]) == (stolen_seat.pk, stolen.pk, thief.pk)
    assert theft["witness"]["node"] == "server-3" and theft["witness"]["f"] == "reserve"
    assert theft["hold"]["node"] == "server-1" and "stolen hold" in theft["explanation"]
    assert (
        theft["hold"]["true_expires_at"]
        == client.get(f"/api/holds?seat_id={stolen_seat.pk}&include_expired=true").json()["holds"][0]["true_expires_at"]
    )
    ghost = by_kind["zombie_hold"]
    assert (ghost["seat_id"], ghost["hold_id"], ghost["reservation_id"]) == (zombie_seat.pk, zombie.pk, None)
    assert (ghost["witness"]["node"], ghost["witness"]["error"]) == ("server-2", "SEAT_HELD")
    # One seat only; a bad seat id is a 400 in the API's envelope.
    only = client.get(f"/seat-map/hold-anomalies?seat_id={zombie_seat.pk}").json()["anomalies"]
    assert [a["kind"] for a in only] == ["zombie_hold"]
    bad = client.get("/seat-map/hold-anomalies?seat_id=x")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_hold_anomalies_are_the_historys_readers_only(client, venue, settings):
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False  # what production mode sets
    response = client.get("/seat-map/hold-anomalies")
    assert response.status_code == 403 and response.json()["error"]["code"] == "PERMISSION_DENIED"
