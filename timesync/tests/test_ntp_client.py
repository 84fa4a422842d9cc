"""timesync.ntp: address parsing, era arithmetic, queries against our own server and against
fake servers (real UDP on 127.0.0.1) whose replies are as wrong as each test needs."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from timesync import clock, ntp
from timesync.ntp_server import NtpServer

from .fake_ntp import Reply, Request

# --------------------------------------------------------------------------- helpers

#: The first NTP era ends here (RFC 5905 §6): 2**32 seconds after 1900-01-01.
ERA_ROLLOVER = datetime(2036, 2, 7, 6, 28, 16, tzinfo=UTC)


@pytest.fixture
def ntp_server() -> Any:
    server = NtpServer(port=0, stratum=3)
    try:
        server.start_in_thread()
        yield server
    finally:
        server.shutdown()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(address: str, **kwargs: Any) -> ntp.NtpBadReply:
    with pytest.raises(ntp.NtpBadReply) as info:
        ntp.query(address, samples=kwargs.pop("samples", 2), timeout=kwargs.pop("timeout", 1.0), **kwargs)
    return info.value


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


# --------------------------------------------------------------------------- era arithmetic (RFC 5905 §6)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC),
        ERA_ROLLOVER - timedelta(microseconds=1),
        ERA_ROLLOVER,
        ERA_ROLLOVER + timedelta(microseconds=1),
        datetime(2040, 3, 1, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
    ],
)
def test_timestamps_round_trip_through_the_wire_in_any_era(instant: datetime) -> None:
    posix = instant.timestamp()
    wire = ntp.ntp_timestamp_bytes(posix)
    assert len(wire) == 8
    pivot = ntp.ntp_from_posix(posix + 3600)  # the reader's clock an hour later
    assert ntp.ntp_to_posix(ntp.timestamp_from_bytes(wire, pivot=pivot)) == pytest.approx(posix, abs=1e-6)


def test_rollover_writes_small_seconds_and_reads_them_in_era_one() -> None:
    wire = ntp.ntp_timestamp_bytes(ERA_ROLLOVER.timestamp() + 1.5)
    assert int.from_bytes(wire[:4], "big") == 1  # one second into era 1 (plus a half)
    before = ntp.ntp_from_posix((ERA_ROLLOVER - timedelta(seconds=2)).timestamp())
    read = ntp.ntp_to_posix(ntp.timestamp_from_bytes(wire, pivot=before))
    assert read == pytest.approx(ERA_ROLLOVER.timestamp() + 1.5, abs=1e-6)  # not 1900


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    posix=st.floats(min_value=-2_000_000_000, max_value=6_000_000_000),
    distance=st.floats(min_value=-2.0e9, max_value=2.0e9),  # the reader within ±63 years
)
def test_a_timestamp_is_read_in_the_era_nearest_the_reader(posix: float, distance: float) -> None:
    fixed = ntp.ntp_from_posix(posix)
    pivot = ntp.ntp_from_posix(posix + distance)
    assert ntp.timestamp_from_bytes(ntp.timestamp_to_bytes(fixed), pivot=pivot) == fixed


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


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_query_every_version(ntp_server: NtpServer, version: int) -> None:
    result = ntp.query(ntp_server.address, samples=1, version=version)
    assert abs(result.offset) < 0.005


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


@pytest.mark.parametrize(
    "start",
    [ERA_ROLLOVER - timedelta(milliseconds=1), ERA_ROLLOVER + timedelta(seconds=3), datetime(2040, 3, 1, tzinfo=UTC)],
)
def test_2036_is_a_non_event(ntp_server: NtpServer, start: datetime) -> None:
    """Host and server both past (or at) the era rollover, in virtual time: the request is
    written and the reply read in era 1, so the offset is 0, not 136 years."""
    with clock.use_reference_clock(clock.FrozenClock(start)):
        result = ntp.query(ntp_server.address, samples=2)
    assert abs(result.offset) < 1e-5
    assert 0 <= result.delay < 1e-5


def test_a_server_across_the_rollover_from_the_host(fake_ntp, frozen_clock) -> None:
    """The host reads 06:28:15.9 in era 0; the server, 0.5 s ahead, stamps in era 1."""
    frozen_clock.now = ERA_ROLLOVER - timedelta(milliseconds=100)
    server = fake_ntp(Reply(clock_offset=0.5))
    result = ntp.query(server.address, samples=1)
    assert result.offset == pytest.approx(0.5, abs=1e-5)
    ahead = fake_ntp(Reply(clock_offset=-0.5))
    frozen_clock.now = ERA_ROLLOVER + timedelta(milliseconds=100)
    assert ntp.query(ahead.address, samples=1).offset == pytest.approx(-0.5, abs=1e-5)


# --------------------------------------------------------------------------- measurement logic


def test_offset_measured_from_server_timestamps(fake_ntp) -> None:
    server = fake_ntp(Reply(clock_offset=2.5))
    result = ntp.query(server.address, samples=3, timeout=2.0)
    assert result.offset == pytest.approx(2.5, abs=0.005)
    assert result.error_bound >= 2.5


def test_minimum_delay_sample_is_kept(fake_ntp, frozen_clock) -> None:
    """Four samples in virtual time with fabricated network delays: the fake server advances
    the frozen reference clock by sample n's delay before it answers (the datagram "spent" that
    long on the network), and reports a clock n seconds ahead.  Sample 2 has no delay at all,
    so its offset and its zero delay must be the result, to the timestamps' resolution."""
    network = [0.12, 0.08, 0.0, 0.05]

    def respond(request: Request) -> Reply:
        delay = network[request.index]
        frozen_clock.advance(delay)
        # Received at t1 + delay/2 by a clock n s ahead, sent at once; back at t1 + delay.
        return Reply(receive=request.t1 + request.index + delay / 2, hold=0.0)

    server = fake_ntp(respond)
    result = ntp.query(server.address, samples=4, timeout=3.0)
    assert result.samples_used == 4
    assert result.offset == pytest.approx(2.0, abs=2e-6)
    assert result.delay == pytest.approx(0.0, abs=2e-6)


