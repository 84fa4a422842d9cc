"""The hardening rules in process, where a real process cannot pin them down exactly: the
production settings as ``SEATCLOCK_MODE=production`` derives them, initials, a WebSocket client
that vanishes while its acknowledgement is being sent, concurrent retries of one
Idempotency-Key, text rules, identifiers in error details."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connections

from config.asgi import application
from core.permissions import Audience
from reservations.models import Reservation
from reservations.shapes import customer_name, initials
from tests.sentinel import publish_sentinel, sentinel_message
from tests.servers import BASE_DIR, mode_settings


def test_production_mode_itself_turns_every_protection_on_and_the_demo_off():
    assert mode_settings("production") == {
        "DEBUG": False,
        "SEATCLOCK_OPEN_CLOCK_CONTROLS": False,
        "SEATCLOCK_RATE_LIMITS": True,
        "SEATCLOCK_CANCEL_TOKEN_REQUIRED": True,
        "SEATCLOCK_PUBLIC_NAMES": False,
        "NUM_PROXIES": 0,
    }
    assert mode_settings("demo") == {
        "DEBUG": False,  # only run.sh turns debug pages on
        "SEATCLOCK_OPEN_CLOCK_CONTROLS": True,
        "SEATCLOCK_RATE_LIMITS": False,
        "SEATCLOCK_CANCEL_TOKEN_REQUIRED": False,
        "SEATCLOCK_PUBLIC_NAMES": True,
        "NUM_PROXIES": 0,
    }


def test_debug_is_refused_in_production_mode():
    env = {**os.environ, "SEATCLOCK_MODE": "production", "SECRET_KEY": "x" * 50, "DEBUG": "true"}
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "DEBUG must be off" in done.stderr


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Jean Dupont", "J. D."),
        ("jean-pierre dupont", "J.-P. D."),
        ("Éloïse", "É."),
        ("  Marie   Curie ", "M. C."),
        ("李小龙", "李."),
    ],
)
def test_initials(name, shown):
    assert initials(name) == shown
    assert customer_name(name, Audience.PUBLIC) == shown
    assert customer_name(name, Audience.STAFF) == name


# --------------------------------------------------------------------------- WebSocket cleanup


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_client_gone_while_its_ack_is_sent_leaves_no_group_membership(settings):
    """uvicorn raises on a send to a socket the client closed: the consumer must still leave
    the groups it joined (the shipped config.asgi application, in-memory layer)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()

    async def scenario() -> None:
        incoming = [
            {"type": "websocket.connect"},
            {"type": "websocket.receive", "text": json.dumps({"type": "subscribe", "topics": ["reservations"]})},
        ]
        sent: list[dict] = []

        async def receive() -> dict:
            if incoming:
                return incoming.pop(0)
            await asyncio.Event().wait()  # nothing more from this client
            return {}

        async def send(message: dict) -> None:
            sent.append(message)
            if message.get("type") == "websocket.send":  # the ack: the client is gone
                raise OSError("client disconnected")

        scope = {
            "type": "websocket",
            "path": "/ws/updates",
            "headers": [(b"origin", b"http://testserver"), (b"host", b"testserver")],
            "query_string": b"",
            "subprotocols": [],
        }
        await application(scope, receive, send)
        assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send"]

    async_to_sync(scenario)()
    assert not any(layer.groups.values()), layer.groups


# --------------------------------------------------------------------------- Idempotency-Key


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_retries_with_one_key_make_one_reservation(venue):
    from rest_framework.test import APIClient

    body = {"seat_id": venue[0].pk, "customer_name": "Jean Dupont", "server_id": "server-1"}
    answers: list = []
    start = threading.Barrier(8)

    def retry() -> None:
        start.wait()
        try:
            response = APIClient().post("/api/reservations", body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 32)
            answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Reservation.objects.count() == 1
    first = Reservation.objects.get()
    assert [status for status, _ in answers] == [201] * 8
    assert {json.dumps(body, sort_keys=True) for _, body in answers} == {
        json.dumps(answers[0][1], sort_keys=True)
    }  # the first answer, cancel token included
    assert answers[0][1]["id"] == first.pk


