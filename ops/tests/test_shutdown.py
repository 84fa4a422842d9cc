"""Servers that stop: every server Seatclock starts exits within 10 s of SIGTERM or SIGINT
(Ctrl-C), also while it is under load (issue 11: after a few seconds of POSTs on PostgreSQL,
``./run.sh``'s Daphne logged "Killed 17 pending application instances" and stayed alive).

The shipped commands are started as they ship (``./run.sh``, ``./serve.sh``, ``manage.py
timesyncd``, ``manage.py ntpserver``), each in its own session, loaded over real sockets (HTTP
POSTs on keep-alive connections, WebSocket subscribers, NTP datagrams), then signalled while
the load goes on.  Every process of the session must be gone within 10 s.  The load is
checked by counts (responses received before the signal), never by sleeping.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_udp_port, wait_for
from tests.servers import BASE_DIR, free_port, require_servers, scratch_database
from timesync import clock

pytestmark = pytest.mark.slow

STOP_WITHIN = 10.0  # seconds: the promise
LOADED = 150  # responses received before the signal: the server really is under load
REDIS_URL = "redis://127.0.0.1:6379/8"


# --------------------------------------------------------------------------- processes


def session_processes(sid: int) -> list[int]:
    """Every live process of session ``sid`` (the command is started as a session leader)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # after the command: state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