def test_minimum_delay_sample_beats_a_clamped_negative_one(fake_ntp, frozen_clock) -> None:
    """A server that claims to have held a request 100 s must not win best-of-N with a
    "clamped to 0" delay: it is refused, and the honest samples decide."""

    def respond(request: Request) -> Reply:
        frozen_clock.advance(0.01)
        if request.index == 1:
            return Reply(receive=request.t1 + 7.0, hold=100.0)
        return Reply(receive=request.t1 + 0.005)

    server = fake_ntp(respond)
    result = ntp.query(server.address, samples=3, timeout=3.0)
    assert result.samples_used == 2
    assert result.offset == pytest.approx(0.0, abs=2e-6)
    assert result.delay == pytest.approx(0.01, abs=2e-6)


def test_partial_samples_are_used(fake_ntp) -> None:
    server = fake_ntp(lambda request: Reply() if request.index == 0 else None)
    result = ntp.query(server.address, samples=4, timeout=0.6)
    assert result.samples_used == 1
    assert abs(result.offset) < 0.005


def test_bad_samples_mixed_with_good_ones(fake_ntp) -> None:
    server = fake_ntp(lambda request: Reply(leap=3) if request.index % 2 == 0 else Reply())
    result = ntp.query(server.address, samples=4, timeout=2.0)
    assert result.samples_used == 2
    assert result.leap == 0


def test_late_reply_still_counts(fake_ntp) -> None:
    """The reply to the first request arrives only once the second was sent (after the first
    one's share of the budget): it must still be used.  No sleep: the fake server answers
    request 0 when request 1 arrives."""
    holder: dict[str, Any] = {}

    def respond(request: Request) -> bytes | None:
        if request.index == 1:
            return Reply().to_bytes(holder["server"].requests[0])
        return None

    holder["server"] = server = fake_ntp(respond)
    result = ntp.query(server.address, samples=4, timeout=1.0)
    assert result.samples_used == 1
    assert server.received >= 2


def test_server_going_away_keeps_good_samples() -> None:
    # Answers one request, then its port closes: later sends/recvs get "connection refused".
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{sock.getsockname()[1]}"

    def answer_once() -> None:
        try:
            sock.settimeout(5)
            data, addr = sock.recvfrom(1024)
            sock.sendto(Reply().to_bytes(Request(0, data, clock.host_timestamp())), addr)
        finally:
            sock.close()

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        result = ntp.query(address, samples=4, timeout=1.0)
    finally:
        thread.join(5)
    assert result.samples_used == 1


# --------------------------------------------------------------------------- plausibility (DESIGN §3)

TWO_DAYS = 2 * 86_400.0

