"""Holds in the live feed (topic ``reservations``), through the real ASGI application: created,
confirmed (then ``reservation_created``), released, cleared by the demo's reset — never the token."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from reservations.services import hold_confirm, hold_create, hold_release
from reservations.tests.test_consumers import connect, in_memory_layer, run  # noqa: F401 (fixture)
from simulation.services import demo_reset

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_hold_events_carry_the_hold_and_never_its_token(venue):
    async def scenario():
        ws = await connect(["reservations"])
        try:
            made = await database_sync_to_async(hold_create)(
                seat_id=venue[0].pk, customer_name="Jean Dupont", server_id="server-2", ttl_seconds=60
            )
            created = await ws.receive_json_from(timeout=2)
            assert created["type"] == "hold_created"
            assert created["data"]["id"] == made.hold.pk and created["data"]["server_id"] == "server-2"
            assert created["data"]["status"] == "active" and created["data"]["customer_name"] == "Jean Dupont"
            assert made.token not in str(created)

            await database_sync_to_async(hold_confirm)(token=made.token, server_id="server-3")
            confirmed = await ws.receive_json_from(timeout=2)
            assert confirmed["type"] == "hold_confirmed"
            assert confirmed["data"]["status"] == "confirmed"
            assert confirmed["data"]["reservation"]["server_id"] == "server-3"
            reserved = await ws.receive_json_from(timeout=2)
            assert reserved["type"] == "reservation_created"
            assert reserved["data"]["id"] == confirmed["data"]["reservation_id"] == reserved["data"]["holder_id"]

            other = await database_sync_to_async(hold_create)(seat_id=venue[1].pk, customer_name="Marie Martin")
            await ws.receive_json_from(timeout=2)
            await database_sync_to_async(hold_release)(token=other.token)
            released = await ws.receive_json_from(timeout=2)
            assert (released["type"], released["data"]["id"], released["data"]["status"]) == (
                "hold_released",
                other.hold.pk,
                "released",
            )

            await database_sync_to_async(hold_create)(seat_id=venue[2].pk, customer_name="Ana Lopez")
            await ws.receive_json_from(timeout=2)
            reset = await database_sync_to_async(demo_reset)()
            kinds = [(await ws.receive_json_from(timeout=2))["type"] for _ in range(2)]
            assert kinds == ["reservations_cleared", "holds_cleared"]
            assert reset.holds.count == 1
        finally:
            await ws.disconnect()

    run(scenario)
