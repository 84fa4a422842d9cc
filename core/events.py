"""Live events: the one place that publishes to WebSocket subscribers.

Services call :func:`publish` with a *domain event* (a :class:`LiveEvent`: a small object naming
its topic and type, which renders its ``data`` through its app's shape module, so an entity has
the same wire shape in the API, the live feed and the page); the message goes out only after the
surrounding transaction
commits (never for a rolled-back write), to the Channels group of its topic.  A broken
channel layer (Redis gone) is logged and never fails the write that caused the event, and a
hung one (Redis not answering) costs the request at most ``SEATCLOCK_EVENTS_TIMEOUT`` seconds.

Publishing from synchronous code (every view and service) used to go through
``async_to_sync``, which outside an ASGI server builds a thread, an event loop and therefore a
fresh Redis connection for every event.  The production layer (channels-redis pub/sub) is now
sent to by a synchronous ``PUBLISH`` from the caller's thread; another network layer is driven
from one event loop per process, in a daemon thread, reused for every event.  Either way the
caller waits for the send to finish, so events leave in order and before the response does.
The in-memory layer (tests, the single-process demo) must send on the loop its consumers live
on: from a request's worker thread under an ASGI server, that is the server's loop, reached
with a wait bounded like the others (a stopped server's loop never answers: the event is
dropped and logged, and the thread finishes, so the server can exit); elsewhere
``async_to_sync``.

The message is also serialized to JSON once here (``text``), not once per subscriber.

Audiences (DESIGN §6): each topic has one group per audience (``core.permissions.Audience``),
so an event is rendered once per audience — customer names whole for staff, as initials for
the public in production — and never per subscriber.  In the demo there is one audience.

Lost events: when a send fails (the channel layer down or hung), the next send that works is
preceded by a ``{"type": "stale"}`` message to every group, telling subscribers that events
were lost, so that they re-read the API (the seat map does).  A subscriber's own connection to
the layer is watched by the consumer (``core.consumers``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, ClassVar, Protocol

import redis
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer  # type: ignore[import-untyped]
from django.conf import settings
from django.db import transaction

from .permissions import Audience, audiences

logger = logging.getLogger("seatclock.events")

TOPICS = ("reservations", "time_sync", "conflicts")


class LiveEvent(Protocol):
    """What services publish: ``{"type": type, "data": data()}`` goes to the ``topic`` group."""

    topic: ClassVar[str]
    type: ClassVar[str]

    def data(self, audience: Audience) -> dict[str, Any]:
        """The event's wire data as ``audience`` may read it (rendered after commit, once per
        audience, never per subscriber)."""
        ...


def group_name(topic: str, audience: Audience) -> str:
    """The Channels group of ``topic``'s subscribers of ``audience``."""
    return f"seatclock.{topic}.{audience}"


HEALTH_GROUP = "seatclock.health"
STALE = {"type": "stale", "data": {"reason": "events_lost"}}


def _timeout() -> float:
    """Longest a publish may hold up the request that caused it (then it is logged as failed).

    channels_redis has no overall deadline of its own (redis-py's socket timeouts apply per
    read, several reads per send), so the whole send is bounded here."""
    return float(getattr(settings, "SEATCLOCK_EVENTS_TIMEOUT", 1.0))


class _PublisherLoop:
    """One event loop in a daemon thread, per process (re-created after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="seatclock-events", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._get())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # do not leave a send hanging on a Redis that does not answer
            raise


_publisher = _PublisherLoop()


class ServerStopping(RuntimeError):
    """The ASGI server's event loop has stopped: its subscribers are going away."""


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the ASGI server whose worker thread this is (asgiref records it for
    the thread it runs sync code in, with the process id, as ``async_to_sync`` reads it)."""
    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(local, "main_event_loop", None)
    return loop


class _PubSubPublisher:
    """``RedisPubSubChannelLayer.group_send`` done from the caller's own thread: the same
    ``PUBLISH`` (channel ``<prefix>__group__<group>``, the layer's own serializer) through a
    synchronous redis-py client, without the hop to the publisher loop's thread and its event
    loop — a third of the CPU of an event (docs/benchmarks.md).  For a layer on one Redis host
    given by URL (``settings.CHANNEL_LAYERS`` as Seatclock writes it); other layers use the loop.
    A Redis that does not answer costs at most the events timeout (socket timeouts)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, float], Any] = {}

    @staticmethod
    def address(layer: Any) -> str | None:
        if not isinstance(layer, RedisPubSubChannelLayer):
            return None
        hosts = layer._kwargs.get("hosts") or []
        if len(hosts) != 1:
            return None
        host = hosts[0]
        return host.get("address") if isinstance(host, dict) else host if isinstance(host, str) else None

    def _client(self, address: str, timeout: float) -> Any:
        client = self._clients.get((address, timeout))
        if client is None:  # redis-py's pool is thread-safe and resets itself after a fork
            client = redis.Redis.from_url(address, socket_timeout=timeout, socket_connect_timeout=timeout)
            self._clients[(address, timeout)] = client
        return client

    def publish(self, layer: Any, address: str, group: str, event: dict[str, Any], timeout: float) -> None:
        client = self._client(address, timeout)
        prefix = layer._kwargs.get("prefix", "asgi")
        client.publish(f"{prefix}__group__{group}", layer.serialize(event))

    def publish_all(self, layer: Any, address: str, sends: list[tuple[str, dict[str, Any]]], timeout: float) -> None:
        """:meth:`publish` each ``(group, event)`` in order, in one round trip (a redis-py
        pipeline without MULTI: the same ``PUBLISH`` commands, sent together)."""
        client = self._client(address, timeout)
        prefix = layer._kwargs.get("prefix", "asgi")
        pipe = client.pipeline(transaction=False)
        for group, event in sends:
            pipe.publish(f"{prefix}__group__{group}", layer.serialize(event))
        pipe.execute()


