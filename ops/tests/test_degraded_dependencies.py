"""In-process checks of the fixes the fault tests led to (the real-server versions are in
test_faults.py): live events are bounded in time, /health/detailed reports the channel layer,
rate limits fail open when their cache is unreachable."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError

from core import events
from core.permissions import Audience

pytestmark = pytest.mark.django_db


class HungLayer:
    """A channel layer whose sends never complete, like channels_redis facing a stopped Redis."""

    async def group_send(self, group, message):
        await asyncio.Event().wait()


class BrokenLayer:
    async def group_send(self, group, message):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def run_in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=30)
    return thread


def test_a_hung_channel_layer_does_not_hold_the_publisher(monkeypatch, settings, caplog):
    settings.SEATCLOCK_EVENTS_TIMEOUT = 0.2
    monkeypatch.setattr(events, "get_channel_layer", HungLayer)
    with caplog.at_level(logging.WARNING, logger="seatclock.events"):
        thread = run_in_thread(
            lambda: events._send("reservations", {Audience.STAFF: {"type": "reservation_created", "data": {}}})
        )
    assert not thread.is_alive(), "publishing to a hung channel layer never returned"
    assert "could not publish reservation_created on reservations" in caplog.text


def test_reservation_succeeds_with_a_broken_channel_layer(
    api, venue, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(events, "get_channel_layer", BrokenLayer)
    body = {"seat_id": venue[0].pk, "customer_name": "Jean Dupont"}
    with (
        caplog.at_level(logging.WARNING, logger="seatclock.events"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = api.post("/api/reservations", body, format="json")
    assert response.status_code == 201
    assert len(callbacks) == 1
    assert "could not publish reservation_created" in caplog.text


def test_health_detailed_reports_the_channel_layer(client):
    body = client.get("/health/detailed").json()
    assert body["status"] == "healthy"
    assert body["checks"]["channel_layer"]["status"] == "healthy"
    assert body["checks"]["channel_layer"]["backend"] == "InMemoryChannelLayer"


def test_health_detailed_is_degraded_not_down_without_live_events(client, monkeypatch):
    monkeypatch.setattr(events, "get_channel_layer", BrokenLayer)
    response = client.get("/health/detailed")
    assert response.status_code == 200  # the API still works; only live updates are lost
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["channel_layer"] == {
        "status": "unhealthy",
        "backend": "BrokenLayer",
        "error": "ConnectionError",
    }
    assert body["checks"]["database"]["status"] == "healthy"


def test_rate_limits_fail_open_when_their_cache_is_down(api, venue, settings, monkeypatch, caplog):
    settings.SEATCLOCK_RATE_LIMITS = True

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(cache, "get", unreachable)
    with caplog.at_level(logging.WARNING, logger="seatclock.throttling"):
        seats = api.get("/api/seats")
        reserved = api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": "Jean"}, format="json")
    assert seats.status_code == 200
    assert reserved.status_code == 201
    assert "X-RateLimit-Limit" not in reserved
    assert "rate limit api not applied: cache unavailable" in caplog.text
    assert "rate limit reservations not applied: cache unavailable" in caplog.text
