"""core.events under an ASGI server that stops: a live event published from a request's worker
thread never waits for an event loop that will not run again (issue 11: such waits kept
Daphne alive after SIGTERM)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

from core import events
from core.permissions import Audience
from tests.servers import skip_or_fail


class DaemonThreadExecutor(concurrent.futures.Executor):
    """Runs each call in a daemon thread, so that a call that hangs (the bug this file guards
    against) cannot keep the test process alive."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return future


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.SEATCLOCK_EVENTS_TIMEOUT = 0.5


def run_on_a_loop_that_stops(
    work: Callable[[threading.Event], None],
) -> tuple[threading.Event, asyncio.AbstractEventLoop]:
    """Start ``work(loop_stopped)`` in a worker thread of a running event loop, as an ASGI
    server runs a request (asgiref's ``sync_to_async``), then stop the loop (as Daphne does on
    SIGTERM) and tell the worker.  Returns the event the worker sets when it is done, and the
    loop (to :func:`close` once the worker is done)."""
    loop = asyncio.new_event_loop()
    started, loop_stopped, done = threading.Event(), threading.Event(), threading.Event()

    def worker() -> None:
        started.set()
        work(loop_stopped)
        done.set()

    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    call = SyncToAsync(worker, thread_sensitive=False, executor=DaemonThreadExecutor())
    request = asyncio.run_coroutine_threadsafe(call(), loop)
    assert started.wait(5)  # the request is in its worker thread
    loop.call_soon_threadsafe(loop.stop)
    runner.join(5)
    assert not loop.is_running()
    loop_stopped.set()
    request.cancel()  # its task stays pending on the stopped loop, as a killed application instance
    return done, loop


def close(loop: asyncio.AbstractEventLoop) -> None:
    """Let the cancelled request task end, then close the loop (test hygiene)."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def test_an_event_from_a_request_thread_does_not_wait_for_a_stopped_server_loop(in_memory_layer, caplog):
    caplog.set_level(logging.WARNING, logger="seatclock.events")

    def publish_after_the_loop_stopped(loop_stopped: threading.Event) -> None:
        assert loop_stopped.wait(5)
        events._send("reservations", {Audience.STAFF: {"type": "reservation_created", "data": {}}})

    done, loop = run_on_a_loop_that_stops(publish_after_the_loop_stopped)
    assert done.wait(5), "publishing waited for an event loop that had stopped"
    close(loop)
    assert "could not publish reservation_created on reservations: the server's event loop has stopped" in caplog.text


def test_an_event_from_a_request_thread_reaches_a_running_server_loop(in_memory_layer):
    """While the server runs, the event is delivered on its loop (where the consumers' queues
    live), before the request goes on."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        channel = asyncio.run_coroutine_threadsafe(layer.new_channel(), loop).result(5)
        asyncio.run_coroutine_threadsafe(
            layer.group_add(events.group_name("reservations", Audience.STAFF), channel), loop
        ).result(5)

        def request() -> None:
            events._send("reservations", {Audience.STAFF: {"type": "reservation_created", "data": {"id": 1}}})

        call = SyncToAsync(request, thread_sensitive=False, executor=DaemonThreadExecutor())
        asyncio.run_coroutine_threadsafe(call(), loop).result(5)
        message = asyncio.run_coroutine_threadsafe(layer.receive(channel), loop).result(5)
        assert message["message"] == {"type": "reservation_created", "data": {"id": 1}}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


# --- The production layer (channels-redis pub/sub on a real Redis) --------------------------

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
        await pubsub_layer.group_add(events.group_name("reservations", Audience.STAFF), channel)
        try:
            # A request thread: no event loop of its own.
            await asyncio.to_thread(events._send, "reservations", {Audience.STAFF: message})
            return await asyncio.wait_for(pubsub_layer.receive(channel), 10)
        finally:
            await pubsub_layer.group_discard(events.group_name("reservations", Audience.STAFF), channel)
            await pubsub_layer.flush()

    received = async_to_sync(scenario)()
    assert received["type"] == "broadcast" and received["topic"] == "reservations"
    assert received["message"] == message and json.loads(received["text"]) == message
    # Sent by the synchronous PUBLISH, not through the publisher loop's thread.
    assert any(address == REDIS_URL for address, _ in events._pubsub._clients)


def test_an_events_audiences_are_published_in_one_redis_round_trip(pubsub_layer, monkeypatch):
    """Production has two audiences: their two ``PUBLISH`` go out together (one write to
    Redis, one read of the replies), and each group still gets its own rendering."""
    import redis.connection

    messages = {audience: {"type": "reservation_created", "data": {"for": audience.value}} for audience in Audience}
    assert len(messages) == 2
    writes: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        writes.append(1)
        return original(self, command, check_health)

    async def scenario() -> dict:
        channels = {}
        for audience in Audience:
            channels[audience] = await pubsub_layer.new_channel()
            await pubsub_layer.group_add(events.group_name("reservations", audience), channels[audience])
        try:
            await asyncio.to_thread(events._send, "reservations", {Audience.STAFF: {"type": "warm"}})
            await pubsub_layer.receive(channels[Audience.STAFF])
            monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
            await asyncio.to_thread(events._send, "reservations", messages)
            monkeypatch.undo()
            return {a: (await asyncio.wait_for(pubsub_layer.receive(c), 10))["message"] for a, c in channels.items()}
        finally:
            for audience, channel in channels.items():
                await pubsub_layer.group_discard(events.group_name("reservations", audience), channel)
            await pubsub_layer.flush()

    assert async_to_sync(scenario)() == messages
    assert len(writes) == 1
