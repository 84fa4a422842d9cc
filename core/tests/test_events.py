"""Live events on the production layer (channels-redis pub/sub on a real Redis): what the
publisher sends from a plain request thread reaches a subscriber of the layer."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from core import events
from tests.servers import skip_or_fail

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def pubsub_layer(settings):
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        skip_or_fail(f"Redis unreachable at 127.0.0.1:6379: {exc}")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": f"test-events-{secrets.token_hex(4)}"},
        }
    }
    yield get_channel_layer()
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_an_event_published_from_a_plain_thread_reaches_a_pubsub_subscriber(pubsub_layer):
    message = {"type": "reservation_created", "data": {"id": 7, "customer_name": "Zoë Ünal"}}

    async def scenario() -> dict:
        channel = await pubsub_layer.new_channel()
        await pubsub_layer.group_add(events.group_name("reservations"), channel)
        try:
            # A request thread: no event loop of its own.
            await asyncio.to_thread(events._send, "reservations", message)
            return await asyncio.wait_for(pubsub_layer.receive(channel), 10)
        finally:
            await pubsub_layer.group_discard(events.group_name("reservations"), channel)
            await pubsub_layer.flush()

    received = async_to_sync(scenario)()
    assert received["type"] == "broadcast" and received["topic"] == "reservations"
    assert received["message"] == message and json.loads(received["text"]) == message
    # Sent by the synchronous PUBLISH, not through the publisher loop's thread.
    assert any(address == REDIS_URL for address, _ in events._pubsub._clients)
