"""The ``/ws/updates`` consumer: topic subscriptions and fan-out of live events.

Clients send ``{"type": "subscribe"|"unsubscribe", "topics": [...]}``; each message is
acknowledged with the *whole* current subscription set.  Events published by
:mod:`core.events` reach the Channels group of their topic; a connection is in the
group of a topic exactly while it is subscribed to it.  Bad input never closes the socket: it
gets ``{"type": "error", "data": {"code", "message"}}`` and the connection stays open
(channels-examples' multichat pattern).
"""

from __future__ import annotations

import json
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from . import events

# Client messages are tiny (a type and at most three topics); anything bigger is refused with
# an error frame, before it is parsed.
MAX_MESSAGE_BYTES = 4096


class ClientError(Exception):
    """A client message the consumer refuses; ``code`` goes back in the error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_message(text: str | None, binary: bytes | None) -> tuple[str, list[str]]:
    """Validate one client frame and return ``(type, topics)``, or raise :class:`ClientError`."""
    if text is None:
        size = len(binary or b"")
        if size > MAX_MESSAGE_BYTES:
            raise ClientError("MESSAGE_TOO_LARGE", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
        raise ClientError("INVALID_JSON", "Send JSON text frames, not binary frames.")
    if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise ClientError("MESSAGE_TOO_LARGE", f"Messages are limited to {MAX_MESSAGE_BYTES} bytes.")
    try:
        message = json.loads(text)
    except ValueError:
        raise ClientError("INVALID_JSON", "The message is not valid JSON.")
    if not isinstance(message, dict):
        raise ClientError("INVALID_MESSAGE", 'A message is a JSON object with "type" and "topics".')
    kind = message.get("type")
    if kind not in ("subscribe", "unsubscribe"):
        raise ClientError("UNKNOWN_TYPE", f'Unknown message type {kind!r}: use "subscribe" or "unsubscribe".')
    topics = message.get("topics")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ClientError("INVALID_TOPICS", '"topics" must be a list of topic names.')
    unknown = sorted({t for t in topics if t not in events.TOPICS})
    if unknown:
        raise ClientError("UNKNOWN_TOPIC", f"Unknown topic(s) {', '.join(unknown)}; known: {', '.join(events.TOPICS)}.")
    return kind, topics


class UpdatesConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One browser (or client) connection to the live feed."""

    async def connect(self) -> None:
        self.topics: set[str] = set()
        await self.accept()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()``: that closes stale
        database connections through a thread hop before *every* handler, i.e. once per
        subscriber per live event, and was a third of the fan-out's CPU.  Nothing here
        touches the database."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        for topic in list(getattr(self, "topics", ())):
            await self.channel_layer.group_discard(events.group_name(topic), self.channel_name)
        self.topics = set()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            kind, topics = parse_client_message(text_data, bytes_data)
        except ClientError as exc:
            await self._send_json({"type": "error", "data": {"code": exc.code, "message": exc.message}})
            return
        if kind == "subscribe":
            for topic in topics:
                if topic not in self.topics:
                    await self.channel_layer.group_add(events.group_name(topic), self.channel_name)
                    self.topics.add(topic)
            await self._send_json({"type": "subscribed", "topics": self._current()})
        else:
            for topic in topics:
                if topic in self.topics:
                    await self.channel_layer.group_discard(events.group_name(topic), self.channel_name)
                    self.topics.discard(topic)
            await self._send_json({"type": "unsubscribed", "topics": self._current()})

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Group message from :func:`core.events.publish` (handler name = its ``type``)."""
        # Groups already route by topic; re-check so that a message already queued when the
        # client unsubscribed is not delivered after the acknowledgement.
        if event.get("topic") in self.topics:
            text = event.get("text")  # serialized once by the publisher, not per subscriber
            await self.send(text_data=text if isinstance(text, str) else json.dumps(event["message"]))

    def _current(self) -> list[str]:
        return [t for t in events.TOPICS if t in self.topics]

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))
