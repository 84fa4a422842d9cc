"""Faults under a running server: each test starts the real processes it breaks.

- PostgreSQL stopped (``pg_ctl stop -m immediate``) under a running app server: the API answers
  503 in the error envelope (as the served schema documents), /health/ready says 503, and
  service comes back by itself when the database does.  A private PostgreSQL instance, never
  the machine's shared one.
- The NTP server killed: ``POST /api/time/sync`` answers 502 NTP_SYNC_FAILED and the node is
  unchanged.  (Unreachable and silent addresses are covered in-process by
  ``timesync/tests/test_sync.py``; this is a server that worked, then died.)
- Redis hung (SIGSTOP) then gone (SIGKILL) while ``REDIS_URL`` is set, rate limits on:
  reservations still succeed, /health/detailed reports the channel layer down, and up again
  once Redis is back.
"""

from __future__ import annotations

import jsonschema
import pytest

from tests.processes import app_server, http, ntp_server_process, private_postgres, private_redis, wait_for
from tests.servers import manage, server_env

pytestmark = pytest.mark.slow


def reserve(base: str, seat_id: int, name: str, server_id: str = "server-1"):
    return http("POST", base + "/api/reservations", {"seat_id": seat_id, "customer_name": name, "server_id": server_id})


def assert_envelope(reply, status: int, code: str) -> dict:
    assert reply.status == status, reply.text
    body = reply.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in reply.text
    return body["error"]


def conforms(openapi: dict, path: str, method: str, status: int, body: dict) -> None:
    """``body`` is what the served schema documents for that operation and status."""
    response = openapi["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": openapi["components"]})


# --------------------------------------------------------------------------- PostgreSQL


def test_database_stopped_under_the_server_then_back(tmp_path):
    with private_postgres() as pg:
        database = pg.create_database("seatclock")
        env = server_env(DATABASE_URL=database)
        manage(env, "migrate", "--noinput")
        manage(env, "seed_venue")

        with app_server(env, tmp_path) as server:
            base = server.base
            openapi = http("GET", base + "/openapi.json").json()
            seats = http("GET", base + "/api/seats").json()
            before = reserve(base, seats[0]["id"], "Jean Dupont")
            assert before.status == 201, before.text
            assert http("GET", base + "/health/ready").status == 200

            pg.stop_immediately()

            listed = http("GET", base + "/api/seats")
            error = assert_envelope(listed, 503, "SERVICE_UNAVAILABLE")
            assert listed.headers.get("Retry-After") == "5"
            conforms(openapi, "/api/seats", "get", 503, listed.json())
            assert error["message"]

            attempt = reserve(base, seats[1]["id"], "Marie Martin")
            assert_envelope(attempt, 503, "SERVICE_UNAVAILABLE")
            conforms(openapi, "/api/reservations", "post", 503, attempt.json())

            sync = http("POST", base + "/api/time/sync", {"server_id": "server-1"})
            assert_envelope(sync, 503, "SERVICE_UNAVAILABLE")
            status = http("GET", base + "/api/time/status?server_id=server-1")
            assert_envelope(status, 503, "SERVICE_UNAVAILABLE")

            ready = http("GET", base + "/health/ready")
            assert ready.status == 503
            assert ready.json()["status"] == "not_ready"
            assert ready.json()["checks"]["database"]["status"] == "unhealthy"
            detailed = http("GET", base + "/health/detailed")
            assert detailed.status == 503
            assert detailed.json()["checks"]["database"]["status"] == "unhealthy"
            assert http("GET", base + "/health/live").status == 200  # the process itself is fine

            pg.start()

            # Nobody restarts the app server: it reconnects on its own.
            wait_for("/health/ready back to 200", lambda: http("GET", base + "/health/ready").status == 200)
            assert http("GET", base + "/api/seats").status == 200
            after = reserve(base, seats[1]["id"], "Marie Martin")
            assert after.status == 201, after.text
            # What was committed before the outage is still there.
            kept = http("GET", base + f"/api/reservations/{before.json()['id']}")
            assert kept.status == 200
            assert kept.json()["customer_name"] == "Jean Dupont"

        assert "database unavailable" in server.log()  # logged as a warning, not as a crash


# --------------------------------------------------------------------------- NTP


def node_status(base: str, server_id: str) -> dict:
    reply = http("GET", base + f"/api/time/status?server_id={server_id}")
    assert reply.status == 200, reply.text
    return reply.json()


