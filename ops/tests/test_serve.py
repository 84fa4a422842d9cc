"""serve.sh, the production serving command, started for real: Granian (2 workers) + NTP server
on a fresh PostgreSQL database of its own and Redis; the page, the API and /ws/ on one origin;
a reservation POSTed over HTTP reaches a WebSocket subscriber (whichever worker holds it);
static files and readiness — all of it while more stalled clients (trickling headers, or a
body) hold connections open than there are workers; SIGTERM stops it all."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from tests.servers import BASE_DIR, free_port, require_servers, scratch_database
from timesync import clock

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/8"


@pytest.fixture
def serve_database():
    require_servers(redis_url=REDIS_URL)
    with scratch_database("seatclock_serve") as url:
        yield url


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_processes(sid: int) -> list[int]:
    """Every live process of session ``sid`` (serve.sh is started as a session leader)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, pgrp, session, …; zombies are already dead.
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _get(url: str) -> tuple[int, Message, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()  # names in any case


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def _stall(port: int, opening: bytes) -> socket.socket:
    """A client that sent the start of a request and then nothing more (slowloris, slow POST)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(opening)
    return conn


def test_serve_sh_serves_api_websocket_static_and_stops_cleanly(serve_database, tmp_path):
    import websockets

    port, ntp_port = free_port(), free_udp_port()
    env = {k: v for k, v in os.environ.items() if k not in {"SEATCLOCK_DATA_DIR", "PYTEST_CURRENT_TEST"}}
    env.update(
        DATABASE_URL=serve_database,
        REDIS_URL=REDIS_URL,
        SEATCLOCK_CHANNEL_PREFIX=f"serve-test-{secrets.token_hex(4)}",  # no cross-talk with others on this Redis
        SEATCLOCK_MODE="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        HOST="127.0.0.1",
        PORT=str(port),
        NTP_PORT=str(ntp_port),
        WORKERS="2",
        STATIC_ROOT=str(tmp_path / "static"),
        SKIP_INSTALL="1",  # the suite's own venv; serve.sh's pip step is ensure_venv, as in run.sh
    )
    env.pop("SEATCLOCK_NTP_SERVER", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["./serve.sh"], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    stalled: list[socket.socket] = []
    try:
        deadline = clock.monotonic() + 120
        while True:
            assert proc.poll() is None, f"serve.sh exited: {log_path.read_text()[-3000:]}"
            try:
                if _get(base + "/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            assert clock.monotonic() < deadline, f"serve.sh did not come up: {log_path.read_text()[-3000:]}"
            time.sleep(0.2)  # bounded wait for the servers to come up

        # More stalled clients than workers (2) and threads: a request line and headers that never
        # end, and complete headers announcing a body that never comes.  Every check below runs
        # while they hold their connections (gunicorn's sync workers stopped answering at 2).
        for _ in range(4):
            stalled.append(_stall(port, b"GET /api/seats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "))
            stalled.append(
                _stall(
                    port,
                    b"POST /api/reservations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                )
            )

        status, _, body = _get(base + "/health/ready")
        assert status == 200 and json.loads(body)["checks"]["database"]["status"] == "healthy"
        # The servers were told the NTP server serve.sh started on NTP_PORT (not the 1123 default).
        status, _, body = _get(base + "/health/detailed")
        assert json.loads(body)["checks"]["ntp_sync"]["ntp_server"] == f"127.0.0.1:{ntp_port}"

        # Static files from collectstatic, through WhiteNoise (hashed-name-free, compressed storage).
        assert (tmp_path / "static" / "seatmap.css").is_file()
        status, headers, css = _get(base + "/static/seatmap.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css") and b".seat" in css

        # One origin: the page opens its WebSocket on its own host and port.
        status, _, page = _get(base + "/")
        assert status == 200 and b'data-ws-port=""' in page

        status, _, metrics = _get(base + "/metrics")
        assert status == 200 and b"reservations_total" in metrics

        seats = json.loads(_get(base + "/api/seats")[2])
        assert len(seats) == 100

        async def scenario() -> tuple[dict, dict]:
            ws_url = f"ws://127.0.0.1:{port}/ws/updates"
            async with websockets.connect(ws_url, origin=base, open_timeout=10) as ws:
                await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
                ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert ack == {"type": "subscribed", "topics": ["reservations"]}
                status, created = await asyncio.to_thread(
                    _post,
                    base + "/api/reservations",
                    {"seat_id": seats[7]["id"], "customer_name": "Jeanne Serve", "server_id": "server-3"},
                )
                assert status == 201
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                return created, message

        created, message = asyncio.run(scenario())
        assert message["type"] == "reservation_created"
        assert message["data"]["id"] == created["id"]
        assert message["data"]["seat_id"] == seats[7]["id"]
        assert message["data"]["server_id"] == "server-3"
        assert message["data"]["created_at"] == created["created_at"]

        # Nothing of the stalled requests reached Django: no reservation but the one above.
        assert [r["id"] for r in json.loads(_get(base + "/api/reservations")[2])["reservations"]] == [created["id"]]

        children = _session_processes(proc.pid)
        # serve.sh, the NTP server, Granian's main process and its 2 workers.
        assert len(children) >= 5, children
    finally:
        for conn in stalled:
            conn.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"serve.sh ignored SIGTERM: {log_path.read_text()[-3000:]}") from None

    assert code == 0, log_path.read_text()[-3000:]
    deadline = clock.monotonic() + 15
    while _session_processes(proc.pid):
        assert clock.monotonic() < deadline, f"left behind: {_session_processes(proc.pid)}"
        time.sleep(0.2)  # bounded wait for the children to be reaped
