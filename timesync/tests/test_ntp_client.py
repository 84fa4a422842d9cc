"""timesync.ntp: address parsing, queries against our own server and against fake servers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from timesync import clock, ntp
from timesync.ntp_server import NtpServer, build_reply, encode_ref_id

# --------------------------------------------------------------------------- helpers

Responder = Callable[[int, bytes, float], "bytes | None"]


class FakeNtpServer:
    """A UDP server on 127.0.0.1 that answers the n-th request with ``respond(n, request, t2)``
    (``None``: no answer).  Replies are built by tests, so they can be as wrong as needed."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-ntp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            t2 = clock.host_timestamp()
            index = self.received
            self.received += 1
            reply = self.respond(index, data, t2)
            if reply is not None:
                self.sock.sendto(reply, addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def fake_server() -> Iterator[Callable[[Responder], FakeNtpServer]]:
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


@pytest.fixture
def ntp_server() -> Iterator[NtpServer]:
    server = NtpServer(port=0, stratum=3)
    try:
        server.start_in_thread()
        yield server
    finally:
        server.shutdown()


def good_reply(request: bytes, t2: float, *, stratum: int = 2, offset: float = 0.0) -> bytes:
    return build_reply(
        request,
        receive_ts=t2 + offset,
        transmit_ts=clock.host_timestamp() + offset,
        stratum=stratum,
        ref_id=encode_ref_id("127.127.1.1"),
    )


def patched(
    data: bytes,
    *,
    leap: int | None = None,
    stratum: int | None = None,
    mode: int | None = None,
) -> bytes:
    out = bytearray(data)
    if leap is not None:
        out[0] = (leap << 6) | (out[0] & 0x3F)
    if mode is not None:
        out[0] = (out[0] & 0xF8) | mode
    if stratum is not None:
        out[1] = stratum
    return bytes(out)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- parse_ntp_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pool.ntp.org", ("pool.ntp.org", 123)),
        ("time.example.com:1123", ("time.example.com", 1123)),
        ("localhost", ("localhost", 123)),
        ("localhost:65535", ("localhost", 65535)),
        ("ntp-1.corp_x.example.", ("ntp-1.corp_x.example.", 123)),
        ("127.0.0.1", ("127.0.0.1", 123)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[::1]", ("::1", 123)),
        ("[::1]:1123", ("::1", 1123)),
        ("[2001:db8::5]:123", ("2001:db8::5", 123)),
        ("::1", ("::1", 123)),
        ("fe80::1%eth0", ("fe80::1%eth0", 123)),
        ("2001:db8::5", ("2001:db8::5", 123)),
    ],
)
def test_parse_valid_addresses(text: str, expected: tuple[str, int]) -> None:
    assert ntp.parse_ntp_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "pool.ntp.org ",
        " pool.ntp.org",
        "time example.com",
        "host:",
        "host:0",
        "host:65536",
        "host:-1",
        "host:12a",
        "host:１２３",  # non-ASCII digits
        ":123",
        "host:1:2x",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[::1]:99999",
        "[not-v6]:123",
        "::zz",
        "1.2.3",
        "300.1.1.1",
        "-bad-.example",
        "a..b",
    ],
)
def test_parse_invalid_addresses(text: str) -> None:
    with pytest.raises(ntp.NtpAddressError) as exc_info:
        ntp.parse_ntp_address(text)
    assert isinstance(exc_info.value, ValueError)
    assert str(exc_info.value)  # a message a person can read


def test_query_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="samples"):
        ntp.query("127.0.0.1", samples=0)
    with pytest.raises(ValueError, match="timeout"):
        ntp.query("127.0.0.1", timeout=0)
    with pytest.raises(ValueError, match="version"):
        ntp.query("127.0.0.1", version=5)
    with pytest.raises(ntp.NtpAddressError):
        ntp.query("127.0.0.1:0")


# --------------------------------------------------------------------------- against our server