def test_ntp_server_killed_under_the_server(tmp_path):
    env = server_env(SEATCLOCK_DATA_DIR=str(tmp_path / "data"), SEATCLOCK_NTP_TIMEOUT="1.0", SEATCLOCK_NTP_SAMPLES="2")
    manage(env, "migrate", "--noinput")

    with (
        ntp_server_process(env, tmp_path) as ntp,
        app_server({**env, "SEATCLOCK_NTP_SERVER": ntp.address}, tmp_path) as server,
    ):
        base = server.base
        assert (
            http("POST", base + "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 5.0}).status
            == 200
        )
        synced = http("POST", base + "/api/time/sync", {"server_id": "server-2"})
        assert synced.status == 200, synced.text
        assert synced.json()["ntp_server"] == ntp.address
        assert synced.json()["offset_seconds"] == pytest.approx(-5.0, abs=0.1)

        assert (
            http("POST", base + "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 3.0}).status
            == 200
        )
        before = node_status(base, "server-2")

        ntp.kill()

        failed = http("POST", base + "/api/time/sync", {"server_id": "server-2"})
        error = assert_envelope(failed, 502, "NTP_SYNC_FAILED")
        assert error["details"]["server_id"] == "server-2"
        assert error["details"]["ntp_server"] == ntp.address
        assert error["details"]["reason"] in {"connection_refused", "timeout"}
        assert ntp.address in error["message"]

        after = node_status(base, "server-2")
        assert after["ntp_synced"] is False
        assert after["last_sync"] == before["last_sync"] == synced.json()["sync_time"]
        assert after["offset_seconds"] == pytest.approx(3.0, abs=0.1)
        assert after["last_sync_offset_seconds"] == before["last_sync_offset_seconds"]


# --------------------------------------------------------------------------- Redis


def channel_layer(base: str) -> dict:
    reply = http("GET", base + "/health/detailed")
    assert reply.status == 200, reply.text  # the database is fine: never 503 for Redis
    return {"status": reply.json()["status"], **reply.json()["checks"]["channel_layer"]}


def test_redis_hung_then_gone_reservations_still_succeed(tmp_path):
    with private_redis(tmp_path) as redis:
        # Rate limits on, as in production: their counters live in the Redis cache too.
        env = server_env(SEATCLOCK_DATA_DIR=str(tmp_path / "data"), REDIS_URL=redis.url, SEATCLOCK_RATE_LIMITS="on")
        manage(env, "migrate", "--noinput")
        manage(env, "seed_venue")

        with app_server(env, tmp_path) as server:
            base = server.base
            seats = [seat["id"] for seat in http("GET", base + "/api/seats").json()]
            assert reserve(base, seats[0], "Before").status == 201
            healthy = channel_layer(base)
            assert (healthy["status"], healthy["backend"]) == ("healthy", "RedisPubSubChannelLayer")

            redis.pause()  # hung: accepts connections, never answers
            hung = reserve(base, seats[1], "While hung", "server-2")
            assert hung.status == 201, hung.text
            assert hung.json()["conflict_detected"] is False
            assert channel_layer(base)["status"] == "unhealthy"

            redis.kill()  # gone: connections refused
            gone = reserve(base, seats[2], "While gone", "server-3")
            assert gone.status == 201, gone.text
            assert reserve(base, seats[2], "Second while gone").status == 409
            state = channel_layer(base)
            assert state["status"] == "unhealthy"
            assert state["error"] == "ConnectionError"
            listed = http("GET", base + "/api/reservations").json()
            assert {r["customer_name"] for r in listed["reservations"]} == {"Before", "While hung", "While gone"}

            redis.start()  # back, on the same port
            wait_for("channel layer healthy again", lambda: channel_layer(base)["status"] == "healthy")
            assert reserve(base, seats[3], "After").status == 201

        log = server.log()
        assert "could not publish reservation_created on reservations" in log
        assert "not applied: cache unavailable" in log


# --------------------------------------------------------------------------- timesyncd through an outage


def test_timesyncd_keeps_running_through_a_database_outage(tmp_path):
    """Issue 11: nothing stops ``timesyncd`` but a signal.  PostgreSQL stopped under it: its
    rounds are reported as failed and it goes on; once the database is back, nodes sync again."""
    import signal
    import subprocess
    import sys

    from tests.servers import BASE_DIR

    with private_postgres() as pg:
        database = pg.create_database("seatclock")
        env = server_env(DATABASE_URL=database, SEATCLOCK_NTP_TIMEOUT="0.5")
        manage(env, "migrate", "--noinput")
        with ntp_server_process(env, tmp_path) as ntp:
            log_path = tmp_path / "timesyncd.log"
            argv = [sys.executable, "manage.py", "timesyncd", "--interval", "0.2", "--ntp-server", ntp.address]
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:

                def rounds(marker: str) -> int:
                    assert proc.poll() is None, log_path.read_text()[-3000:]
                    return log_path.read_text().count(marker)

                wait_for("a round syncing every node", lambda: rounds(": 5/5 node(s) synced") >= 1)
                pg.stop_immediately()
                wait_for("two rounds reported failed", lambda: rounds("FAILED") >= 2)
                synced_before = rounds(": 5/5 node(s) synced")
                pg.start()
                wait_for("nodes synced again", lambda: rounds(": 5/5 node(s) synced") > synced_before, timeout=60)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=10) == 0, log_path.read_text()[-3000:]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert "stopped after" in log_path.read_text()
