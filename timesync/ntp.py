"""NTP client: query an NTP server and measure the host clock's offset from it.

The packet format, the era arithmetic and the exchange are written here (RFC 5905), small and
documented, so that the time budget, the reply tests and the error types are ours.  Timestamps
are read with :func:`timesync.clock.host_timestamp` (the one clock Seatclock may read),
durations with :func:`timesync.clock.monotonic`.

How a query measures (RFC 5905 §8, on-wire protocol)::

    t1 = client transmit, t2 = server receive, t3 = server transmit, t4 = client receive
    offset = ((t2 - t1) + (t3 - t4)) / 2          # server clock minus our clock
    delay  = (t4 - t1) - (t3 - t2)                # network round trip

``samples`` requests are sent; the plausible reply with the smallest delay is kept (the idea of
the RFC 5905 clock filter: the shortest round trip has the least asymmetry error).

Eras (RFC 5905 §6): an NTP timestamp carries 32 bits of seconds since 1900, so it wraps every
2**32 s (136 years; the first wrap is on 2036-02-07 06:28:16 UTC) and the era number is not on
the wire.  We write the seconds modulo 2**32 and read every timestamp of a reply in the era that
puts it closest to the host clock, so 2036 is a non-event and a server whose clock reads 2040 is
read as 2040 (and then refused: it is years off).  ntplib's conversions assume era 0 on both
sides, which is why this module does not use them.

Plausibility (DESIGN §3; RFC 5905 §8's packet tests, chrony's and ntpd's practice): every test a
reply must pass is in :func:`_sample_from_reply`, each refusal with a reason naming the test
(``bad_version``, ``bad_mode``, ``kiss_of_death``, ``unsynchronised``, ``origin_mismatch``,
``zero_transmit``, ``zero_receive``, ``receive_after_transmit``, ``negative_delay``,
``root_distance``, ``panic``; ``short_packet`` before any of them).
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re
import secrets
import socket
import struct
import threading
from dataclasses import dataclass

from timesync import clock

__all__ = [
    "DEFAULT_PANIC_SECONDS",
    "DEFAULT_PORT",
    "MAX_ROOT_DISTANCE",
    "NtpAddressError",
    "NtpBadReply",
    "NtpError",
    "NtpHeader",
    "NtpResult",
    "NtpTimeout",
    "NtpUnreachable",
    "format_ref_id",
    "ntp_from_posix",
    "ntp_timestamp_bytes",
    "ntp_to_posix",
    "parse_ntp_address",
    "query",
    "timestamp_from_bytes",
    "timestamp_to_bytes",
]

DEFAULT_PORT = 123
NTP_PACKET_LEN = 48
MODE_UNSPECIFIED = 0  # NTPv1 requests have no mode field (RFC 1059): these bits are zero
MODE_CLIENT = 3
MODE_SERVER = 4
VERSIONS = (1, 2, 3, 4)  # chrony: NTP_MIN_COMPAT_VERSION 1 .. NTP_VERSION 4
LEAP_UNSYNCHRONISED = 3
STRATUM_UNSYNCHRONISED = 16

#: Seconds between the NTP epoch (1900-01-01) and the POSIX epoch (1970-01-01) (RFC 5905 Fig. 4).
NTP_POSIX_DELTA = 2_208_988_800
#: Timestamps are handled as integers of 2**-32 s (the wire's unit), era included: exact sums.
UNITS_PER_SECOND = 2**32
#: One era: 2**32 seconds, i.e. 2**64 units.
ERA_UNITS = 2**64

#: chrony's ``maxdistance`` default: a root distance (root delay / 2 + root dispersion) above
#: this says the server does not know the time within 3 s.
MAX_ROOT_DISTANCE = 3.0
#: ntpd's panic threshold: an offset from the host clock beyond this is the server's error.
DEFAULT_PANIC_SECONDS = 1000.0
#: Resolution of the timestamps compared by the delay tests: our request's random low bits
#: (< 2**-20 s) and the microsecond timestamps of both clocks.  A delay or a server interval
#: that much below zero is rounding (RFC 5905 clamps the delay to the precision); below that,
#: the reply is impossible.
TIMESTAMP_SLACK = 2**-18

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_ERRNO_UNREACHABLE = {
    errno.ECONNREFUSED,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EADDRNOTAVAIL,
}


# --------------------------------------------------------------------------- errors


class NtpAddressError(ValueError):
    """The NTP server address could not be parsed."""


class NtpError(Exception):
    """An NTP query failed.  ``reason`` is a short machine-readable string."""

    reason = "ntp_error"

    def __init__(self, message: str, *, reason: str | None = None, server: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.server = server

    @property
    def message(self) -> str:
        return str(self)


class NtpTimeout(NtpError):
    """No (usable) reply arrived within the time budget."""

    reason = "timeout"


class NtpUnreachable(NtpError):
    """The server cannot be reached: DNS failure, connection refused, no route to it."""

    reason = "unreachable"


class NtpBadReply(NtpError):
    """Replies arrived but none could be trusted (kiss-o'-death, unsynchronised, malformed)."""

    reason = "bad_reply"


# --------------------------------------------------------------------------- address parsing


def parse_ntp_address(text: str) -> tuple[str, int]:
    """Split ``text`` into ``(host, port)``; the port defaults to 123.

    Accepted: ``host``, ``host:port``, ``1.2.3.4``, ``1.2.3.4:123``, ``[::1]``, ``[::1]:123``,
    bare ``::1`` (no port possible then), DNS names.  IPv6 hosts are returned without brackets.
    Raises :class:`NtpAddressError` on anything else.
    """
    if not isinstance(text, str):
        raise NtpAddressError(f"NTP server address must be a string, not {type(text).__name__}")
    raw = text
    if not raw:
        raise NtpAddressError("NTP server address is empty")
    if any(ch.isspace() for ch in raw):
        raise NtpAddressError(f"NTP server address {text!r} contains whitespace")

    port_text: str | None = None
    if raw.startswith("["):
        end = raw.find("]")
        if end == -1:
            raise NtpAddressError(f"NTP server address {text!r}: missing ']' after IPv6 address")
        host = raw[1:end]
        rest = raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise NtpAddressError(f"NTP server address {text!r}: unexpected {rest!r} after ']'")
            port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise NtpAddressError(f"NTP server address {text!r}: {host!r} is not an IPv6 address") from None
    elif raw.count(":") >= 2:
        # Bare IPv6 literal: no port can be given without brackets.
        host = raw
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise NtpAddressError(
                f"NTP server address {text!r} is not a valid IPv6 address (write [addr]:port to give a port)"
            ) from None
    else:
        host, sep, port_part = raw.partition(":")
        if sep:
            port_text = port_part
        if not host:
            raise NtpAddressError(f"NTP server address {text!r} has no host")
        _check_hostname(host, text)

    port = DEFAULT_PORT if port_text is None else _parse_port(port_text, text)
    return host, port


def _parse_port(port_text: str, original: str) -> int:
    if not port_text:
        raise NtpAddressError(f"NTP server address {original!r}: empty port after ':'")
    if not port_text.isascii() or not port_text.isdigit():
        raise NtpAddressError(f"NTP server address {original!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise NtpAddressError(f"NTP server address {original!r}: port {port} is out of range 1..65535")
    return port


def _check_hostname(host: str, original: str) -> None:
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    name = host.removesuffix(".")
    if len(name) > 253 or not name:
        raise NtpAddressError(f"NTP server address {original!r}: invalid host name {host!r}")
    labels = name.split(".")
    if not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise NtpAddressError(f"NTP server address {original!r}: invalid host name {host!r}")
    if all(label.isdigit() for label in labels):
        # Looks like a (malformed) dotted IPv4 address such as 1.2.3 or 300.1.1.1.
        raise NtpAddressError(f"NTP server address {original!r}: {host!r} is not a valid IPv4 address")


# --------------------------------------------------------------------------- timestamps (RFC 5905 §6)


def ntp_from_posix(posix: float) -> int:
    """POSIX seconds (UTC) → NTP time in units of 2**-32 s since 1900, era included (an int)."""
    return math.floor((posix + NTP_POSIX_DELTA) * UNITS_PER_SECOND)


def ntp_to_posix(ntp: int) -> float:
    """NTP time in units of 2**-32 s since 1900 (era included) → POSIX seconds (UTC)."""
    return ntp / UNITS_PER_SECOND - NTP_POSIX_DELTA


def timestamp_to_bytes(ntp: int) -> bytes:
    """The 64-bit wire form (32 bits of seconds, 32 of fraction) of an NTP time: the era is not
    transmitted, so the value is taken modulo 2**64 units (2**32 seconds)."""
    return (ntp % ERA_UNITS).to_bytes(8, "big")


def timestamp_from_bytes(raw: bytes, *, pivot: int) -> int:
    """A 64-bit wire timestamp read in the era that puts it closest to ``pivot`` (an NTP time,
    the host clock now): within ±2**31 s (68 years) of it, as RFC 5905 §6 prescribes."""
    value = int.from_bytes(raw, "big")
    era = round((pivot - value) / ERA_UNITS)
    return value + era * ERA_UNITS


def ntp_timestamp_bytes(posix: float) -> bytes:
    """POSIX seconds → the 64-bit wire timestamp (era dropped)."""
    return timestamp_to_bytes(ntp_from_posix(posix))


def _short_to_seconds(raw: int) -> float:
    """NTP short format (16.16 unsigned fixed point, root delay and dispersion) → seconds."""
    return raw / 2**16


def _seconds_to_short(seconds: float) -> int:
    return max(0, min(round(seconds * 2**16), 0xFFFFFFFF))


# --------------------------------------------------------------------------- the packet

_HEADER = struct.Struct("!BBbbII4s8s8s8s8s")


@dataclass(frozen=True)
class NtpHeader:
    """The 48-byte NTP header (RFC 5905 §7.3).  Timestamps stay raw (8 bytes each): whether one
    is zero, or equal to what we sent, is a question about bits; :func:`timestamp_from_bytes`
    reads them in an era.  ``root_delay``/``root_dispersion`` in seconds; ``poll`` and
    ``precision`` are signed log2 seconds; ``ref_id`` is the 4 raw bytes."""

    leap: int
    version: int
    mode: int
    stratum: int
    poll: int
    precision: int
    root_delay: float
    root_dispersion: float
    ref_id: bytes
    reference: bytes
    origin: bytes
    receive: bytes
    transmit: bytes

    @classmethod
    def parse(cls, data: bytes) -> NtpHeader:
        """The header of ``data`` (at least 48 bytes; what follows, extension fields or a MAC,
        is ignored).  Raises ``ValueError`` if it is shorter."""
        if len(data) < NTP_PACKET_LEN:
            raise ValueError(f"an NTP packet has at least {NTP_PACKET_LEN} bytes, got {len(data)}")
        first, stratum, poll, precision, delay, dispersion, ref_id, ref, org, rec, xmt = _HEADER.unpack(
            data[:NTP_PACKET_LEN]
        )
        return cls(
            leap=first >> 6,
            version=(first >> 3) & 0x7,
            mode=first & 0x7,
            stratum=stratum,
            poll=poll,
            precision=precision,
            root_delay=_short_to_seconds(delay),
            root_dispersion=_short_to_seconds(dispersion),
            ref_id=ref_id,
            reference=ref,
            origin=org,
            receive=rec,
            transmit=xmt,
        )

    def to_bytes(self) -> bytes:
        """The 48 bytes on the wire."""
        return _HEADER.pack(
            (self.leap & 0x3) << 6 | (self.version & 0x7) << 3 | (self.mode & 0x7),
            self.stratum & 0xFF,
            max(-128, min(self.poll, 127)),
            max(-128, min(self.precision, 127)),
            _seconds_to_short(self.root_delay),
            _seconds_to_short(self.root_dispersion),
            self.ref_id,
            self.reference,
            self.origin,
            self.receive,
            self.transmit,
        )


ZERO_TIMESTAMP = b"\0" * 8


# --------------------------------------------------------------------------- result


def format_ref_id(ref_id: int | bytes, stratum: int) -> str:
    """Reference id as text: ASCII code for stratum 0/1 (``"GPS"``, ``"RATE"``), else dotted IPv4.

    (For IPv6 upstreams NTPv4 puts the first 4 bytes of an MD5 hash here; it is shown dotted too.)
    """
    raw = ref_id if isinstance(ref_id, bytes) else int(ref_id & 0xFFFFFFFF).to_bytes(4, "big")
    if stratum <= 1:
        return "".join(chr(b) if 32 <= b < 127 else "" for b in raw.rstrip(b"\0"))
    return str(ipaddress.IPv4Address(raw))


@dataclass(frozen=True)
class NtpResult:
    """One NTP measurement: the best (minimum-delay) of ``samples_used`` plausible samples.

    ``offset`` is the server's clock minus the host clock, in seconds: add it to the host time
    to get the server's time.  ``delay``, ``root_delay``, ``root_dispersion`` in seconds.
    """

    offset: float
    delay: float
    stratum: int
    ref_id: str
    root_delay: float
    root_dispersion: float
    leap: int
    samples_used: int
    server: str

    @property
    def error_bound(self) -> float:
        """Bound on |host clock - true time|, seconds, as AWS ClockBound computes it:
        ``|offset| + root_dispersion + delay / 2``."""
        return abs(self.offset) + self.root_dispersion + self.delay / 2


# --------------------------------------------------------------------------- query


@dataclass(frozen=True)
class _Sample:
    offset: float
    delay: float
    stratum: int
    ref_id: bytes
    root_delay: float
    root_dispersion: float
    leap: int


class _Reject(Exception):
    """A reply refused by one test (``reason`` names it)."""

    def __init__(self, reason: str, message: str, *, kiss: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.kiss = kiss

    def __str__(self) -> str:
        return f"{self.reason}: {super().__str__()}"


@dataclass(frozen=True)
class _Limits:
    panic_seconds: float
    max_root_distance: float


def query(
    address: str,
    *,
    samples: int = 4,
    timeout: float = 1.0,
    version: int = 4,
    panic_seconds: float = DEFAULT_PANIC_SECONDS,
    max_root_distance: float = MAX_ROOT_DISTANCE,
) -> NtpResult:
    """Query the NTP server at ``address`` (see :func:`parse_ntp_address`).

    Sends ``samples`` requests (NTP ``version`` 1-4, mode 3), one after the other, and returns
    the plausible reply with the smallest round-trip delay.  The whole call, name resolution
    included, takes at most ``timeout`` seconds (plus scheduling noise): each sample gets an
    equal share of the time left, and a reply that arrives late still counts while later
    samples are awaited.  If some samples succeeded before the budget ran out, those are used.
    A reply farther than ``panic_seconds`` from the host clock, or with a root distance above
    ``max_root_distance`` seconds, is refused like any implausible one (:func:`_sample_from_reply`).

    Raises :class:`NtpAddressError` (a ``ValueError``) for a bad address, ``ValueError`` for
    bad arguments, :class:`NtpUnreachable`, :class:`NtpTimeout` or :class:`NtpBadReply` (whose
    ``reason`` names the test the replies failed).
    """
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if version not in VERSIONS:
        raise ValueError(f"NTP version must be 1..4, got {version!r}")
    for name, limit in (("panic_seconds", panic_seconds), ("max_root_distance", max_root_distance)):
        if not (isinstance(limit, int | float) and limit > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {limit!r}")
    limits = _Limits(panic_seconds=float(panic_seconds), max_root_distance=float(max_root_distance))

    host, port = parse_ntp_address(address)
    start = clock.monotonic()
    deadline = start + timeout

    family, sockaddr = _resolve(host, port, deadline, address)

    good: list[_Sample] = []
    rejects: list[_Reject] = []
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:
        raise NtpUnreachable(
            f"cannot create UDP socket for {address}: {exc}",
            reason="socket_error",
            server=address,
        ) from exc
    try:
        failure = _exchange(sock, sockaddr, samples, deadline, version, limits, good, rejects)
    finally:
        sock.close()
    if failure is not None and not good:
        raise _unreachable(failure, address) from failure

    if good:
        best = min(good, key=lambda s: s.delay)
        return NtpResult(
            offset=best.offset,
            delay=best.delay,
            stratum=best.stratum,
            ref_id=format_ref_id(best.ref_id, best.stratum),
            root_delay=best.root_delay,
            root_dispersion=best.root_dispersion,
            leap=best.leap,
            samples_used=len(good),
            server=address,
        )
    if rejects:
        # Prefer a reply-validation reason over "origin_mismatch" noise when both occurred.
        meaningful = [r for r in rejects if r.reason != "origin_mismatch"] or rejects
        first = meaningful[0]
        raise NtpBadReply(
            f"NTP server {address} sent no usable reply ({len(rejects)} refused): {first}",
            reason=first.reason,
            server=address,
        )
    raise NtpTimeout(
        f"no reply from NTP server {address} within {timeout:g} s",
        reason="timeout",
        server=address,
    )


def _exchange(
    sock: socket.socket,
    sockaddr: tuple,
    samples: int,
    deadline: float,
    version: int,
    limits: _Limits,
    good: list[_Sample],
    rejects: list[_Reject],
) -> OSError | None:
    """Run the samples, filling ``good`` and ``rejects``; returns a network error that ended
    the exchange early (the caller decides whether the samples gathered so far suffice)."""
    try:
        # A connected UDP socket only accepts datagrams from the server and reports ICMP
        # errors (port unreachable -> ECONNREFUSED) on the next send/recv.
        sock.connect(sockaddr)
    except OSError as exc:
        return exc

    # Requests not answered yet: raw transmit timestamp (what the server must echo) -> t1.
    outstanding: dict[bytes, int] = {}
    for index in range(samples):
        now = clock.monotonic()
        remaining = deadline - now
        if remaining <= 0 or any(r.kiss for r in rejects):
            break
        sample_deadline = now + remaining / (samples - index)

        request, t1 = _client_request(version, avoid=outstanding)
        origin = request[40:48]
        outstanding[origin] = t1
        try:
            sock.send(request)
        except OSError as exc:
            return exc

        # Wait for the reply to this request (earlier requests' late replies count too).
        while origin in outstanding:
            wait = sample_deadline - clock.monotonic()
            if wait <= 0:
                break
            sock.settimeout(wait)
            try:
                data = sock.recv(1024)
            except TimeoutError:
                break
            except OSError as exc:
                return exc
            t4 = ntp_from_posix(clock.host_timestamp())
            try:
                good.append(_sample_from_reply(data, t4, outstanding, limits))
            except _Reject as rej:
                rejects.append(rej)
    return None


def _client_request(version: int, *, avoid: dict[bytes, int]) -> tuple[bytes, int]:
    """A mode-3 request stamped with the host time, and that stamp (t1, as sent).

    The low 12 bits of the transmit timestamp's fraction (below a microsecond) are random, as
    RFC 5905 / chrony do, so that every request's timestamp is unique and a reply can be
    matched to its request even when the reference clock is frozen.
    """
    now = ntp_from_posix(clock.host_timestamp())
    while True:
        t1 = (now & ~0xFFF) | secrets.randbits(12)
        transmit = timestamp_to_bytes(t1)
        if transmit not in avoid:
            break
    header = NtpHeader(
        leap=0,
        version=version,
        mode=MODE_CLIENT,
        stratum=0,
        poll=0,
        precision=0,
        root_delay=0.0,
        root_dispersion=0.0,
        ref_id=b"\0" * 4,
        reference=ZERO_TIMESTAMP,
        origin=ZERO_TIMESTAMP,
        receive=ZERO_TIMESTAMP,
        transmit=transmit,
    )
    return header.to_bytes(), t1


def _sample_from_reply(data: bytes, t4: int, outstanding: dict[bytes, int], limits: _Limits) -> _Sample:
    """Every test a reply must pass before it is used, in one place; the sample it gives.

    ``t4`` is the host time the datagram arrived (NTP units); ``outstanding`` maps the
    transmit timestamps of our unanswered requests to their t1, and loses the one this reply
    answers.  Raises :class:`_Reject` naming the first test that fails, in this order:

    - ``short_packet``: fewer than 48 bytes;
    - ``origin_mismatch``: the origin is not the transmit timestamp of a request of ours
      (stale, duplicated or spoofed; RFC 5905 §8 "bogus"); the request stays outstanding;
    - ``bad_version``: version outside 1-4 (chrony's NTP_MIN/MAX_COMPAT_VERSION);
    - ``bad_mode``: mode other than 4 (server);
    - ``kiss_of_death``: stratum 0 with an ASCII code (RFC 5905 §7.4: ``RATE``, ``DENY``,
      ``RSTR``…, named in the message); no further request is sent;
    - ``unsynchronised``: leap indicator 3, stratum 0 without a code, or stratum 16 or more;
    - ``zero_transmit`` / ``zero_receive``: a zero timestamp (RFC 5905 §8 test 3);
    - ``receive_after_transmit``: the server says it sent before it received;
    - ``negative_delay``: t3 - t2 exceeds t4 - t1 (a server claiming to have held the request
      longer than the round trip took; chrony refuses a server interval over 4 s, RFC 5905
      clamps the delay to the precision) — beyond :data:`TIMESTAMP_SLACK`, rounding that is
      clamped to 0;
    - ``root_distance``: root delay / 2 + root dispersion above ``max_root_distance``
      (chrony's ``maxdistance``, 3 s);
    - ``panic``: |offset| above ``panic_seconds`` (ntpd's panic threshold, 1000 s).

    Every timestamp is read in the era closest to ``t4`` (RFC 5905 §6).
    """
    if len(data) < NTP_PACKET_LEN:
        raise _Reject("short_packet", f"reply of {len(data)} bytes (need {NTP_PACKET_LEN})")
    header = NtpHeader.parse(data)
    t1 = outstanding.pop(header.origin, None)
    if t1 is None:
        raise _Reject("origin_mismatch", "the reply does not echo the transmit timestamp of any request of ours")
    if header.version not in VERSIONS:
        raise _Reject("bad_version", f"reply version {header.version}, expected 1 to 4")
    if header.mode != MODE_SERVER:
        raise _Reject("bad_mode", f"reply mode {header.mode}, expected {MODE_SERVER} (server)")
    if header.stratum == 0:
        code = format_ref_id(header.ref_id, 0)
        if len(code) >= 2:
            raise _Reject("kiss_of_death", f"kiss-o'-death from the server, code {code!r}", kiss=True)
        raise _Reject("unsynchronised", "stratum 0 (unspecified) without a kiss code: the server is not synchronised")
    if header.leap == LEAP_UNSYNCHRONISED:
        raise _Reject("unsynchronised", "leap indicator 3: the server's clock is not synchronised")
    if header.stratum >= STRATUM_UNSYNCHRONISED:
        raise _Reject("unsynchronised", f"stratum {header.stratum}: the server is not synchronised")
    if header.transmit == ZERO_TIMESTAMP:
        raise _Reject("zero_transmit", "the reply's transmit timestamp is zero")
    if header.receive == ZERO_TIMESTAMP:
        raise _Reject("zero_receive", "the reply's receive timestamp is zero")

    t2 = timestamp_from_bytes(header.receive, pivot=t4)
    t3 = timestamp_from_bytes(header.transmit, pivot=t4)
    server_interval = (t3 - t2) / UNITS_PER_SECOND
    if server_interval < -TIMESTAMP_SLACK:
        raise _Reject(
            "receive_after_transmit",
            f"the server says it received the request {-server_interval:.6f} s after it sent the reply",
        )
    delay = ((t4 - t1) - (t3 - t2)) / UNITS_PER_SECOND
    if delay < -TIMESTAMP_SLACK:
        raise _Reject(
            "negative_delay",
            f"round-trip delay {delay:.6f} s: the server claims it held the request {server_interval:.6f} s, "
            f"longer than the whole exchange took ({(t4 - t1) / UNITS_PER_SECOND:.6f} s)",
        )
    root_distance = header.root_delay / 2 + header.root_dispersion
    if root_distance > limits.max_root_distance:
        raise _Reject(
            "root_distance",
            f"root distance {root_distance:.3f} s (root delay / 2 + root dispersion) "
            f"above {limits.max_root_distance:g} s: the server does not know the time well enough",
        )
    offset = ((t2 - t1) + (t3 - t4)) / 2 / UNITS_PER_SECOND
    if abs(offset) > limits.panic_seconds:
        raise _Reject(
            "panic",
            f"the server's clock is {offset:+.3f} s from the host clock, beyond the panic threshold of "
            f"{limits.panic_seconds:g} s; the host clock is disciplined, so the server is wrong",
        )
    return _Sample(
        offset=offset,
        delay=max(delay, 0.0),
        stratum=header.stratum,
        ref_id=header.ref_id,
        root_delay=header.root_delay,
        root_dispersion=header.root_dispersion,
        leap=header.leap,
    )


def _unreachable(exc: OSError, address: str) -> NtpError:
    if isinstance(exc, TimeoutError):
        return NtpTimeout(f"no reply from NTP server {address}: {exc}", server=address)
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return NtpUnreachable(
            f"NTP server {address} refused the connection (nothing listening on that UDP port)",
            reason="connection_refused",
            server=address,
        )
    if exc.errno in _ERRNO_UNREACHABLE:
        return NtpUnreachable(
            f"NTP server {address} is unreachable: {exc.strerror or exc}",
            reason="network_unreachable",
            server=address,
        )
    return NtpUnreachable(
        f"network error talking to NTP server {address}: {exc}",
        reason="socket_error",
        server=address,
    )


def _resolve(host: str, port: int, deadline: float, address: str) -> tuple[int, tuple]:
    """``getaddrinfo`` bounded by ``deadline`` (the resolver itself may block far longer)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = None  # not a literal address: a name to resolve
    if infos is None:
        box: dict[str, object] = {}

        def lookup() -> None:
            try:
                box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                box["error"] = exc

        worker = threading.Thread(target=lookup, name=f"ntp-dns-{host}", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - clock.monotonic()))
        if worker.is_alive():
            raise NtpTimeout(
                f"DNS lookup of {host!r} did not finish in time",
                reason="dns_timeout",
                server=address,
            )
        if "error" in box:
            exc = box["error"]
            raise NtpUnreachable(
                f"cannot resolve NTP server {host!r}: {exc}",
                reason="dns_failure",
                server=address,
            ) from exc  # type: ignore[misc]
        infos = box["infos"]  # type: ignore[assignment]
    if not infos:
        raise NtpUnreachable(
            f"cannot resolve NTP server {host!r}: no addresses",
            reason="dns_failure",
            server=address,
        )
    family, _type, _proto, _canon, sockaddr = infos[0]
    return family, sockaddr
