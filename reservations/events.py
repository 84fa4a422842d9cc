"""Live events: the one place that publishes to WebSocket subscribers.

Services call :func:`publish`; the message goes out only after the surrounding transaction
commits (never for a rolled-back write), to the Channels group of its topic.  A broken
channel layer (Redis gone) is logged and never fails the write that caused the event, and a
hung one (Redis not answering) costs the request at most ``SEATCLOCK_EVENTS_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger("seatclock.events")

TOPICS = ("reservations", "time_sync", "conflicts")


def group_name(topic: str) -> str:
    return f"seatclock.{topic}"


def _timeout() -> float:
    return float(getattr(settings, "SEATCLOCK_EVENTS_TIMEOUT", 1.0))


async def _group_send(layer, group: str, message: dict[str, Any]) -> None:
    # channels_redis has no overall deadline of its own (redis-py's socket timeouts apply per
    # read, several reads per send): bound the whole send.
    await asyncio.wait_for(layer.group_send(group, message), timeout=_timeout())


def ping() -> None:
    """Raise if the channel layer cannot take a message within the timeout (health checks)."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    async_to_sync(_group_send)(layer, group_name("health"), {"type": "health.ping"})


def _send(topic: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # "type" names the consumer handler; "topic" lets it drop a message that was already
        # queued when the client unsubscribed.
        async_to_sync(_group_send)(layer, group_name(topic), {"type": "broadcast", "topic": topic, "message": message})
    except Exception:  # the write already committed; a live update is best-effort
        logger.warning("could not publish %s on %s", message.get("type"), topic, exc_info=True)


def publish(topic: str, event_type: str, data: dict[str, Any]) -> None:
    """Send ``{"type": event_type, "data": data}`` to ``topic`` once the transaction commits."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    message = {"type": event_type, "data": data}
    transaction.on_commit(lambda: _send(topic, message))