@pytest.mark.django_db
def test_without_a_key_each_post_is_its_own_request_and_bad_keys_are_refused(api, venue):
    body = {"seat_id": venue[1].pk, "customer_name": "Jean Dupont"}
    assert api.post("/api/reservations", body, format="json").status_code == 201
    assert api.post("/api/reservations", body, format="json").status_code == 409
    for key in ("short", "x" * 256, "with space", "caf\u00e9-caf\u00e9"):
        refused = api.post(
            "/api/reservations", {**body, "seat_id": venue[2].pk}, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        assert refused.status_code == 400 and "Idempotency-Key" in refused.json()["error"]["details"]
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
def test_a_definitive_refusal_is_kept_and_replayed(api, venue):
    key = {"HTTP_IDEMPOTENCY_KEY": "transient-key-1"}
    missing = api.post("/api/reservations", {"seat_id": 999_999, "customer_name": "Jean"}, format="json", **key)
    assert missing.status_code == 404  # a definitive answer: kept
    again = api.post("/api/reservations", {"seat_id": 999_999, "customer_name": "Jean"}, format="json", **key)
    assert again.status_code == 404 and again["Idempotent-Replayed"] == "true"


# --------------------------------------------------------------------------- text and ids


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "Jean\u0085Dupont",
        "Jean\u009bDupont",
        "Jean \u202eDupont",
        "Jean\u200bDupont",
        "Jean\u2028",
        "J\ue000",
        "J\u0378",
    ],
)
def test_names_with_refused_unicode_categories_change_nothing(api, venue, name):
    response = api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": name}, format="json")
    assert response.status_code == 400 and "customer_name" in response.json()["error"]["details"]
    assert Reservation.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "status"), [("J\u0301", 400), ("J\u0301\u0301\u0301", 400), ("Jé", 201), ("J D", 201)]
)
def test_length_minimums_count_visible_characters(api, venue, name, status):
    response = api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": name}, format="json")
    assert response.status_code == status, response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/seats/999", {"seat_id": 999}),
        ("/api/seats/abc", {"seat_id": None}),
        (f"/api/seats/{2**64}", {"seat_id": None}),
        ("/api/reservations/12345", {"reservation_id": 12345}),
        ("/api/reservations/a%00b", {"reservation_id": None}),
    ],
)
def test_ids_in_error_details_are_integers_or_null(api, venue, path, detail):
    assert api.get(path).json()["error"]["details"] == detail


@pytest.mark.django_db
def test_deep_json_and_too_many_fields_are_400(api):
    deep = api.generic("POST", "/api/reservations", "[" * 5000 + "]" * 5000, content_type="application/json")
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "VALIDATION_ERROR"
    just_deep = api.generic("POST", "/api/reservations", "[" * 33 + "]" * 33, content_type="application/json")
    assert just_deep.status_code == 400
    fields = api.get("/api/reservations?" + "&".join(f"f{i}=1" for i in range(1001)))
    assert fields.status_code == 400 and fields.json()["error"]["code"] == "BAD_REQUEST"


# --------------------------------------------------------------------------- client identity


def test_client_address_reads_x_forwarded_for_only_behind_declared_proxies(rf, settings):
    from ops.throttling import ApiRateThrottle, client_address

    forwarded = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7")
    expected = {0: "10.0.0.1", 1: "198.51.100.7", 2: "203.0.113.9", 5: "203.0.113.9"}
    for proxies, address in expected.items():
        settings.NUM_PROXIES = proxies
        assert client_address(forwarded) == ApiRateThrottle().get_ident(forwarded) == address
    settings.NUM_PROXIES = 1
    assert client_address(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"  # not through the proxy


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_reset_the_reservation_limit(api, settings):
    from django.core.cache import cache

    cache.clear()
    settings.SEATCLOCK_RATE_LIMITS = True
    settings.SEATCLOCK_RATE_LIMIT_RESERVATIONS = "3/min"
    attempt = {"seat_id": 999_999, "customer_name": "Rate Limited"}
    statuses = [api.post("/api/reservations", attempt, format="json").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    forged = api.post("/api/reservations", attempt, format="json", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forged.status_code == 429 and forged["X-RateLimit-Remaining"] == "0"
    cache.clear()


# --------------------------------------------------------------------------- lost events


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_after_a_lost_event_subscribers_are_told_stale_once_before_the_next_event(settings, monkeypatch):
    """A publish that failed (Redis down for this process) is followed, once the layer works
    again, by one ``stale`` frame per client (shipped ASGI app, in-memory layer)."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from core import events

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    working = events._group_send

    def broken(layer, group, event):
        raise ConnectionError("Redis is down")

    async def scenario() -> list[dict]:
        ws = WebsocketCommunicator(application, "/ws/updates", headers=[(b"origin", b"http://testserver")])
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "subscribe", "topics": ["reservations", "time_sync", "conflicts"]})
        assert (await ws.receive_json_from())["type"] == "subscribed"
        monkeypatch.setattr(events, "_group_send", broken)
        await database_sync_to_async(events._send)("reservations", {Audience.STAFF: {"type": "lost", "data": {}}})
        monkeypatch.setattr(events, "_group_send", working)
        await database_sync_to_async(events._send)("time_sync", {Audience.STAFF: {"type": "after", "data": {}}})
        received = [await ws.receive_json_from(timeout=2) for _ in range(2)]
        marker = await database_sync_to_async(publish_sentinel)("time_sync")  # nothing else came before it
        assert await ws.receive_json_from(timeout=2) == sentinel_message(marker)
        await ws.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert received == [{"type": "stale", "data": {"reason": "events_lost"}}, {"type": "after", "data": {}}]