def test_query_our_server(ntp_server: NtpServer) -> None:
    result = ntp.query(ntp_server.address, samples=4, timeout=2.0)
    assert abs(result.offset) < 0.005
    assert 0 <= result.delay < 0.5
    assert result.stratum == 3
    assert result.ref_id == "127.127.1.1"
    assert result.leap == 0
    assert result.samples_used == 4
    assert result.server == ntp_server.address
    assert result.root_delay == 0.0
    assert 0 < result.root_dispersion < 0.01
    assert result.error_bound == pytest.approx(abs(result.offset) + result.root_dispersion + result.delay / 2)
    assert ntp_server.requests_served == 4


def test_result_is_frozen(ntp_server: NtpServer) -> None:
    result = ntp.query(ntp_server.address, samples=1)
    assert result.samples_used == 1
    with pytest.raises(AttributeError):
        result.offset = 1.0  # type: ignore[misc]


def test_query_stratum_one_reports_ascii_ref_id() -> None:
    server = NtpServer(port=0, stratum=1)
    try:
        server.start_in_thread()
        result = ntp.query(server.address, samples=2, version=3)
    finally:
        server.shutdown()
    assert result.stratum == 1
    assert result.ref_id == "LOCL"
    assert abs(result.offset) < 0.005


def test_query_ipv6_loopback() -> None:
    try:
        server = NtpServer(host="::1", port=0)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        server.start_in_thread()
        result = ntp.query(f"[::1]:{server.port}", samples=2)
    finally:
        server.shutdown()
    assert abs(result.offset) < 0.005


def test_query_localhost_name(ntp_server: NtpServer) -> None:
    # "localhost" may resolve to ::1 first where our IPv4-only server does not listen.
    try:
        result = ntp.query(f"localhost:{ntp_server.port}", samples=1, timeout=1.0)
    except ntp.NtpUnreachable:
        pytest.skip("localhost resolves to an address the IPv4 test server does not listen on")
    assert abs(result.offset) < 0.005


# --------------------------------------------------------------------------- measurement logic


def test_offset_measured_from_server_timestamps(fake_server) -> None:
    server = fake_server(lambda n, req, t2: good_reply(req, t2, offset=2.5))
    result = ntp.query(server.address, samples=3, timeout=2.0)
    assert result.offset == pytest.approx(2.5, abs=0.005)
    assert result.error_bound >= 2.5


def test_minimum_delay_sample_is_kept(fake_server) -> None:
    # Sample n reports a clock n seconds ahead; the extra "network" delay (a sleep before the
    # receive timestamp is taken) is smallest for sample 2, so its offset must be the result.
    extra_delay = [0.12, 0.08, 0.0, 0.05]

    def respond(n: int, request: bytes, t2: float) -> bytes:
        time.sleep(extra_delay[n])
        return good_reply(request, clock.host_timestamp(), offset=float(n))

    server = fake_server(respond)
    result = ntp.query(server.address, samples=4, timeout=3.0)
    assert result.samples_used == 4
    assert result.offset == pytest.approx(2.0, abs=0.02)
    assert result.delay < 0.04


def test_partial_samples_are_used(fake_server) -> None:
    server = fake_server(lambda n, req, t2: good_reply(req, t2) if n == 0 else None)
    started = clock.monotonic()
    result = ntp.query(server.address, samples=4, timeout=0.6)
    elapsed = clock.monotonic() - started
    assert result.samples_used == 1
    assert abs(result.offset) < 0.005
    assert elapsed < 0.6 + 1.0


def test_bad_samples_mixed_with_good_ones(fake_server) -> None:
    def respond(n: int, request: bytes, t2: float) -> bytes:
        reply = good_reply(request, t2)
        return patched(reply, leap=3) if n % 2 == 0 else reply

    server = fake_server(respond)
    result = ntp.query(server.address, samples=4, timeout=2.0)
    assert result.samples_used == 2
    assert result.leap == 0


def test_late_reply_still_counts(fake_server) -> None:
    # The first reply arrives after its share of the budget; it must still be used.
    def respond(n: int, request: bytes, t2: float) -> bytes | None:
        if n == 0:
            time.sleep(0.3)
            return good_reply(request, t2)
        return None

    server = fake_server(respond)
    result = ntp.query(server.address, samples=4, timeout=1.0)
    assert result.samples_used == 1


