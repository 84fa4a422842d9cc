"""Real processes for the browser tests: one Daphne (the shipped ASGI application, a SQLite file)
with Seatclock's own NTP server on a free UDP port, and Debian's Chromium driven by Playwright.

Module-scoped, so a test file starts them once (a few seconds); each test opens its own browser
context and starts from a reset demo (``POST /api/simulation/reset``, mode naive).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import BASE_DIR, daphne, manage, server_env, skip_or_fail
from timesync.ntp_server import NtpServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--font-render-hinting=none",
]
ADMIN_PASSWORD = "pw-browser-admin-1"


def call(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    """One API call to the running server: (status, JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


class Site:
    """The running Seatclock: its base URL, its environment (for manage.py), API shortcuts."""

    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base = base
        self.env = env

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        return call(self.base, method, path, body)

    def seats(self) -> dict[str, int]:
        """Seat ids by label (``A1`` → id)."""
        return {f"{s['row']}{s['number']}": s["id"] for s in self.api("GET", "/api/seats")[1]}

    def reserve(self, label: str, name: str, node: str) -> dict:
        status, body = self.api(
            "POST", "/api/reservations", {"seat_id": self.seats()[label], "customer_name": name, "server_id": node}
        )
        assert status == 201, body
        return body

    def reset(self) -> None:
        assert self.api("POST", "/api/simulation/reset")[0] == 200
        assert self.api("POST", "/api/simulation/consistency", {"mode": "naive"})[0] == 200

    def seed(self, rows: int, per_row: int) -> None:
        self.reset()
        manage(self.env, "seed_venue", "--force", "--rows", str(rows), "--seats-per-row", str(per_row))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("site")
    ntp = NtpServer(host="127.0.0.1", port=0)
    ntp.start_in_thread()
    env = server_env(
        SEATCLOCK_DATA_DIR=str(tmp / "data"),
        SEATCLOCK_NTP_SERVER=f"127.0.0.1:{ntp.port}",
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
    )
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "seed_venue")
        manage(env, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
        with daphne(env, tmp) as base:
            yield Site(base, env)
    finally:
        ntp.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def demo(site) -> Site:
    """The site, reset: no reservation, every clock on true time, mode naive."""
    site.reset()
    return site


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: a temporary folder, or the one SEATCLOCK_SCREENSHOTS names
    (``SEATCLOCK_SCREENSHOTS=docs ./test.sh -m browser`` refreshes the README's and docs/live.md's)."""
    wanted = os.environ.get("SEATCLOCK_SCREENSHOTS")
    folder = BASE_DIR / wanted if wanted else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
