"""Real Daphne processes for the cross-process and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from timesync import clock

BASE_DIR = Path(__file__).resolve().parents[1]


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI=true a missing dependency is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**overrides: str | None) -> dict[str, str]:
    """The environment of a server process: this one's minus the database, Redis and data folder,
    plus ``overrides``.  A data folder given there is created (settings never create folders)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SEATCLOCK_DATA_DIR"}}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["SEATCLOCK_LOG_LEVEL"] = "WARNING"
    for key, value in overrides.items():
        if value is not None:
            env[key] = value
    if "SEATCLOCK_DATA_DIR" in env:
        Path(env["SEATCLOCK_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=120
    )


@contextmanager
def daphne(env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """Start Daphne on a free port; yield its base URL once /health/live answers."""
    port = free_port()
    log_path = log_dir / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = clock.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/health/live", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if clock.monotonic() > deadline:
                raise RuntimeError(f"daphne did not come up: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)  # bounded wait for the server to come up
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PG = "postgres://postgres@127.0.0.1:5432"


def require_servers(*, redis_url: str | None = None) -> None:
    """The machine's PostgreSQL (and Redis at ``redis_url``) must answer: skip locally, fail under CI."""
    try:
        import psycopg

        psycopg.connect(f"{PG}/postgres", connect_timeout=3).close()
    except Exception as exc:
        skip_or_fail(f"PostgreSQL unreachable at 127.0.0.1:5432: {exc}")
    if redis_url is not None:
        try:
            import redis

            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except Exception as exc:
            skip_or_fail(f"Redis unreachable at {redis_url}: {exc}")


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database ``<prefix>_<random>`` on the machine's server, dropped afterwards."""
    import secrets

    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: The settings that depend on SEATCLOCK_MODE (config/settings.py).
MODE_SETTINGS = (
    "DEBUG",
    "SEATCLOCK_OPEN_CLOCK_CONTROLS",
    "SEATCLOCK_RATE_LIMITS",
    "SEATCLOCK_CANCEL_TOKEN_REQUIRED",
    "SEATCLOCK_PUBLIC_NAMES",
    "NUM_PROXIES",
)


def mode_settings(mode: str) -> dict:
    """The mode-dependent settings exactly as config/settings.py derives them for ``mode``, read
    in a fresh process from the environment alone: tests that need production behaviour apply
    these (never values of their own), so hard-wiring a protection off in settings fails them."""
    import json

    env = {k: v for k, v in os.environ.items() if k not in MODE_SETTINGS and not k.startswith("SEATCLOCK_")}
    env.update(SEATCLOCK_MODE=mode, SECRET_KEY="x" * 50, ALLOWED_HOSTS="example.com")
    code = f"import json, config.settings as s; print(json.dumps({{k: getattr(s, k) for k in {MODE_SETTINGS!r}}}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)
