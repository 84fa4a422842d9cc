"""Live events: the one place that publishes to WebSocket subscribers.

Services call :func:`publish`; the message goes out only after the surrounding transaction
commits (never for a rolled-back write), to the Channels group of its topic.  A broken
channel layer (Redis gone) is logged and never fails the write that caused the event.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("seatclock.events")

TOPICS = ("reservations", "time_sync", "conflicts")


def group_name(topic: str) -> str:
    return f"seatclock.{topic}"


def _send(topic: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # "type" names the consumer handler; "topic" lets it drop a message that was already
        # queued when the client unsubscribed.
        async_to_sync(layer.group_send)(group_name(topic), {"type": "broadcast", "topic": topic, "message": message})
    except Exception:  # the write already committed; a live update is best-effort
        logger.warning("could not publish %s on %s", message.get("type"), topic, exc_info=True)


def publish(topic: str, event_type: str, data: dict[str, Any]) -> None:
    """Send ``{"type": event_type, "data": data}`` to ``topic`` once the transaction commits."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}")
    message = {"type": event_type, "data": data}
    transaction.on_commit(lambda: _send(topic, message))