@contextmanager
def started(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """``argv`` in a session of its own; whatever is left of it afterwards is killed."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        for pid in session_processes(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)


def assert_stops(proc: subprocess.Popen, log_path: Path, what: str) -> float:
    """Every process of ``proc``'s session gone within STOP_WITHIN seconds; the time it took."""
    signalled = clock.monotonic()
    deadline = signalled + STOP_WITHIN
    while session_processes(proc.pid):
        if clock.monotonic() > deadline:
            left = session_processes(proc.pid)
            raise AssertionError(
                f"{what}: {len(left)} process(es) still alive {STOP_WITHIN:g} s after the signal: {left}\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.05)  # polling interval against the deadline, not a fixed wait
    return clock.monotonic() - signalled


def base_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SEATCLOCK_DATA_DIR", "PYTEST_CURRENT_TEST", "REDIS_URL"}}
    env.pop("SEATCLOCK_NTP_SERVER", None)
    env.update(
        SKIP_INSTALL="1",  # the suite's own venv (run.sh/serve.sh would otherwise run pip)
        STATIC_ROOT=str(tmp_path / "static"),
        SEATCLOCK_DATA_DIR=str(tmp_path),
        SEATCLOCK_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(overrides)
    return env


# --------------------------------------------------------------------------- load


class HttpLoad:
    """``connections`` threads POSTing reservations (random seats, random nodes) on keep-alive
    connections until stopped; ``statuses`` counts the answers."""

    def __init__(self, host: str, port: int, seats: list[int], connections: int = 32) -> None:
        self.host, self.port, self.seats = host, port, seats
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(connections)]

    def __enter__(self) -> HttpLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(15)

    @property
    def answered(self) -> int:
        with self._lock:
            return sum(self.statuses.values())

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
                body = {
                    "seat_id": rng.choice(self.seats),
                    "customer_name": f"Load {index}",
                    "server_id": f"server-{rng.randint(1, 5)}",
                }
                conn.request("POST", "/api/reservations", json.dumps(body), {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                with self._lock:
                    self.statuses[response.status] += 1
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                if self.stop.wait(0.05):  # the server is going away: do not spin
                    break
        if conn is not None:
            conn.close()


def seat_ids(port: int) -> list[int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/seats")
        return [s["id"] for s in json.loads(conn.getresponse().read())]
    finally:
        conn.close()


def answers(host: str, port: int, path: str = "/health/live") -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


# --------------------------------------------------------------------------- run.sh (Daphne + ntpserver)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    require_servers()
    with scratch_database("seatclock_shutdown") as url:
        yield url


@pytest.mark.parametrize("how", ["SIGTERM to run.sh", "Ctrl-C (SIGINT to the process group)"])
def test_run_sh_stops_within_10_s_under_load(database, tmp_path, how):
    port, ntp_port = free_port(), free_udp_port()
    env = base_env(tmp_path, DATABASE_URL=database, PORT=str(port), NTP_PORT=str(ntp_port))
    log_path = tmp_path / "run.log"
    with started(["./run.sh"], env, log_path) as proc:
        # The address is announced only once it answers (it was printed before Daphne listened).
        ready = f"Seatclock is ready: http://127.0.0.1:{port}/"
        wait_for("run.sh's ready line", lambda: ready in log_path.read_text(errors="replace"), timeout=120)
        assert proc.poll() is None and answers("127.0.0.1", port)
        with HttpLoad("127.0.0.1", port, seat_ids(port)) as load:
            wait_for(f"{LOADED} answers under load", lambda: load.answered >= LOADED, timeout=60)
            if how.startswith("SIGTERM"):
                proc.send_signal(signal.SIGTERM)
            else:
                os.killpg(proc.pid, signal.SIGINT)
            assert_stops(proc, log_path, f"run.sh after {how}")
        assert proc.wait(timeout=5) == 0, log_path.read_text()[-3000:]
    assert load.statuses[201] + load.statuses[409] >= LOADED, load.statuses
    assert "Traceback" not in log_path.read_text(errors="replace")


# --------------------------------------------------------------------------- serve.sh (Granian + ntpserver)


def test_serve_sh_stops_within_10_s_under_load(tmp_path):
    """Granian under POSTs while holding WebSocket subscribers that receive the events, the NTP
    server: SIGTERM to serve.sh stops them all within 10 s."""
    import asyncio

    import websockets

    require_servers(redis_url=REDIS_URL)
    port, ntp_port = free_port(), free_udp_port()
    with scratch_database("seatclock_shutdown_serve") as url:
        env = base_env(
            tmp_path,
            DATABASE_URL=url,
            REDIS_URL=REDIS_URL,
            SEATCLOCK_CHANNEL_PREFIX=f"shutdown-test-{secrets.token_hex(4)}",
            SEATCLOCK_MODE="demo",
            HOST="127.0.0.1",
            PORT=str(port),
            NTP_PORT=str(ntp_port),
            WORKERS="2",
        )
        log_path = tmp_path / "serve.log"
        with started(["./serve.sh"], env, log_path) as proc:
            wait_for(
                "serve.sh serving",
                lambda: proc.poll() is None and answers("127.0.0.1", port),
                timeout=120,
            )
            received = Counter()
            stop_ws = threading.Event()

            def subscribers() -> None:
                async def one() -> None:
                    url = f"ws://127.0.0.1:{port}/ws/updates"
                    async with websockets.connect(url, origin=f"http://127.0.0.1:{port}", open_timeout=10) as ws:
                        await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
                        while not stop_ws.is_set():
                            try:
                                json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                                received["messages"] += 1
                            except TimeoutError:
                                continue

                async def many() -> None:
                    await asyncio.gather(*(one() for _ in range(8)), return_exceptions=True)

                asyncio.run(many())

            ws_thread = threading.Thread(target=subscribers, daemon=True)
            ws_thread.start()
            with HttpLoad("127.0.0.1", port, seat_ids(port)) as load:
                wait_for(
                    "answers and live events under load",
                    lambda: load.answered >= LOADED and received["messages"] >= 20,
                    timeout=60,
                )
                proc.send_signal(signal.SIGTERM)
                assert_stops(proc, log_path, "serve.sh after SIGTERM")
            stop_ws.set()
            ws_thread.join(15)
            assert proc.wait(timeout=5) == 0, log_path.read_text()[-3000:]


# --------------------------------------------------------------------------- timesyncd and ntpserver


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_timesyncd_stops_within_10_s_mid_round(database, tmp_path, signum):
    """A round against a server that never answers lasts 5 nodes × the 2 s NTP timeout; the
    signal ends it between two nodes."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        env = base_env(tmp_path, DATABASE_URL=database, SEATCLOCK_NTP_TIMEOUT="2")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
        )
        log_path = tmp_path / "timesyncd.log"
        argv = [sys.executable, "manage.py", "timesyncd", "--interval", "3600", "--ntp-server"]
        with started([*argv, f"127.0.0.1:{silent.getsockname()[1]}"], env, log_path) as proc:
            # The round has begun once the first request reaches the silent server.
            silent.settimeout(60)
            silent.recvfrom(2048)
            proc.send_signal(signum)
            assert_stops(proc, log_path, f"timesyncd after {signum.name}")
            assert proc.wait(timeout=5) == 0, log_path.read_text()
        assert "stopped after 1 round(s)" in log_path.read_text()
    finally:
        silent.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ntpserver_stops_within_10_s_under_a_flood(tmp_path, signum):
    from timesync import ntp

    port = free_udp_port()
    env = base_env(tmp_path)
    log_path = tmp_path / "ntpserver.log"
    with started([sys.executable, "manage.py", "ntpserver", "--port", str(port)], env, log_path) as proc:

        def serving() -> bool:
            try:
                return ntp.query(f"127.0.0.1:{port}", samples=1, timeout=0.5).samples_used == 1
            except ntp.NtpError:
                return False

        wait_for("the NTP server answering", serving)
        stop = threading.Event()
        sent = Counter()

        def flood() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                request = bytes([0x23]) + b"\0" * 47
                while not stop.is_set():
                    sock.sendto(request, ("127.0.0.1", port))
                    sent["datagrams"] += 1

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        try:
            wait_for("a flood under way", lambda: sent["datagrams"] >= 5000, timeout=30)
            proc.send_signal(signum)
            assert_stops(proc, log_path, f"ntpserver after {signum.name}")
        finally:
            stop.set()
            flooder.join(5)
        assert proc.wait(timeout=5) == 0, log_path.read_text()
