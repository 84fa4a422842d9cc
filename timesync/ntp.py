"""NTP client: query an NTP server and measure the host clock's offset from it.

Packet encoding/decoding and the offset/delay arithmetic come from :mod:`ntplib`
(``NTPPacket`` / ``NTPStats``); the UDP exchange is done here so that the overall time budget,
reply validation and error types are under our control.  Timestamps are read with
:func:`timesync.clock.host_timestamp` (the one clock Seatclock may read), durations with
:func:`timesync.clock.monotonic`.

How a query measures (RFC 5905 on-wire protocol)::

    t1 = client transmit, t2 = server receive, t3 = server transmit, t4 = client receive
    offset = ((t2 - t1) + (t3 - t4)) / 2          # server clock minus our clock
    delay  = (t4 - t1) - (t3 - t2)                # network round trip

``samples`` requests are sent; the sample with the smallest delay is kept (the idea of the
RFC 5905 clock filter: the shortest round trip has the least asymmetry error).
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re
import secrets
import socket
import threading
from dataclasses import dataclass

import ntplib

from timesync import clock

__all__ = [
    "DEFAULT_PORT",
    "NtpAddressError",
    "NtpBadReply",
    "NtpError",
    "NtpResult",
    "NtpTimeout",
    "NtpUnreachable",
    "format_ref_id",
    "parse_ntp_address",
    "query",
]

DEFAULT_PORT = 123
NTP_PACKET_LEN = 48
MODE_CLIENT = 3
MODE_SERVER = 4
LEAP_UNSYNCHRONISED = 3
STRATUM_UNSYNCHRONISED = 16

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


# --------------------------------------------------------------------------- result


def format_ref_id(ref_id: int, stratum: int) -> str:
    """Reference id as text: ASCII code for stratum 0/1 (``"GPS"``, ``"RATE"``), else dotted IPv4.

    (For IPv6 upstreams NTPv4 puts the first 4 bytes of an MD5 hash here; it is shown dotted too.)
    """
    raw = int(ref_id & 0xFFFFFFFF).to_bytes(4, "big")
    if stratum <= 1:
        return "".join(chr(b) if 32 <= b < 127 else "" for b in raw.rstrip(b"\0"))
    return str(ipaddress.IPv4Address(raw))


@dataclass(frozen=True)
class NtpResult:
    """One NTP measurement: the best (minimum-delay) of ``samples_used`` good samples.

    ``offset`` is the server's clock minus the host clock, in seconds: add it to the host time
    to get the server's time.
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
        """Bound on |host clock - true time| as AWS ClockBound computes it:
        ``|offset| + root_dispersion + delay / 2``."""
        return abs(self.offset) + self.root_dispersion + self.delay / 2


# --------------------------------------------------------------------------- query


@dataclass(frozen=True)
class _Sample:
    offset: float
    delay: float
    stratum: int
    ref_id: int
    root_delay: float
    root_dispersion: float
    leap: int


