"""A fake NTP server on 127.0.0.1 (real UDP) whose replies the test writes.

Each request is answered by a :class:`Reply` (a plausible server reply by default: the host
clock, stratum 2, the request's version and origin echoed), in which any field can be made as
wrong as a test needs: version, mode, stratum, leap, reference id (kiss codes), root delay and
dispersion, the server's clock (an offset from the host, or an absolute instant in any era: a
2040 clock), how long the server claims it held the request, zero or swapped timestamps, a
wrong origin, a truncated datagram.  A test may also pass a function of the :class:`Request`
that returns a :class:`Reply`, raw bytes, or ``None`` (no answer).

Usage (the ``fake_ntp`` fixture in ``timesync/tests/conftest.py`` starts and stops them)::

    server = fake_ntp(Reply(clock_offset=2 * 86_400))   # two days ahead
    ntp.query(server.address)                             # -> NtpBadReply, reason "panic"
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from timesync import clock
from timesync.ntp import (
    MODE_SERVER,
    ZERO_TIMESTAMP,
    NtpHeader,
    ntp_from_posix,
    ntp_to_posix,
    timestamp_from_bytes,
    timestamp_to_bytes,
)
from timesync.ntp_server import encode_ref_id

__all__ = ["FakeNtpServer", "Reply", "Request"]


@dataclass(frozen=True)
class Request:
    """One datagram the fake server received (``index`` counts from 0)."""

    index: int
    data: bytes
    received: float  # host time (POSIX seconds) when it was read

    @property
    def version(self) -> int:
        return (self.data[0] >> 3) & 0x7

    @property
    def transmit(self) -> bytes:
        """The request's raw transmit timestamp (a plausible reply echoes it as its origin)."""
        return self.data[40:48]

    @property
    def t1(self) -> float:
        """The request's transmit timestamp as POSIX seconds (read in the era nearest the host)."""
        pivot = ntp_from_posix(self.received)
        return ntp_to_posix(timestamp_from_bytes(self.transmit, pivot=pivot))


@dataclass(frozen=True)
class Reply:
    """How to answer one request.  Timestamps in POSIX seconds; ``None`` means "plausible"."""

    version: int | None = None  # None: the request's
    mode: int = MODE_SERVER
    leap: int = 0
    stratum: int = 2
    poll: int = 6
    precision: int = -20
    root_delay: float = 0.0
    root_dispersion: float = 0.001
    ref_id: str = "127.127.1.1"  # stratum 0: a kiss code such as "RATE"
    # The server's clock: the host clock plus ``clock_offset``, or ``reads`` at the request's receipt.
    clock_offset: float = 0.0
    reads: datetime | None = None
    hold: float = 0.0  # seconds the server claims it held the request (transmit - receive)
    receive: float | None = None  # absolute receive timestamp, overriding the clock
    transmit: float | None = None  # absolute transmit timestamp, overriding receive + hold
    origin: bytes | None = None  # None: the request's transmit timestamp, echoed
    zero_receive: bool = False
    zero_transmit: bool = False
    length: int | None = None  # truncate the datagram to this many bytes

    def to_bytes(self, request: Request) -> bytes:
        """The datagram answering ``request``."""
        receive = request.received + self.clock_offset if self.reads is None else self.reads.timestamp()
        if self.receive is not None:
            receive = self.receive
        transmit = receive + self.hold if self.transmit is None else self.transmit
        header = NtpHeader(
            leap=self.leap,
            version=request.version if self.version is None else self.version,
            mode=self.mode,
            stratum=self.stratum,
            poll=self.poll,
            precision=self.precision,
            root_delay=self.root_delay,
            root_dispersion=self.root_dispersion,
            ref_id=encode_ref_id(self.ref_id).to_bytes(4, "big"),
            reference=timestamp_to_bytes(ntp_from_posix(receive)),
            origin=request.transmit if self.origin is None else self.origin,
            receive=ZERO_TIMESTAMP if self.zero_receive else timestamp_to_bytes(ntp_from_posix(receive)),
            transmit=ZERO_TIMESTAMP if self.zero_transmit else timestamp_to_bytes(ntp_from_posix(transmit)),
        )
        data = header.to_bytes()
        return data if self.length is None else data[: self.length]

    def but(self, **changes: object) -> Reply:
        """A copy with ``changes``."""
        return replace(self, **changes)  # type: ignore[arg-type]


Answer = Reply | bytes | None
Responder = Reply | Callable[[Request], Answer]


class FakeNtpServer:
    """A UDP server on a free 127.0.0.1 port answering every request with ``respond``.

    ``requests`` lists what it received, in order.  ``close()`` stops it (the fixture does).
    """

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-ntp-{self.port}", daemon=True)
        self._thread.start()

    @property
    def received(self) -> int:
        return len(self.requests)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            request = Request(index=len(self.requests), data=data, received=clock.host_timestamp())
            self.requests.append(request)
            answer = self.respond(request) if callable(self.respond) else self.respond
            if isinstance(answer, Reply):
                answer = answer.to_bytes(request)
            if answer is not None:
                self.sock.sendto(answer, addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