def test_server_going_away_keeps_good_samples() -> None:
    # Answers one request, then its port closes: later sends/recvs get "connection refused".
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{sock.getsockname()[1]}"

    def answer_once() -> None:
        try:
            sock.settimeout(5)
            data, addr = sock.recvfrom(1024)
            sock.sendto(good_reply(data, clock.host_timestamp()), addr)
        finally:
            sock.close()

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        result = ntp.query(address, samples=4, timeout=1.0)
    finally:
        thread.join(5)
    assert result.samples_used == 1


# --------------------------------------------------------------------------- bad replies


def _zero_transmit(reply: bytes) -> bytes:
    return reply[:40] + b"\0" * 8


def _kiss(reply: bytes) -> bytes:
    return patched(reply, stratum=0)[:12] + b"RATE" + reply[16:]


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        pytest.param(_kiss, "kiss_of_death", id="stratum-0-kiss-o-death"),
        pytest.param(lambda r: patched(r, stratum=16), "unsynchronised", id="stratum-16"),
        pytest.param(lambda r: patched(r, stratum=200), "unsynchronised", id="stratum-200"),
        pytest.param(lambda r: patched(r, leap=3), "unsynchronised", id="leap-3"),
        pytest.param(_zero_transmit, "zero_transmit", id="zero-transmit"),
        pytest.param(lambda r: patched(r, mode=5), "bad_mode", id="mode-broadcast"),
        pytest.param(lambda r: patched(r, mode=3), "bad_mode", id="mode-client"),
        pytest.param(lambda r: r[:47], "short_packet", id="short"),
        pytest.param(
            lambda r: r[:24] + b"\x01" * 8 + r[32:],
            "origin_mismatch",
            id="origin-mismatch",
        ),
    ],
)
def test_bad_replies_are_rejected(fake_server, mangle, reason: str) -> None:
    server = fake_server(lambda n, req, t2: mangle(good_reply(req, t2)))
    started = clock.monotonic()
    with pytest.raises(ntp.NtpBadReply) as exc_info:
        ntp.query(server.address, samples=4, timeout=0.8)
    elapsed = clock.monotonic() - started
    assert exc_info.value.reason == reason
    assert exc_info.value.server == server.address
    assert isinstance(exc_info.value, ntp.NtpError)
    assert elapsed < 0.8 + 1.0


def test_kiss_o_death_stops_further_requests(fake_server) -> None:
    server = fake_server(lambda n, req, t2: _kiss(good_reply(req, t2)))
    with pytest.raises(ntp.NtpBadReply, match="RATE"):
        ntp.query(server.address, samples=4, timeout=1.0)
    assert server.received == 1


# --------------------------------------------------------------------------- unreachable / timeout


def test_closed_port_is_unreachable_or_timeout() -> None:
    port = free_udp_port()
    started = clock.monotonic()
    with pytest.raises((ntp.NtpUnreachable, ntp.NtpTimeout)) as exc_info:
        ntp.query(f"127.0.0.1:{port}", timeout=1.0)
    elapsed = clock.monotonic() - started
    assert elapsed < 1.0 + 1.0
    if isinstance(exc_info.value, ntp.NtpUnreachable):  # Linux: ICMP port unreachable
        assert exc_info.value.reason == "connection_refused"


def test_silent_server_times_out() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = clock.monotonic()
        with pytest.raises(ntp.NtpTimeout) as exc_info:
            ntp.query(address, samples=4, timeout=0.8)
        elapsed = clock.monotonic() - started
    finally:
        silent.close()
    assert exc_info.value.reason == "timeout"
    assert elapsed < 0.8 + 1.0


def test_unresolvable_name() -> None:
    started = clock.monotonic()
    with pytest.raises((ntp.NtpUnreachable, ntp.NtpTimeout)) as exc_info:
        ntp.query("no-such-host.invalid", timeout=1.0)
    assert clock.monotonic() - started < 1.0 + 1.0
    assert exc_info.value.reason in {"dns_failure", "dns_timeout"}


def test_error_reasons_are_class_defaults() -> None:
    assert ntp.NtpTimeout("x").reason == "timeout"
    assert ntp.NtpUnreachable("x").reason == "unreachable"
    assert ntp.NtpBadReply("x").reason == "bad_reply"
    assert ntp.NtpError("x", reason="custom").reason == "custom"
    assert ntp.NtpError("boom").message == "boom"
