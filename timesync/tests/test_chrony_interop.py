"""Interoperability with chrony (Debian package ``chrony``).

(a) our client (:func:`timesync.ntp.query`) against ``chronyd`` serving its local clock;
(b) chrony's client (``chronyd -Q``: measure once, print the offset, never touch the clock)
    against our :class:`~timesync.ntp_server.NtpServer`.

chronyd runs unprivileged-ish and isolated from any system instance: a temporary config,
its own loopback port, ``cmdport 0`` (no control socket), pid/drift files in the temp dir,
``-x`` (never adjust the system clock), ``-u root`` when run as root (do not switch to the
``_chrony`` user, who could not read the temp dir), ``-U`` otherwise.

Without chronyd the tests skip, except under CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from timesync import clock, ntp
from timesync.ntp_server import NtpServer

CHRONY_STRATUM = 8
_WRONG_BY = re.compile(r"System clock wrong by ([-+]?\d+(?:\.\d+)?) seconds")


def find_chronyd() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("chronyd") or next(
        (p for p in ("/usr/sbin/chronyd", "/sbin/chronyd") if os.access(p, os.X_OK)),
        None,
    )


@pytest.fixture(scope="module")
def chronyd_path() -> str:
    path = find_chronyd()
    if path is None:
        message = "chronyd not found: install the Debian package 'chrony' (apt-get install -y chrony)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; chrony interop tests must run in CI", pytrace=False)
        pytest.skip(message)
    return path


def user_flags() -> list[str]:
    return ["-u", "root"] if os.geteuid() == 0 else ["-U"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def chrony_server(chronyd_path: str, tmp_path: Path) -> Iterator[str]:
    """chronyd serving its (undisciplined) local clock at stratum 8; yields ``127.0.0.1:port``."""
    port = free_udp_port()
    conf = tmp_path / "chrony-server.conf"
    conf.write_text(
        "\n".join(
            [
                f"local stratum {CHRONY_STRATUM}",
                "allow 127.0.0.1",
                f"port {port}",
                "bindaddress 127.0.0.1",
                "cmdport 0",
                f"pidfile {tmp_path / 'chronyd-server.pid'}",
                f"driftfile {tmp_path / 'chronyd-server.drift'}",
                "",
            ]
        )
    )
    log_path = tmp_path / "chronyd-server.log"
    address = f"127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [chronyd_path, "-d", "-x", *user_flags(), "-f", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = clock.monotonic() + 15.0
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"chronyd exited with {proc.returncode}:\n{log_path.read_text()}",
                    pytrace=False,
                )
            try:
                ntp.query(address, samples=1, timeout=0.3)
                break
            except ntp.NtpError as exc:
                if clock.monotonic() > deadline:
                    pytest.fail(f"chronyd never answered on {address} ({exc}):\n{log_path.read_text()}")
                time.sleep(0.05)
        yield address
    finally:
        stop_process(proc)


@pytest.fixture
def our_server() -> Iterator[NtpServer]:
    server = NtpServer(port=0, stratum=2)
    try:
        server.start_in_thread()
        yield server
    finally:
        server.shutdown()


def test_our_client_against_chronyd(chrony_server: str) -> None:
    result = ntp.query(chrony_server, samples=4, timeout=2.0)
    assert abs(result.offset) < 0.005
    assert 0 <= result.delay < 0.5
    assert result.stratum == CHRONY_STRATUM
    assert result.leap == 0
    assert result.samples_used >= 1
    assert result.error_bound < 0.5


def test_our_client_against_chronyd_ntpv3(chrony_server: str) -> None:
    result = ntp.query(chrony_server, samples=2, timeout=2.0, version=3)
    assert abs(result.offset) < 0.005


def test_chrony_client_against_our_server(chronyd_path: str, our_server: NtpServer, tmp_path: Path) -> None:
    conf = tmp_path / "chrony-client.conf"
    conf.write_text(
        "\n".join(
            [
                # minpoll/maxpoll -6 (1/64 s) make the initial burst take well under a second.
                f"server 127.0.0.1 port {our_server.port} iburst minpoll -6 maxpoll -6",
                "port 0",  # do not serve NTP
                "cmdport 0",
                f"pidfile {tmp_path / 'chronyd-client.pid'}",
                "",
            ]
        )
    )
    # -Q: measure the offset, log it and exit without touching the clock; -t: give up after 20 s.
    completed = subprocess.run(
        [chronyd_path, "-Q", *user_flags(), "-t", "20", "-f", str(conf)],
        capture_output=True,
        text=True,
        timeout=40,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = completed.stdout + completed.stderr
    match = _WRONG_BY.search(output)
    assert match, f"chronyd -Q printed no offset (exit {completed.returncode}):\n{output}"
    wrong_by = float(match.group(1))
    assert abs(wrong_by) < 0.005, output
    assert completed.returncode == 0, output
    assert our_server.requests_served >= 1
