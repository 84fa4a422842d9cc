"""timesync.ntp_server: replies checked with ntplib and byte by byte; versions 1-4 answered as
chronyd and ntpd answer them; junk is never answered (checked with sentinel requests, not by
waiting for silence)."""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

import ntplib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timesync import clock
from timesync.ntp import ntp_timestamp_bytes
from timesync.ntp_server import NtpServer, is_client_request

NTP_DELTA = ntplib.NTP.NTP_DELTA


@pytest.fixture
def server() -> Iterator[NtpServer]:
    srv = NtpServer(port=0, stratum=2)
    try:
        srv.start_in_thread()
        yield srv
    finally:
        srv.shutdown()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[NtpServer]:
    srv = NtpServer(port=0, stratum=4)
    try:
        srv.start_in_thread()
        yield srv
    finally:
        srv.shutdown()


@pytest.fixture
def client_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock
    finally:
        sock.close()


def client_request(*, version: int = 4, mode: int = 3, poll: int = 6, transmit: bytes | None = None) -> bytes:
    """A client request whose transmit timestamp is ``transmit`` (8 raw bytes)."""
    if transmit is None:
        transmit = os.urandom(8)
    header = struct.pack("!BBbb", (0 << 6) | (version << 3) | mode, 0, poll, 0)
    return header + b"\0" * 36 + transmit


def ntp_to_posix(raw: bytes) -> float:
    seconds, fraction = struct.unpack("!II", raw)
    return seconds + fraction / 2**32 - NTP_DELTA


def is_valid_request_oracle(data: bytes) -> bool:
    """Independent statement of what the server must answer (from an ephemeral port): mode 3 of
    versions 1-4, and an NTPv1 request's mode 0."""
    if len(data) < 48:
        return False
    version, mode = (data[0] >> 3) & 0x7, data[0] & 0x7
    return (mode == 3 and 1 <= version <= 4) or (mode == 0 and version == 1)


def next_reply_echoes(sock: socket.socket, target: tuple[str, int]) -> bool:
    """Send a sentinel request; whether the next datagram to arrive is its reply.  Datagrams
    from one server arrive in order on loopback, so a reply to anything sent earlier would
    arrive first: this is how "nothing else was answered" is checked, without waiting."""
    marker = os.urandom(8)
    sock.sendto(client_request(transmit=marker), target)
    sock.settimeout(5.0)
    return sock.recv(1024)[24:32] == marker


# --------------------------------------------------------------------------- ntplib agrees


@pytest.mark.parametrize("version", [4, 3, 2, 1])
def test_ntplib_client_agrees(server: NtpServer, version: int) -> None:
    stats = ntplib.NTPClient().request("127.0.0.1", port=server.port, version=version, timeout=2)
    assert abs(stats.offset) < 0.005
    assert stats.delay >= 0
    assert stats.mode == 4
    assert stats.version == version
    assert stats.stratum == 2
    assert stats.leap == 0
    assert stats.precision == -20
    assert ntplib.ref_id_to_text(stats.ref_id, stats.stratum) == "127.127.1.1"


def test_reply_fields_byte_by_byte(server: NtpServer, client_socket: socket.socket) -> None:
    origin = bytes.fromhex("e9a3c4d5123456ff")
    request = client_request(version=4, poll=-3, transmit=origin)
    before = clock.host_timestamp()
    client_socket.settimeout(2.0)
    client_socket.sendto(request, ("127.0.0.1", server.port))
    reply, source = client_socket.recvfrom(1024)
    after = clock.host_timestamp()

    assert source == ("127.0.0.1", server.port)
    assert len(reply) == 48
    leap, version, mode = reply[0] >> 6, (reply[0] >> 3) & 7, reply[0] & 7
    assert (leap, version, mode) == (0, 4, 4)
    stratum, poll, precision = struct.unpack("!Bbb", reply[1:4])
    assert (stratum, poll, precision) == (2, -3, -20)
    root_delay, root_dispersion = struct.unpack("!II", reply[4:12])
    assert root_delay / 2**16 == 0.0
    assert 0 < root_dispersion / 2**16 < 0.01
    assert reply[12:16] == bytes([127, 127, 1, 1])
    assert reply[24:32] == origin  # origin = request's transmit timestamp, verbatim
    reference, receive, transmit = (ntp_to_posix(reply[i : i + 8]) for i in (16, 32, 40))
    slack = 1e-5  # timestamps are rounded to a few microseconds on the wire
    assert before - slack <= receive <= transmit + slack
    assert transmit <= after + slack
    assert before - slack <= reference <= after + slack