IMPLAUSIBLE = [
    pytest.param(Reply(version=0), "bad_version", id="version-0"),
    pytest.param(Reply(version=5), "bad_version", id="version-5"),
    pytest.param(Reply(version=7), "bad_version", id="version-7"),
    pytest.param(Reply(mode=5), "bad_mode", id="mode-broadcast"),
    pytest.param(Reply(mode=3), "bad_mode", id="mode-client"),
    pytest.param(Reply(mode=0), "bad_mode", id="mode-0"),
    pytest.param(Reply(stratum=0, leap=3, ref_id="RATE"), "kiss_of_death", id="kiss-RATE"),
    pytest.param(Reply(stratum=0, leap=3, ref_id="DENY"), "kiss_of_death", id="kiss-DENY"),
    pytest.param(Reply(stratum=0, leap=3, ref_id="0.0.0.0"), "unsynchronised", id="stratum-0-no-code"),
    pytest.param(Reply(stratum=16), "unsynchronised", id="stratum-16"),
    pytest.param(Reply(stratum=200), "unsynchronised", id="stratum-200"),
    pytest.param(Reply(leap=3), "unsynchronised", id="leap-3"),
    pytest.param(Reply(origin=b"\x01" * 8), "origin_mismatch", id="origin-mismatch"),
    pytest.param(Reply(zero_transmit=True), "zero_transmit", id="zero-transmit"),
    pytest.param(Reply(zero_receive=True), "zero_receive", id="zero-receive"),
    pytest.param(Reply(hold=-0.5), "receive_after_transmit", id="receive-after-transmit"),
    pytest.param(Reply(hold=100.0), "negative_delay", id="held-100-s"),
    pytest.param(Reply(root_dispersion=60_000.0), "root_distance", id="root-dispersion-60000-s"),
    pytest.param(Reply(root_delay=6.2), "root_distance", id="root-delay-6.2-s"),
    pytest.param(Reply(clock_offset=TWO_DAYS), "panic", id="two-days-ahead"),
    pytest.param(Reply(clock_offset=-1001.0), "panic", id="1001-s-behind"),
    pytest.param(Reply(reads=datetime(2040, 3, 1, tzinfo=UTC)), "panic", id="clock-reads-2040"),
    pytest.param(Reply(length=47), "short_packet", id="short"),
]


@pytest.mark.parametrize(("reply", "reason"), IMPLAUSIBLE)
def test_implausible_replies_are_refused_naming_the_test(fake_ntp, reply: Reply, reason: str) -> None:
    server = fake_ntp(reply)
    error = refused(server.address, samples=2, timeout=0.8)
    assert error.reason == reason
    assert f"{reason}: " in str(error)  # the message names the test too
    assert error.server == server.address
    assert isinstance(error, ntp.NtpError)


def test_kiss_code_is_in_the_message_and_stops_further_requests(fake_ntp) -> None:
    server = fake_ntp(Reply(stratum=0, leap=3, ref_id="RATE"))
    error = refused(server.address, samples=4, timeout=1.0)
    assert "'RATE'" in str(error)
    assert server.received == 1


def test_a_2040_clock_is_read_as_2040_and_refused_by_the_panic_test(fake_ntp, frozen_clock) -> None:
    """Era 1 timestamps read in the era nearest the host (2026): the server is 13.7 years
    ahead, not 122 years behind (era 0's 1904)."""
    server = fake_ntp(Reply(reads=datetime(2040, 3, 1, tzinfo=UTC)))
    error = refused(server.address, samples=1)
    ahead = (datetime(2040, 3, 1, tzinfo=UTC) - frozen_clock.now).total_seconds()
    assert f"{ahead:+.3f} s" in str(error)


@pytest.mark.parametrize(
    ("reply", "offset"),
    [
        pytest.param(Reply(clock_offset=999.0), 999.0, id="999-s-ahead"),
        pytest.param(Reply(clock_offset=-999.0), -999.0, id="999-s-behind"),
        pytest.param(Reply(root_dispersion=2.9), 0.0, id="root-distance-2.9-s"),
        pytest.param(Reply(root_delay=5.0, root_dispersion=0.4), 0.0, id="root-distance-2.9-s-from-delay"),
        pytest.param(Reply(version=1), 0.0, id="version-1"),
    ],
)
def test_plausible_replies_near_the_limits_are_used(fake_ntp, reply: Reply, offset: float) -> None:
    result = ntp.query(fake_ntp(reply).address, samples=1)
    assert result.offset == pytest.approx(offset, abs=0.01)


def test_panic_threshold_is_a_parameter(fake_ntp) -> None:
    server = fake_ntp(Reply(clock_offset=40.0))
    assert refused(server.address, panic_seconds=30.0).reason == "panic"
    assert ntp.query(server.address, samples=1, panic_seconds=50.0).offset == pytest.approx(40.0, abs=0.01)


def test_a_negative_delay_within_the_timestamps_resolution_is_clamped(fake_ntp, frozen_clock) -> None:
    """With the reference clock frozen, t1 = t4 and the request's random sub-microsecond bits
    make the delay a hair negative: rounding, clamped to 0, never a refusal."""
    server = fake_ntp(Reply())
    result = ntp.query(server.address, samples=4)
    assert result.samples_used == 4
    assert result.delay == 0.0


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