_pubsub = _PubSubPublisher()


def _group_send(layer: Any, group: str, event: dict[str, Any]) -> None:
    if isinstance(layer, InMemoryChannelLayer):
        loop = _server_loop()
        if loop is None or loop.is_closed():  # no server loop (or a finished one): as asgiref does
            async_to_sync(layer.group_send)(group, event)
            return
        if not loop.is_running():
            raise ServerStopping("the server's event loop has stopped (shutting down)")
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop)
        try:
            future.result(_timeout())
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ServerStopping(f"the server's event loop did not take the event within {_timeout():g} s") from None
    elif address := _pubsub.address(layer):
        _pubsub.publish(layer, address, group, event, _timeout())
    else:
        _publisher.run(layer.group_send(group, event), _timeout())


def ping() -> None:
    """Raise if the channel layer cannot take a message within the timeout (health checks)."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    _group_send(layer, HEALTH_GROUP, {"type": "health.ping"})


class _Losses:
    """Whether this process failed to send an event since its last successful send."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lost = False

    def mark(self) -> None:
        with self._lock:
            self.lost = True

    def take(self) -> bool:
        with self._lock:
            lost, self.lost = self.lost, False
            return lost


_losses = _Losses()


def _broadcast(topic: str, audience: Audience, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # "type" names the consumer handler; "topic" lets it drop a message that was already
    # queued when the client unsubscribed; "text" is the frame every subscriber gets.
    event = {"type": "broadcast", "topic": topic, "message": message, "text": json.dumps(message)}
    return group_name(topic, audience), event


def _group_send_all(layer: Any, sends: list[tuple[str, dict[str, Any]]]) -> None:
    """Every ``(group, event)`` in order: on the pub/sub layer in one Redis round trip (one per
    audience before: two per event in production), else one :func:`_group_send` each."""
    address = None if isinstance(layer, InMemoryChannelLayer) else _pubsub.address(layer)
    if address and len(sends) > 1:
        _pubsub.publish_all(layer, address, sends, _timeout())
        return
    for group, event in sends:
        _group_send(layer, group, event)


def _send(topic: str, messages: dict[Audience, dict[str, Any]]) -> None:
    """Send each audience its rendering of one event; a failure is logged and remembered."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        sends = []
        if _losses.take():  # events were lost since the last send: subscribers must re-read
            sends = [_broadcast(stale_topic, audience, STALE) for stale_topic in TOPICS for audience in messages]
        sends += [_broadcast(topic, audience, message) for audience, message in messages.items()]
        _group_send_all(layer, sends)
    except ServerStopping as exc:  # an expected end, not a fault: one line
        kind = next(iter(messages.values()), {}).get("type")
        logger.warning("could not publish %s on %s: %s", kind, topic, exc)
    except Exception:  # the write already committed; a live update is best-effort
        _losses.mark()
        kind = next(iter(messages.values()), {}).get("type")
        logger.warning("could not publish %s on %s", kind, topic, exc_info=True)


def publish(event: LiveEvent) -> None:
    """Send ``{"type": event.type, "data": event.data(audience)}`` to ``event.topic``'s group
    of each audience once the transaction commits (at once outside a transaction); nothing for
    a rolled-back write."""
    if event.topic not in TOPICS:
        raise ValueError(f"unknown topic {event.topic!r}")

    def send() -> None:
        _send(event.topic, {audience: {"type": event.type, "data": event.data(audience)} for audience in audiences()})

    transaction.on_commit(send)
