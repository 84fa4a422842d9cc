"""NTP fixtures: our own server on a free port, fake servers whose replies the test writes
(:mod:`timesync.tests.fake_ntp`), and addresses that fail."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from timesync.ntp_server import NtpServer

from .fake_ntp import FakeNtpServer, Responder

STRATUM = 3  # not the server's default, so tests can tell the figure really came from it


@pytest.fixture
def ntp_server_obj() -> Iterator[NtpServer]:
    server = NtpServer(host="127.0.0.1", port=0, stratum=STRATUM)
    try:
        server.start_in_thread()
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def ntp_address(ntp_server_obj: NtpServer) -> str:
    """``"127.0.0.1:<port>"`` of a running Seatclock NTP server."""
    return f"127.0.0.1:{ntp_server_obj.port}"


@pytest.fixture
def closed_address() -> str:
    """A loopback UDP port nothing listens on (bound, port read, closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"127.0.0.1:{port}"


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A loopback UDP port that receives requests and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def fake_ntp() -> Iterator[Callable[[Responder], FakeNtpServer]]:
    """``fake_ntp(Reply(...))`` (or a function of the request) starts a fake NTP server on
    127.0.0.1 answering with it; every server started is closed after the test."""
    servers: list[FakeNtpServer] = []

    def start(respond: Responder) -> FakeNtpServer:
        server = FakeNtpServer(respond)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()