@pytest.mark.parametrize(("version", "mode"), [(4, 3), (3, 3), (2, 3), (1, 3), (1, 0)])
def test_versions_one_to_four_answered_and_echoed(
    server: NtpServer, client_socket: socket.socket, version: int, mode: int
) -> None:
    """As chronyd and ntpd: every version 1 to 4, and NTPv1's mode 0 (RFC 1059 had no mode
    field); the reply echoes the version and is always mode 4, never mode 0."""
    request = client_request(version=version, mode=mode)
    client_socket.settimeout(2.0)
    client_socket.sendto(request, ("127.0.0.1", server.port))
    reply = client_socket.recv(1024)
    assert (reply[0] >> 3) & 7 == version
    assert reply[0] & 7 == 4
    assert reply[24:32] == request[40:48]


def test_ntpv1_mode_zero_from_port_123_is_a_peer_not_a_client() -> None:
    """ntpd takes an NTPv1 mode-0 packet from port 123 for a symmetric peer; chrony ignores it."""
    request = client_request(version=1, mode=0)
    assert is_client_request(request, source_port=40000)
    assert not is_client_request(request, source_port=123)
    assert is_client_request(client_request(version=1, mode=3), source_port=123)


def test_request_with_extension_bytes_is_answered(server: NtpServer, client_socket: socket.socket) -> None:
    # A 48-byte header followed by a MAC / extension field: still a client request.
    client_socket.settimeout(2.0)
    request = client_request() + os.urandom(20)
    client_socket.sendto(request, ("127.0.0.1", server.port))
    reply = client_socket.recv(1024)
    assert len(reply) == 48
    assert reply[24:32] == request[40:48]


def test_stratum_one_uses_ascii_ref_id(client_socket: socket.socket) -> None:
    srv = NtpServer(port=0, stratum=1)
    try:
        srv.start_in_thread()
        client_socket.settimeout(2.0)
        client_socket.sendto(client_request(), ("127.0.0.1", srv.port))
        reply = client_socket.recv(1024)
    finally:
        srv.shutdown()
    assert reply[1] == 1
    assert reply[12:16] == b"LOCL"


# --------------------------------------------------------------------------- junk is ignored


def invalid_packets() -> st.SearchStrategy[bytes]:
    short = st.binary(max_size=47)
    any_bytes = st.binary(min_size=48, max_size=200).filter(lambda b: not is_valid_request_oracle(b))

    @st.composite
    def wrong_mode(draw: st.DrawFn) -> bytes:
        body = draw(st.binary(min_size=47, max_size=100))
        mode = draw(st.sampled_from([1, 2, 4, 5, 6, 7]))
        version = draw(st.integers(0, 7))
        leap = draw(st.integers(0, 3))
        return bytes([(leap << 6) | (version << 3) | mode]) + body

    @st.composite
    def wrong_version(draw: st.DrawFn) -> bytes:
        body = draw(st.binary(min_size=47, max_size=100))
        version, mode = draw(st.sampled_from([(0, 3), (5, 3), (6, 3), (7, 3), (0, 0), (2, 0), (4, 0)]))
        return bytes([(version << 3) | mode]) + body

    @st.composite
    def truncated_request(draw: st.DrawFn) -> bytes:
        return client_request()[: draw(st.integers(0, 47))]

    return st.one_of(short, any_bytes, wrong_mode(), wrong_version(), truncated_request())


@settings(max_examples=60, deadline=None)
@given(junk=invalid_packets())
def test_junk_is_never_answered(shared_server: NtpServer, junk: bytes) -> None:
    assert not is_valid_request_oracle(junk)
    assert not is_client_request(junk)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        target = ("127.0.0.1", shared_server.port)
        ignored_before = shared_server.packets_ignored
        sock.sendto(junk, target)
        # Then a valid request: the server handles datagrams in order, so if it had answered
        # the junk, that answer would arrive first.  The first reply must be the valid one's.
        assert next_reply_echoes(sock, target), "the server answered an invalid packet"
        assert shared_server.packets_ignored == ignored_before + 1
        assert next_reply_echoes(sock, target)  # and nothing else was on its way
    finally:
        sock.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"\x1b",
        b"\x1b" + b"\0" * 46,  # a v3 client request one byte short
        bytes([(4 << 3) | 4]) + b"\0" * 47,  # a server reply (mode 4)
        bytes([(4 << 3) | 1]) + b"\0" * 47,  # symmetric active
        bytes([(0 << 3) | 3]) + b"\0" * 47,  # version 0
        bytes([(2 << 3) | 0]) + b"\0" * 47,  # mode 0 is NTPv1's only
        bytes([(5 << 3) | 3]) + b"\0" * 47,  # "NTPv5"
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 40,
    ],
)
def test_no_reply_to_junk(server: NtpServer, client_socket: socket.socket, junk: bytes) -> None:
    client_socket.sendto(junk, ("127.0.0.1", server.port))
    assert next_reply_echoes(client_socket, ("127.0.0.1", server.port))  # junk unanswered, server alive
    assert server.packets_ignored == 1


