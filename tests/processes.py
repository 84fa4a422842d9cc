"""Real processes for the fault and durability tests, each private to one test.

The app server, a PostgreSQL instance, a Redis and Seatclock's NTP server, each on a free
loopback port, started and stopped (or killed) by the test that owns it.  The machine's shared
PostgreSQL (5432) and Redis (6379) are never touched.  A missing binary skips locally and
fails under ``CI=true`` (``skip_or_fail``).
"""

from __future__ import annotations

import glob
import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import BASE_DIR, free_port, skip_or_fail
from timesync import clock


def server_argv(port: int) -> list[str]:
    """The command that serves the app on ``127.0.0.1:port``.

    Daphne today; if the serving setup changes, this is the one place to change.
    """
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]


# --------------------------------------------------------------------------- small helpers


def wait_for(what: str, predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = clock.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if clock.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)  # polling interval, not a fixed wait


class Headers(dict):
    """Response headers, looked up without regard to case (HTTP header names are
    case-insensitive: Granian sends them in lower case, Daphne and gunicorn capitalised)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((str(k).lower(), v) for k, v in (items.items() if isinstance(items, dict) else items))

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class Reply:
    status: int
    headers: Headers
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
    source: str | None = None,
    timeout: float = 15.0,
) -> Reply:
    """One HTTP request (a JSON ``body``, or ``raw`` bytes), from the loopback address
    ``source`` if given (a client of its own for rate limits); an HTTP error status is a
    :class:`Reply`, a connection failure raises."""
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    headers = {**({"Content-Type": content_type} if data is not None else {}), **(headers or {})}
    parts = urllib.parse.urlsplit(url)
    conn = httpclient.HTTPConnection(
        parts.hostname, parts.port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), data, headers)
        response = conn.getresponse()
        return Reply(response.status, Headers(response.getheaders()), response.read().decode(errors="replace"))
    finally:
        conn.close()


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return http("GET", url, timeout=5).status == status
        except OSError:
            return False

    return check


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the app server


class AppServer:
    """The app (``server_argv``) as a child process; ``kill()`` is SIGKILL, no clean shutdown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self.port = free_port()
        self.log_path = self.log_dir / f"server-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                server_argv(self.port), cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()[-2000:]}")
            return answers(self.base + "/health/live")()

        wait_for("the app server answering /health/live", up)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def app_server(env: dict[str, str], log_dir: Path) -> Iterator[AppServer]:
    server = AppServer(env, log_dir)
    try:
        yield server.start()
    finally:
        server.stop()


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb") if Path(p).with_name("pg_ctl").exists()),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    if not found:
        skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin")
    return found[-1]


class PrivatePostgres:
    """A throw-away PostgreSQL cluster: trust auth, loopback only, its own port and socket dir.

    Runs as the ``postgres`` OS user (the server refuses to run as root), in a temporary
    directory owned by that user.
    """

    def __init__(self) -> None:
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            skip_or_fail("runuser not found: cannot run PostgreSQL as the postgres user")
        self.bin = postgres_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="seatclock-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "start"
        )

    def stop_immediately(self) -> None:
        """``pg_ctl stop -m immediate``: the server quits at once, connections drop, no checkpoint."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True, timeout=30
        )
        return done.returncode == 0

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """A URL of the cluster; ``password`` is accepted and ignored (trust auth): a URL with
        a secret in it, for the tests that check it is never shown."""
        credentials = "postgres" if password is None else f"postgres:{password}"
        return f"postgres://{credentials}@127.0.0.1:{self.port}/{database}"

    def _processes(self) -> list[int]:
        """The postmaster and every process it forked (backends, background workers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [postmaster]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def pause(self) -> None:
        """SIGSTOP the whole server: a hung database host.  Connections stay open and the
        kernel still acknowledges every packet, but nothing answers."""
        for pid in self._processes():  # the postmaster first: it forks nothing new meanwhile
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in reversed(self._processes()):
            os.kill(pid, signal.SIGCONT)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.resume()  # a paused server would not stop
            except (OSError, ValueError):
                pass
        if self.data.exists() and self.running():
            self.stop_immediately()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.cleanup()


# --------------------------------------------------------------------------- Redis


class PrivateRedis:
    """``redis-server`` on its own port, no persistence.  ``pause()`` (SIGSTOP) makes it hang:
    connections are accepted by the kernel but never answered; ``kill()`` makes it gone."""

    def __init__(self, log_dir: Path, password: str | None = None) -> None:
        self.password = password
        self.binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if self.binary is None:
            skip_or_fail("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(port=self.port, password=self.password, socket_connect_timeout=1, socket_timeout=1)

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        with open(self.log_dir / f"redis-{self.port}.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for("redis-server answering PING", self.ping, timeout=15)

    def ping(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGCONT)  # a stopped process gets SIGKILL all the same; be tidy
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@contextmanager
def private_redis(log_dir: Path, password: str | None = None) -> Iterator[PrivateRedis]:
    server = PrivateRedis(log_dir, password)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- NTP


class NtpServerProcess:
    """``manage.py ntpserver`` as a child process on a free UDP port."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_udp_port()
        self.env = env
        self.log_path = log_dir / f"ntpserver-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from timesync import ntp

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "ntpserver", "--port", str(self.port)],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def answering() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ntpserver exited: {self.log_path.read_text()[-2000:]}")
            try:
                ntp.query(self.address, samples=1, timeout=0.5)
            except ntp.NtpError:
                return False
            return True

        wait_for("the NTP server answering", answering)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@contextmanager
def ntp_server_process(env: dict[str, str], log_dir: Path) -> Iterator[NtpServerProcess]:
    server = NtpServerProcess(env, log_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- serve.sh / run.sh


class Script:
    """``./serve.sh`` or ``./run.sh`` as a session leader on free ports, stopped with SIGTERM
    (and its whole session killed if it ignores that)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port, self.ntp_port = free_port(), free_udp_port()
        self.env = {
            **env,
            "PORT": str(self.port),
            "NTP_PORT": str(self.ntp_port),
            "HOST": "127.0.0.1",
            "SKIP_INSTALL": "1",
            "STATIC_ROOT": str(log_dir / f"static-{self.port}"),
        }
        self.env.pop("SEATCLOCK_NTP_SERVER", None)
        self.log_path = log_dir / f"{name.strip('./')}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        """Where ``/ws/updates`` is served: the page's own origin (both scripts)."""
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, ready: str = "/health/ready") -> Script:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.name], cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log()[-3000:]}")
            return answers(self.base + ready)()

        wait_for(f"{self.name} answering {ready}", up, timeout=120, interval=0.2)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextmanager
def script(name: str, env: dict[str, str], log_dir: Path, ready: str = "/health/ready") -> Iterator[Script]:
    running = Script(name, env, log_dir)
    try:
        yield running.start(ready)
    finally:
        running.stop()
