"""The demo stays easy to use, and its debug pages never show a secret (issue 12, item 4).

- ``./run.sh`` (the local demo, the one place with Django's debug pages) on PostgreSQL and Redis
  whose URLs carry passwords: a debug page is rendered (an oversized form) and shows neither
  password; the demo's openness holds: anyone cancels without a token, names are whole in the
  API and the live feed, the clock controls are open.
- ``./serve.sh`` with ``SEATCLOCK_MODE=demo``: the same openness, but no debug page at all.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
import websockets

from tests.processes import http, private_redis, script
from tests.servers import require_servers, scratch_database, server_env

pytestmark = pytest.mark.slow

DB_PASSWORD = "db-pw-" + secrets.token_hex(6)
REDIS_PASSWORD = "redis-pw-" + secrets.token_hex(6)


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    require_servers()
    log_dir = tmp_path_factory.mktemp("demo")
    with scratch_database("seatclock_h12_demo") as url, private_redis(log_dir, password=REDIS_PASSWORD) as redis:
        # The machine's PostgreSQL trusts loopback: the password is carried, and ignored.
        database_url = url.replace("postgres://postgres@", f"postgres://postgres:{DB_PASSWORD}@")
        env = server_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis.url,
            SEATCLOCK_MODE="demo",
            SEATCLOCK_CHANNEL_PREFIX=f"demo-{secrets.token_hex(4)}",
            WORKERS="2",
        )
        for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SEATCLOCK_RATE_LIMITS", "SEATCLOCK_OPEN_CLOCK_CONTROLS"):
            env.pop(name, None)
        yield env, log_dir


def oversized_form(base: str):
    """A 3 MB form POSTed to the admin login, with a CSRF cookie (so Django reads the body)."""
    csrf = secrets.token_hex(16)
    return http(
        "POST",
        base + "/admin/login/",
        raw=b"a=" + b"x" * 3_000_000,
        content_type="application/x-www-form-urlencoded",
        headers={"Cookie": f"csrftoken={csrf}", "X-CSRFToken": csrf},
    )


def assert_demo_is_open(server) -> None:
    """Anyone reserves, reads whole names (API and live feed), cancels without a token, moves clocks."""
    base = server.base
    seat = http("GET", base + "/api/seats").json()[0]["id"]

    async def reserve_while_listening() -> tuple[dict, dict]:
        async with websockets.connect(server.ws_base + "/ws/updates", origin=base, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            body = {"seat_id": seat, "customer_name": "Jean Dupont", "server_id": "server-1"}
            created = await asyncio.to_thread(http, "POST", base + "/api/reservations", body)
            assert created.status == 201, created.text
            return created.json(), json.loads(await asyncio.wait_for(ws.recv(), 10))

    created, event = asyncio.run(reserve_while_listening())
    assert created["customer_name"] == event["data"]["customer_name"] == "Jean Dupont"
    listed = http("GET", base + "/api/reservations").json()["reservations"]
    assert [r["customer_name"] for r in listed] == ["Jean Dupont"]
    assert http("DELETE", base + f"/api/reservations/{created['id']}").status == 204  # no token needed
    moved = http("POST", base + "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -1.5})
    assert moved.status == 200, moved.text
    assert http("POST", base + "/api/simulation/clear-offsets").status == 200


def test_run_sh_demo_has_debug_pages_without_secrets_and_stays_open(demo_env):
    env, log_dir = demo_env
    env = {**env, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    with script("./run.sh", env, log_dir, ready="/health/live") as server:
        assert oversized_form(server.base).status == 413  # refused before anything reads it
        # A request for another host: Django's debug page for a refused request.
        page = http("GET", server.base + "/admin/login/", headers={"Host": "evil.example"})
        assert page.status == 400
        assert "DisallowedHost" in page.text  # a debug page...
        assert "DATABASE_URL" in page.text and "REDIS_URL" in page.text  # ... listing the settings ...
        assert DB_PASSWORD not in page.text and REDIS_PASSWORD not in page.text  # ... without their secrets
        missing = http("GET", server.base + "/no-such-page")
        assert missing.status == 404 and "URLconf" in missing.text  # Django's debug 404
        assert_demo_is_open(server)


def test_serve_sh_in_demo_mode_has_no_debug_page_and_stays_open(demo_env):
    env, log_dir = demo_env
    with script("./serve.sh", env, log_dir) as server:
        page = oversized_form(server.base)
        assert page.status == 413
        missing = http("GET", server.base + "/no-such-page")
        assert missing.status == 404
        for reply in (page, missing):
            assert "DATABASE_URL" not in reply.text and "URLconf" not in reply.text and "Traceback" not in reply.text
            assert DB_PASSWORD not in reply.text and REDIS_PASSWORD not in reply.text
        assert_demo_is_open(server)
