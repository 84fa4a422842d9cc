"""NTP fixtures for the sync tests: our own server on a free port, and addresses that fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from timesync.ntp_server import NtpServer

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