def test_exception_while_handling_does_not_kill_server(
    server: NtpServer, client_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = server.handle_packet
    calls = {"n": 0}

    def exploding(data: bytes, addr: tuple, receive_ts: float) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return original(data, addr, receive_ts)

    monkeypatch.setattr(server, "handle_packet", exploding)
    client_socket.sendto(client_request(), ("127.0.0.1", server.port))  # explodes: no answer
    assert next_reply_echoes(client_socket, ("127.0.0.1", server.port))  # the next one is answered
    assert server.errors == 1


# --------------------------------------------------------------------------- lifecycle & config


def test_port_zero_binds_a_real_port_and_shutdown_is_idempotent() -> None:
    srv = NtpServer(port=0)
    try:
        assert srv.port != 0
        thread = srv.start_in_thread()
        assert thread.is_alive()
    finally:
        srv.shutdown()
    assert not thread.is_alive()
    srv.shutdown()  # again: no error


def test_port_in_use_raises_oserror(server: NtpServer) -> None:
    with pytest.raises(OSError):
        NtpServer(port=server.port)


@pytest.mark.parametrize("stratum", [0, 16, -1])
def test_invalid_stratum(stratum: int) -> None:
    with pytest.raises(ValueError, match="stratum"):
        NtpServer(port=0, stratum=stratum)


@pytest.mark.parametrize("ref_id", ["", "TOOLONG", "é"])
def test_invalid_ref_id(ref_id: str) -> None:
    with pytest.raises(ValueError, match="reference id"):
        NtpServer(port=0, ref_id=ref_id)


def test_served_time_follows_reference_clock(server: NtpServer) -> None:
    # The server serves clock.host_timestamp(): a frozen reference clock is what clients see.
    frozen = clock.FrozenClock(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    with clock.use_reference_clock(frozen):
        stats = ntplib.NTPClient().request("127.0.0.1", port=server.port, version=4, timeout=2)
    assert stats.tx_time == pytest.approx(frozen.now.timestamp(), abs=1e-5)


# --------------------------------------------------------------------------- rate-limited logging


def test_logging_is_rate_limited_per_client(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    now = {"t": 1000.0}
    monkeypatch.setattr(clock, "monotonic", lambda: now["t"])
    srv = NtpServer(port=0, log_interval=60)
    try:
        caplog.set_level(logging.INFO, logger="seatclock.ntpserver")
        request = client_request()
        for _ in range(10):
            srv.handle_packet(request, ("127.0.0.2", 9), 0.0)
            srv._flush_logs()
            now["t"] += 1.0
        srv.handle_packet(b"junk", ("127.0.0.2", 9), 0.0)
        srv.handle_packet(request, ("127.0.0.3", 9), 0.0)
        lines = [r.getMessage() for r in caplog.records]
        assert lines == [
            "NTP client 127.0.0.2: first request served",
            "NTP client 127.0.0.3: first request served",
        ]
        now["t"] += 60.0
        srv._flush_logs()
        lines = [r.getMessage() for r in caplog.records][2:]
        assert lines == ["NTP client 127.0.0.2: 9 requests served, 1 packets ignored in the last 70 s"]
        now["t"] += 60.0
        srv._flush_logs()  # nothing new: no line, and quiet clients are forgotten
        assert len(caplog.records) == 3
        assert srv._clients == {}
    finally:
        srv.shutdown()


@pytest.mark.parametrize("posix", [0.0, 1.5, 1_700_000_000.123456, 2_085_978_495.999999])
def test_ntp_timestamp_bytes_round_trip(posix: float) -> None:
    assert ntp_to_posix(ntp_timestamp_bytes(posix)) == pytest.approx(posix, abs=1e-6)
