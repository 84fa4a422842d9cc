"""config.asgi's HTTP path (config.buffered_wsgi) driven as an ASGI server drives it: Django
runs only on complete requests, a body may arrive in pieces, an oversized body is refused
by its length (read and dropped first), a client that leaves mid-request leaves nothing behind."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from config.asgi import application
from reservations.models import Reservation

# The application runs Django in its own thread (its own database connection): committed data.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def scope(method: str, path: str, query: bytes = b"") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def exchange(method: str, path: str, messages: list[dict], query: bytes = b"") -> list[dict]:
    """Send ``messages`` to the application; everything it sent back until it finished."""

    async def run() -> list[dict]:
        app = ApplicationCommunicator(application, scope(method, path, query))
        for message in messages:
            await app.send_input(message)
        await app.wait(timeout=30)
        sent = []
        while not app.output_queue.empty():
            sent.append(await app.receive_output())
        return sent

    return async_to_sync(run)()


def test_a_body_in_pieces_is_one_request(venue):
    body = json.dumps({"seat_id": venue[3].pk, "customer_name": "Élise Morceaux", "server_id": "server-2"}).encode()
    pieces = [body[:5], body[5:20], body[20:]]
    sent = exchange(
        "POST",
        "/api/reservations",
        [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)],
    )
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 201
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    created = json.loads(sent[1]["body"])
    assert created["seat_id"] == venue[3].pk and created["customer_name"] == "Élise Morceaux"
    assert Reservation.objects.get().pk == created["id"]


def test_an_oversized_body_is_read_and_dropped_then_refused_by_its_length(venue):
    """The client gets to send it all (no reset while it writes), Django never holds it, and the
    one refusal in the envelope comes from Django's request-limits middleware."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunk = b" " * (limit // 2)
    sent = exchange(
        "POST",
        "/api/reservations",
        [{"type": "http.request", "body": chunk, "more_body": i < 2} for i in range(3)],
    )
    assert sent[0]["status"] == 413
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE" and error["details"] == {"max_bytes": limit}
    assert Reservation.objects.count() == 0


def test_a_body_beyond_the_drain_limit_is_refused_at_once(venue):
    from core.middleware import DRAIN_LIMIT

    chunk = b" " * (1024 * 1024)
    count = DRAIN_LIMIT // len(chunk) + 1
    sent = exchange(
        "POST",
        "/api/reservations",
        [{"type": "http.request", "body": chunk, "more_body": True} for _ in range(count)],
    )
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert Reservation.objects.count() == 0


def test_a_client_that_leaves_mid_body_runs_nothing(venue):
    # The JSON is whole, but the client announced more and then left: the request never completed.
    body = json.dumps({"seat_id": venue[0].pk, "customer_name": "Parti Avant"}).encode()
    sent = exchange(
        "POST",
        "/api/reservations",
        [{"type": "http.request", "body": body, "more_body": True}, {"type": "http.disconnect"}],
    )
    assert sent == []
    assert Reservation.objects.count() == 0


def test_query_strings_and_errors_keep_their_shape(venue):
    from reservations.services import reservation_create

    for seat in venue[:3]:
        reservation_create(seat_id=seat.pk, customer_name="Query Client")
    query = f"seat_id={venue[1].pk}&limit=5".encode()
    sent = exchange("GET", "/api/reservations", [{"type": "http.request", "body": b""}], query=query)
    assert sent[0]["status"] == 200
    listed = json.loads(sent[1]["body"])
    assert listed["total"] == 1 and listed["limit"] == 5
    assert listed["reservations"][0]["seat_id"] == venue[1].pk
    missing = exchange("GET", "/api/seats/999999", [{"type": "http.request", "body": b""}])
    assert missing[0]["status"] == 404
    assert json.loads(missing[1]["body"])["error"]["code"] == "SEAT_NOT_FOUND"


def test_a_post_reaches_a_websocket_subscriber_of_the_in_memory_layer(venue):
    """run.sh's demo: one process, Channels' in-memory layer, whose queues live on the server's
    event loop; the event a view publishes must be delivered there, at once."""
    from channels.testing import WebsocketCommunicator

    body = json.dumps({"seat_id": venue[8].pk, "customer_name": "Live Lecteur"}).encode()

    async def run() -> tuple[list[dict], dict]:
        ws = WebsocketCommunicator(application, "/ws/updates", headers=[(b"origin", b"http://testserver")])
        connected, _ = await ws.connect()
        assert connected
        try:
            await ws.send_json_to({"type": "subscribe", "topics": ["reservations"]})
            assert (await ws.receive_json_from())["type"] == "subscribed"
            app = ApplicationCommunicator(application, scope("POST", "/api/reservations"))
            await app.send_input({"type": "http.request", "body": body})
            start = await app.receive_output(timeout=30)
            sent = [start, await app.receive_output(timeout=30)]
            return sent, await ws.receive_json_from(timeout=1)
        finally:
            await ws.disconnect()

    sent, event = async_to_sync(run)()
    assert sent[0]["status"] == 201
    assert event["type"] == "reservation_created"
    assert event["data"]["id"] == json.loads(sent[1]["body"])["id"]


def test_the_served_application_is_frozen_out_of_the_garbage_collectors_sight():
    """config.asgi freezes what it loaded (gc.freeze): a full collection, which a large answer
    such as GET /api/seats triggers several times a second, walks only what requests made."""
    import subprocess
    import sys

    probe = (
        "import gc, sys, config.asgi; "
        "print(gc.get_freeze_count(), len(gc.get_objects()), 'reservations.api.views' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=settings.BASE_DIR
    ).stdout.split()
    frozen, tracked, views_loaded = int(out[0]), int(out[1]), out[2]
    assert frozen > 50_000, out
    assert tracked < frozen / 20, out  # what is left for the collector is small
    assert views_loaded == "True", out  # the URLconf's views were imported before the freeze
