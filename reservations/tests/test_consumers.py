"""The /ws/updates consumer, driven through the real ASGI application (in-memory layer)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from config.asgi import application
from core import events
from core.consumers import MAX_MESSAGE_BYTES
from core.timefmt import iso_utc
from reservations.services import conflict_resolve, reservation_cancel, reservation_create
from simulation.services import demo_reset
from tests.sentinel import publish_sentinel, sentinel_message
from timesync.events import NodeSynced
from timesync.models import ServerNode
from timesync.services import consistency_mode_set, node_offset_set, node_offsets_clear

# serialized_rollback: the nodes and scenarios of the data migrations survive the flushes.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ORIGIN = [(b"origin", b"http://testserver")]


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    yield
    async_to_sync(get_channel_layer().flush)()


def run(test: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(test)()


async def connect(topics: list[str] | None = None) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/updates", headers=ORIGIN)
    connected, _ = await ws.connect()
    assert connected
    if topics is not None:
        await ws.send_json_to({"type": "subscribe", "topics": topics})
        assert await ws.receive_json_from() == {"type": "subscribed", "topics": topics}
    return ws


async def error_code(ws: WebsocketCommunicator) -> str:
    message = await ws.receive_json_from()
    assert message["type"] == "error"
    assert message["data"]["message"]
    return message["data"]["code"]


async def still_open(ws: WebsocketCommunicator) -> None:
    """The connection still answers: a subscribe round trip works."""
    await ws.send_json_to({"type": "subscribe", "topics": []})
    assert (await ws.receive_json_from())["type"] == "subscribed"


create = database_sync_to_async(reservation_create)


async def nothing_else(ws: WebsocketCommunicator, topic: str) -> None:
    """Nothing was delivered to ``ws`` (subscribed to ``topic``): a sentinel published now on
    ``topic`` is the next message it receives (no waiting for silence)."""
    marker = await database_sync_to_async(publish_sentinel)(topic)
    assert await ws.receive_json_from(timeout=2) == sentinel_message(marker)


def test_subscribe_acknowledges_the_whole_current_set(venue):
    async def scenario():
        ws = await connect()
        try:
            await ws.send_json_to({"type": "subscribe", "topics": ["conflicts"]})
            assert await ws.receive_json_from() == {"type": "subscribed", "topics": ["conflicts"]}
            await ws.send_json_to({"type": "subscribe", "topics": ["reservations", "conflicts"]})
            assert await ws.receive_json_from() == {"type": "subscribed", "topics": ["reservations", "conflicts"]}
            await ws.send_json_to({"type": "unsubscribe", "topics": ["conflicts"]})
            assert await ws.receive_json_from() == {"type": "unsubscribed", "topics": ["reservations"]}
        finally:
            await ws.disconnect()

    run(scenario)


def test_unsubscribed_client_receives_nothing(venue):
    async def scenario():
        ws = await connect()
        try:
            await create(seat_id=venue[0].pk, customer_name="Jean Dupont", server_id="server-1")
            await still_open(ws)  # the acknowledgement is the next message: nothing came before it
        finally:
            await ws.disconnect()

    run(scenario)


def test_reservation_created_reaches_reservation_subscribers_only(venue):
    async def scenario():
        resv = await connect(["reservations"])
        clocks = await connect(["time_sync", "conflicts"])
        try:
            outcome = await create(seat_id=venue[0].pk, customer_name="Jean Dupont", server_id="server-1")
            message = await resv.receive_json_from(timeout=2)
            r = outcome.reservation
            assert message == {
                "type": "reservation_created",
                "data": {
                    "id": r.pk,
                    "seat_id": venue[0].pk,
                    "customer_name": "Jean Dupont",
                    "server_id": "server-1",
                    "created_at": iso_utc(r.created_at),
                    "recorded_at": iso_utc(r.recorded_at),
                    "holder_id": r.pk,  # additive: the seat's holder after this write
                },
            }
            await nothing_else(clocks, "time_sync")
        finally:
            await resv.disconnect()
            await clocks.disconnect()

    run(scenario)


def test_reservation_cancelled_is_delivered(venue):
    async def scenario():
        outcome = await create(seat_id=venue[1].pk, customer_name="Marie Martin", server_id="server-2")
        ws = await connect(["reservations"])
        try:
            cancelled = await database_sync_to_async(reservation_cancel)(reservation_id=outcome.reservation.pk)
            message = await ws.receive_json_from(timeout=2)
            assert message == {
                "type": "reservation_cancelled",
                "data": {
                    "id": outcome.reservation.pk,
                    "seat_id": venue[1].pk,
                    "server_id": "server-2",
                    "holder_id": None,
                    "cancelled_at": iso_utc(cancelled.cancelled_at),  # additive: true time (the timeline)
                },
            }
        finally:
            await ws.disconnect()

    run(scenario)


def test_demo_reset_announces_one_clearing_and_the_clocks(venue):
    async def scenario():
        await database_sync_to_async(node_offset_set)(server_id="server-2", offset_seconds=-10.0)
        for seat in venue[:3]:
            await create(seat_id=seat.pk, customer_name="Jean Dupont", server_id="server-1")
        ws = await connect(["reservations", "time_sync"])
        try:
            reset = await database_sync_to_async(demo_reset)()
            cleared = await ws.receive_json_from(timeout=2)
            assert cleared == {
                "type": "reservations_cleared",
                "data": {"cancelled": 3, "cancelled_at": iso_utc(reset.reservations.at)},
            }
            clocks = await ws.receive_json_from(timeout=2)
            assert clocks["type"] == "offsets_changed"
            assert {s["server_id"]: s["offset_seconds"] for s in clocks["data"]["servers"]}["server-2"] == 0.0
            await nothing_else(ws, "reservations")  # one event for the clearing, not one per seat
        finally:
            await ws.disconnect()

    run(scenario)


def test_conflict_detected_after_a_lagging_node_double_books(venue):
    async def scenario():
        await database_sync_to_async(node_offset_set)(server_id="server-2", offset_seconds=-10.0)
        ws = await connect(["conflicts"])
        try:
            first = await create(seat_id=venue[2].pk, customer_name="Jean Dupont", server_id="server-1")
            second = await create(seat_id=venue[2].pk, customer_name="Marie Martin", server_id="server-2")
            assert second.conflict_detected
            message = await ws.receive_json_from(timeout=2)
            assert message["type"] == "conflict_detected"
            data = message["data"]
            # The spec's shape: ordered by timestamp, server-2's stamp is 10 s earlier, so it "wins".
            assert data["seat_id"] == venue[2].pk
            assert [{k: r[k] for k in ("id", "customer_name")} for r in data["reservations"]] == [
                {"id": second.reservation.pk, "customer_name": "Marie Martin"},
                {"id": first.reservation.pk, "customer_name": "Jean Dupont"},
            ]
            # Additively: the stamps, who truly came first, and why server-2 could not see Jean.
            marie, jean = data["reservations"]
            assert (marie["server_id"], marie["node_offset_seconds"], jean["reason"]) == ("server-2", -10.0, None)
            assert f"could not see #{first.reservation.pk}" in marie["reason"]
            assert (data["winner_id"], data["true_first_id"], data["fair"]) == (
                second.reservation.pk,
                first.reservation.pk,
                False,
            )
            assert data["explanation"] == [f"#{second.reservation.pk}: {marie['reason']}"]
            await nothing_else(ws, "conflicts")  # reservation_created is another topic
        finally:
            await ws.disconnect()

    run(scenario)


def test_conflict_resolved_is_delivered_on_conflicts(venue):
    async def scenario():
        await database_sync_to_async(node_offset_set)(server_id="server-2", offset_seconds=-10.0)
        first = await create(seat_id=venue[7].pk, customer_name="Jean Dupont", server_id="server-1")
        second = await create(seat_id=venue[7].pk, customer_name="Marie Martin", server_id="server-2")
        ws = await connect(["conflicts"])
        others = await connect(["reservations", "time_sync"])
        try:
            resolution = await database_sync_to_async(conflict_resolve)(
                seat_id=venue[7].pk, policy="earliest_timestamp"
            )
            assert await ws.receive_json_from(timeout=2) == {
                "type": "conflict_resolved",
                "data": {
                    "seat_id": venue[7].pk,
                    "policy": "earliest_timestamp",
                    "kept_id": second.reservation.pk,
                    "bumped_ids": [first.reservation.pk],
                    "fair": False,
                    "holder_id": second.reservation.pk,
                    "bumped_at": iso_utc(resolution.bumped[0].bumped_at),  # additive: true time (the timeline)
                },
            }
            await nothing_else(others, "reservations")
            await nothing_else(others, "time_sync")
        finally:
            await ws.disconnect()
            await others.disconnect()

    run(scenario)


def test_consistency_mode_changed_is_forwarded_on_time_sync(venue):
    async def scenario():
        ws = await connect(["time_sync"])
        others = await connect(["reservations", "conflicts"])
        try:
            await database_sync_to_async(consistency_mode_set)("bounded")
            assert await ws.receive_json_from(timeout=2) == {
                "type": "consistency_mode_changed",
                "data": {
                    "mode": "bounded",
                    "max_clock_offset_seconds": 0.5,
                    "fence_limit_seconds": 0.25,
                    "cockroachdb_fence_limit_seconds": 0.4,
                    "assumed_drift_ppm": 200.0,
                    "modes": ["naive", "bounded", "serializable", "commit_wait"],
                },
            }
            await nothing_else(others, "reservations")
            await nothing_else(others, "conflicts")
        finally:
            await ws.disconnect()
            await others.disconnect()

    run(scenario)


def test_offsets_changed_is_delivered_on_time_sync(venue):
    async def scenario():
        ws = await connect(["time_sync"])
        try:
            await database_sync_to_async(node_offset_set)(server_id="server-3", offset_seconds=2.5)
            message = await ws.receive_json_from(timeout=2)
            assert message["type"] == "offsets_changed"
            (server,) = message["data"]["servers"]
            assert server["server_id"] == "server-3"
            assert server["offset_seconds"] == pytest.approx(2.5)
            assert server["ntp_synced"] is False

            await database_sync_to_async(node_offsets_clear)()
            message = await ws.receive_json_from(timeout=2)
            assert message["type"] == "offsets_changed"
            assert {s["server_id"] for s in message["data"]["servers"]} >= {f"server-{i}" for i in range(1, 6)}
            assert all(s["offset_seconds"] == 0 and s["ntp_synced"] for s in message["data"]["servers"])
        finally:
            await ws.disconnect()

    run(scenario)


def test_time_sync_update_is_delivered(venue):
    """A published ``time_sync_update`` (what ``node_sync`` sends after an NTP exchange)."""

    def publish_sync():
        from django.db import transaction

        with transaction.atomic():
            node = ServerNode.objects.get(pk="server-1")
            events.publish(NodeSynced(node, correction=0.002, delay=0.0005))

    async def scenario():
        ws = await connect(["time_sync"])
        try:
            await database_sync_to_async(publish_sync)()
            assert await ws.receive_json_from(timeout=2) == {
                "type": "time_sync_update",
                "data": {"server_id": "server-1", "offset_seconds": 0.002, "synced": True, "delay_seconds": 0.0005},
            }
        finally:
            await ws.disconnect()

    run(scenario)


def test_rolled_back_write_publishes_nothing(venue):
    def failing_write():
        from django.db import transaction

        with transaction.atomic():
            reservation_create(seat_id=venue[3].pk, customer_name="Ghost", server_id="server-1")
            transaction.set_rollback(True)

    async def scenario():
        ws = await connect(["reservations", "conflicts"])
        try:
            await database_sync_to_async(failing_write)()
            await nothing_else(ws, "reservations")
            await nothing_else(ws, "conflicts")
        finally:
            await ws.disconnect()

    run(scenario)


def test_unsubscribe_stops_delivery(venue):
    async def scenario():
        ws = await connect(["reservations", "conflicts"])
        try:
            await ws.send_json_to({"type": "unsubscribe", "topics": ["reservations"]})
            assert await ws.receive_json_from() == {"type": "unsubscribed", "topics": ["conflicts"]}
            await create(seat_id=venue[4].pk, customer_name="Jean Dupont", server_id="server-1")
            await nothing_else(ws, "conflicts")
        finally:
            await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "INVALID_JSON"),
        ('["subscribe"]', "INVALID_MESSAGE"),
        ('{"type": "ping", "topics": []}', "UNKNOWN_TYPE"),
        ('{"topics": ["reservations"]}', "UNKNOWN_TYPE"),
        ('{"type": "subscribe", "topics": "reservations"}', "INVALID_TOPICS"),
        ('{"type": "subscribe"}', "INVALID_TOPICS"),
        ('{"type": "subscribe", "topics": [1]}', "INVALID_TOPICS"),
        ('{"type": "subscribe", "topics": ["reservations", "weather"]}', "UNKNOWN_TOPIC"),
        ('{"type": "unsubscribe", "topics": ["weather"]}', "UNKNOWN_TOPIC"),
    ],
)
def test_bad_message_gets_an_error_and_the_connection_stays_open(venue, frame, code):
    async def scenario():
        ws = await connect()
        try:
            await ws.send_to(text_data=frame)
            assert await error_code(ws) == code
            await still_open(ws)
        finally:
            await ws.disconnect()

    run(scenario)


def test_unknown_topic_changes_nothing(venue):
    async def scenario():
        ws = await connect(["conflicts"])
        try:
            await ws.send_json_to({"type": "subscribe", "topics": ["reservations", "weather"]})
            assert await error_code(ws) == "UNKNOWN_TOPIC"
            await create(seat_id=venue[5].pk, customer_name="Jean Dupont", server_id="server-1")
            await nothing_else(ws, "conflicts")  # "reservations" was not subscribed
        finally:
            await ws.disconnect()

    run(scenario)


def test_oversized_frame_is_refused_and_the_connection_stays_open(venue):
    async def scenario():
        ws = await connect()
        try:
            padding = "x" * MAX_MESSAGE_BYTES
            await ws.send_to(text_data=json.dumps({"type": "subscribe", "topics": ["reservations"], "pad": padding}))
            assert await error_code(ws) == "MESSAGE_TOO_LARGE"
            await ws.send_to(bytes_data=b"\0" * (MAX_MESSAGE_BYTES + 1))
            assert await error_code(ws) == "MESSAGE_TOO_LARGE"
            # The refused subscribe did not subscribe.
            await still_open(ws)
            await create(seat_id=venue[6].pk, customer_name="Jean Dupont", server_id="server-1")
            await still_open(ws)  # the acknowledgement is the next message: nothing came before it
        finally:
            await ws.disconnect()

    run(scenario)


def test_frame_at_the_limit_is_accepted(venue):
    async def scenario():
        ws = await connect()
        try:
            base = json.dumps({"type": "subscribe", "topics": ["reservations"], "pad": ""})
            frame = json.dumps({"type": "subscribe", "topics": ["reservations"], "pad": "x" * (4096 - len(base))})
            assert len(frame.encode()) == MAX_MESSAGE_BYTES
            await ws.send_to(text_data=frame)
            assert await ws.receive_json_from() == {"type": "subscribed", "topics": ["reservations"]}
        finally:
            await ws.disconnect()

    run(scenario)


def test_binary_frame_is_an_error(venue):
    async def scenario():
        ws = await connect()
        try:
            await ws.send_to(bytes_data=b'{"type": "subscribe", "topics": []}')
            assert await error_code(ws) == "INVALID_JSON"
            await still_open(ws)
        finally:
            await ws.disconnect()

    run(scenario)


def test_foreign_origin_is_rejected(settings):
    settings.ALLOWED_HOSTS = ["seatclock.example"]

    async def scenario():
        # AllowedHostsOriginValidator reads ALLOWED_HOSTS when the app is built.
        from channels.auth import AuthMiddlewareStack
        from channels.routing import URLRouter
        from channels.security.websocket import AllowedHostsOriginValidator

        from core.routing import websocket_urlpatterns

        app = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ws = WebsocketCommunicator(app, "/ws/updates", headers=[(b"origin", b"http://evil.example")])
        connected, _ = await ws.connect()
        assert not connected
        await ws.disconnect()
        ok = WebsocketCommunicator(app, "/ws/updates", headers=[(b"origin", b"https://seatclock.example")])
        connected, _ = await ok.connect()
        assert connected
        await ok.disconnect()

    run(scenario)
