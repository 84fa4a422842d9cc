"""The ``/ws/updates`` consumer: topic subscriptions and fan-out of live events.

Clients send ``{"type": "subscribe"|"unsubscribe", "topics": [...]}``; each message is
acknowledged with the *whole* current subscription set.  Events published by
:mod:`core.events` reach the Channels group of their topic and of the connection's audience
(``core.permissions.audience_of`` of the session's user, known through ``AuthMiddlewareStack``:
staff see customer names whole, the public in production as initials).  Bad input never closes
the socket: it gets ``{"type": "error", "data": {"code", "message"}}`` and the connection stays
open (channels-examples' multichat pattern).

Group memberships are left on every exit path: a close, a send to a socket the client already
closed (uvicorn raises there), a crash.  A topic is recorded *before* its ``group_add`` is
awaited, and :meth:`UpdatesConsumer.__call__` discards every recorded group when the connection
ends, however it ends.

A live feed that silently stops is worse than none: while clients are connected, each process
checks its channel layer with a numbered heartbeat through it (:class:`LayerMonitor`).  When a
heartbeat cannot be sent or does not come back within five intervals, events may have been
lost: every client of the process gets ``{"type": "stale", ...}`` and is closed (code 1013, try
again later), so it reconnects and re-reads the API (the seat map re-syncs on every
subscription).  A subscribe the layer cannot serve is answered the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from . import events
from .permissions import Audience, audience_of

logger = logging.getLogger("seatclock.live")

#: Close code sent with a ``stale`` frame: "try again later" (RFC 6455 registry).
TRY_AGAIN_LATER = 1013

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


class LayerMonitor:
    """Checks, while consumers of this event loop are connected, that the channel layer still
    carries messages: every ``SEATCLOCK_WS_HEARTBEAT`` seconds a numbered heartbeat is sent to a
    channel of its own and must come back within five intervals.  Otherwise (the send failed,
    or the heartbeat was lost: Redis down, hung or restarted) every consumer is told its feed is
    stale and closed.  The in-memory layer cannot lose messages and is not watched."""

    def __init__(self) -> None:
        self.consumers: weakref.WeakSet[UpdatesConsumer] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None

    def watch(self, consumer: UpdatesConsumer) -> None:
        self.consumers.add(consumer)
        layer = get_channel_layer()
        if layer is None or isinstance(layer, InMemoryChannelLayer):
            return
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run(layer))

    def forget(self, consumer: UpdatesConsumer) -> None:
        self.consumers.discard(consumer)

    async def _run(self, layer: Any) -> None:
        interval = float(settings.SEATCLOCK_WS_HEARTBEAT)
        channel: str | None = None
        sequence = 0
        while self.consumers:
            try:
                if channel is None:
                    channel = await layer.new_channel("heartbeat.")
                sequence += 1
                await asyncio.wait_for(layer.send(channel, {"type": "heartbeat", "seq": sequence}), 5 * interval)
                await asyncio.wait_for(self._receive(layer, channel, sequence), 5 * interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("live events interrupted (%s): telling %d clients", exc.__class__.__name__, len(self))
                channel = None  # the layer may have dropped it; a new one once it works again
                await self._stale()
            await asyncio.sleep(interval)

    @staticmethod
    async def _receive(layer: Any, channel: str, sequence: int) -> None:
        while (await layer.receive(channel)).get("seq") != sequence:
            pass  # a late heartbeat from before an interruption

    async def _stale(self) -> None:
        for consumer in list(self.consumers):
            await consumer.stale()

    def __len__(self) -> int:
        return len(self.consumers)


_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerMonitor] = weakref.WeakKeyDictionary()


def monitor() -> LayerMonitor:
    """The :class:`LayerMonitor` of the running event loop."""
    loop = asyncio.get_running_loop()
    if loop not in _monitors:
        _monitors[loop] = LayerMonitor()
    return _monitors[loop]


class UpdatesConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One browser (or client) connection to the live feed."""

    topics: set[str]
    audience: Audience

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer loop; whatever ends it, the connection leaves its groups."""
        self.topics = set()
        self._task = asyncio.current_task()
        self._closing_stale = False
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            if not self._closing_stale:
                raise
            # Told stale by the layer monitor: close from this task, the one reading the socket.
            # (Granian acts on a close only once the task awaiting receive() has stopped.)
            if self._task is not None:
                self._task.uncancel()
            try:
                await self.close(code=TRY_AGAIN_LATER)
            except OSError:
                pass  # already gone
        finally:
            await self._leave_all()

    async def connect(self) -> None:
        self.audience = audience_of(self.scope.get("user"))
        await self.accept()
        monitor().watch(self)

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
        await self._leave_all()

    async def _leave_all(self) -> None:
        """Leave every group this connection joined or was joining (idempotent)."""
        monitor().forget(self)
        topics: set[str] = getattr(self, "topics", set())
        self.topics = set()
        for topic in topics:
            try:
                await self.channel_layer.group_discard(self._group(topic), self.channel_name)
            except Exception:  # the layer is down: its memberships expire or die with it
                logger.warning("could not leave %s", self._group(topic), exc_info=True)

    def _group(self, topic: str) -> str:
        return events.group_name(topic, self.audience)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            kind, topics = parse_client_message(text_data, bytes_data)
        except ClientError as exc:
            await self._send_json({"type": "error", "data": {"code": exc.code, "message": exc.message}})
            return
        if kind == "subscribe":
            try:
                for topic in topics:
                    if topic not in self.topics:
                        self.topics.add(topic)  # recorded first: left on every exit path
                        await self.channel_layer.group_add(self._group(topic), self.channel_name)
            except Exception as exc:
                logger.warning("subscribe failed: channel layer unavailable (%s)", exc.__class__.__name__)
                await self.stale()
                return
            await self._send_json({"type": "subscribed", "topics": self._current()})
        else:
            for topic in topics:
                if topic in self.topics:
                    await self.channel_layer.group_discard(self._group(topic), self.channel_name)
                    self.topics.discard(topic)
            await self._send_json({"type": "unsubscribed", "topics": self._current()})

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Group message from :func:`core.events.publish` (handler name = its ``type``)."""
        # Groups already route by topic; re-check so that a message already queued when the
        # client unsubscribed is not delivered after the acknowledgement.
        topic = event.get("topic")
        if topic not in self.topics:
            return
        message = event.get("message") or {}
        if message.get("type") == "stale" and topic != self._current()[0]:
            return  # sent to every topic's group: forward it once
        text = event.get("text")  # serialized once by the publisher, not per subscriber
        await self._send_text(text if isinstance(text, str) else json.dumps(message))

    async def stale(self) -> None:
        """Tell the client its feed missed events, and close (code 1013, try again later): it
        reconnects and re-reads.  Called from the layer monitor's task: the close itself is
        sent by the consumer's own task, which this stops waiting for the client."""
        try:
            await self._send_json({"type": "stale", "data": {"reason": "live_updates_interrupted"}})
        except (OSError, StopConsumer):
            return  # already gone
        task = getattr(self, "_task", None)
        if task is None or task is asyncio.current_task():
            await self.close(code=TRY_AGAIN_LATER)
            return
        self._closing_stale = True
        task.cancel()

    def _current(self) -> list[str]:
        return [t for t in events.TOPICS if t in self.topics]

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self._send_text(json.dumps(payload))

    async def _send_text(self, text: str) -> None:
        try:
            await self.send(text_data=text)
        except OSError:  # the client closed meanwhile (uvicorn raises ClientDisconnected)
            raise StopConsumer() from None
