"""Events cross processes: two Daphne servers sharing PostgreSQL and Redis (channels-redis)."""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request

import pytest

from tests.servers import daphne, manage, require_servers, scratch_database, server_env

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def xproc_database():
    require_servers(redis_url=REDIS_URL)
    with scratch_database("seatclock_xproc") as url:
        yield url


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_reservation_on_one_process_reaches_a_subscriber_of_the_other(xproc_database, tmp_path):
    import websockets

    env = server_env(
        DATABASE_URL=xproc_database, REDIS_URL=REDIS_URL, SEATCLOCK_CHANNEL_PREFIX=f"xproc-{secrets.token_hex(4)}"
    )
    manage(env, "migrate", "--noinput")
    manage(env, "seed_venue")

    with daphne(env, tmp_path) as server_a, daphne(env, tmp_path) as server_b:
        seats = json.loads(urllib.request.urlopen(server_b + "/api/seats", timeout=10).read())

        async def scenario():
            ws_url = server_a.replace("http://", "ws://") + "/ws/updates"
            async with websockets.connect(ws_url, origin=server_a, open_timeout=10) as ws:
                await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
                ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert ack == {"type": "subscribed", "topics": ["reservations"]}
                status, created = await asyncio.to_thread(
                    _post,
                    server_b + "/api/reservations",
                    {"seat_id": seats[0]["id"], "customer_name": "Jean Dupont", "server_id": "server-2"},
                )
                assert status == 201
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert message["type"] == "reservation_created"
                assert message["data"]["id"] == created["id"]
                assert message["data"]["seat_id"] == seats[0]["id"]
                assert message["data"]["server_id"] == "server-2"
                assert message["data"]["created_at"] == created["created_at"]

        asyncio.run(scenario())