class _Reject(Exception):
    def __init__(self, reason: str, message: str, *, kiss: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.kiss = kiss


def query(address: str, *, samples: int = 4, timeout: float = 1.0, version: int = 4) -> NtpResult:
    """Query the NTP server at ``address`` (see :func:`parse_ntp_address`).

    Sends ``samples`` requests, one after the other, and returns the good reply with the
    smallest round-trip delay.  The whole call, name resolution included, takes at most
    ``timeout`` seconds (plus scheduling noise): each sample gets an equal share of the time
    left, and a reply that arrives late still counts while later samples are awaited.  If some
    samples succeeded before the budget ran out, those are used.

    Raises :class:`NtpAddressError` (a ``ValueError``) for a bad address, ``ValueError`` for
    bad arguments, :class:`NtpUnreachable`, :class:`NtpTimeout` or :class:`NtpBadReply`.
    """
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if version not in (1, 2, 3, 4):
        raise ValueError(f"NTP version must be 1..4, got {version!r}")

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
        failure = _exchange(sock, sockaddr, samples, deadline, version, good, rejects)
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
            f"NTP server {address} sent no usable reply ({len(rejects)} rejected): {first}",
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

    # Raw transmit timestamps of the requests not answered yet.
    outstanding: dict[bytes, None] = {}
    for index in range(samples):
        now = clock.monotonic()
        remaining = deadline - now
        if remaining <= 0 or any(r.kiss for r in rejects):
            break
        sample_deadline = now + remaining / (samples - index)

        request = _client_request(version, avoid=outstanding)
        origin = request[40:48]
        outstanding[origin] = None
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
            t4 = clock.host_timestamp()
            if len(data) < NTP_PACKET_LEN:
                reason = f"reply of {len(data)} bytes (need {NTP_PACKET_LEN})"
                rejects.append(_Reject("short_packet", reason))
                continue
            reply_origin = data[24:32]
            if reply_origin not in outstanding:
                # Not an answer to anything we asked (stale, duplicate or spoofed): drop it.
                reason = "reply does not echo any request's transmit timestamp"
                rejects.append(_Reject("origin_mismatch", reason))
                continue
            del outstanding[reply_origin]
            try:
                good.append(_decode(data, t4))
            except _Reject as rej:
                rejects.append(rej)
    return None


def _client_request(version: int, *, avoid: dict[bytes, None]) -> bytes:
    """A mode-3 request stamped with the host time.

    The low 12 bits of the transmit timestamp's fraction (below a microsecond, and below the
    resolution of a float NTP timestamp anyway) are random, as RFC 5905 / chrony do, so that
    every request's timestamp is unique and a reply can be matched to its request even when
    the reference clock is frozen.
    """
    t1 = ntplib.system_to_ntp_time(clock.host_timestamp())
    packet = bytearray(ntplib.NTPPacket(version=version, mode=MODE_CLIENT, tx_timestamp=t1).to_data())
    base = int.from_bytes(packet[44:48], "big") & ~0xFFF
    while True:
        packet[44:48] = (base | secrets.randbits(12)).to_bytes(4, "big")
        if bytes(packet[40:48]) not in avoid:
            return bytes(packet)


def _decode(data: bytes, t4: float) -> _Sample:
    stats = ntplib.NTPStats()
    try:
        stats.from_data(data)
    except ntplib.NTPException as exc:  # pragma: no cover - length is checked before
        raise _Reject("malformed", str(exc)) from exc
    stats.dest_timestamp = ntplib.system_to_ntp_time(t4)

    if stats.mode != MODE_SERVER:
        raise _Reject("bad_mode", f"reply mode is {stats.mode}, expected {MODE_SERVER} (server)")
    if stats.stratum == 0:
        code = format_ref_id(stats.ref_id, 0) or "?"
        raise _Reject("kiss_of_death", f"kiss-o'-death from server (code {code!r})", kiss=True)
    if stats.stratum >= STRATUM_UNSYNCHRONISED:
        raise _Reject("unsynchronised", f"server stratum {stats.stratum} means unsynchronised")
    if stats.leap == LEAP_UNSYNCHRONISED:
        raise _Reject("unsynchronised", "server leap indicator 3: clock not synchronised")
    if data[40:48] == b"\0" * 8:
        raise _Reject("zero_transmit", "reply transmit timestamp is zero")
    if data[32:40] == b"\0" * 8:
        raise _Reject("zero_receive", "reply receive timestamp is zero")

    # RFC 5905 clamps the delay to at least the system precision; rounding on a loopback
    # exchange could otherwise make it a hair negative.
    delay = max(stats.delay, 0.0)
    return _Sample(
        offset=stats.offset,
        delay=delay,
        stratum=stats.stratum,
        ref_id=stats.ref_id,
        root_delay=stats.root_delay,
        root_dispersion=stats.root_dispersion,
        leap=stats.leap,
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
