"""A sentinel live event, to check that *nothing else* reached a subscriber without waiting for
silence: published after a test's actions, it must be the next message the subscriber
receives.  A channel layer delivers the messages sent to one channel in the order they were
sent, and an action's events are sent before the service returns, so anything the action
wrongly delivered would arrive first."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from core import events

__all__ = ["publish_sentinel", "sentinel_message"]


def publish_sentinel(topic: str) -> str:
    """Publish ``{"type": "sentinel", "data": {"marker": …}}`` on ``topic``; the marker."""
    marker = secrets.token_hex(8)

    class Sentinel:
        type: ClassVar[str] = "sentinel"

        def data(self, audience: object = None) -> dict[str, Any]:
            return {"marker": marker}

    Sentinel.topic = topic  # type: ignore[attr-defined]
    events.publish(Sentinel())  # type: ignore[arg-type]
    return marker


def sentinel_message(marker: str) -> dict[str, Any]:
    """The frame a subscriber receives for the sentinel ``marker``."""
    return {"type": "sentinel", "data": {"marker": marker}}
