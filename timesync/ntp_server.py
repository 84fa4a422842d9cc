"""Seatclock's own NTP server: serves the host clock over UDP so demos work offline.

It answers client requests as chronyd and ntpd do: mode 3 of NTP versions 1 to 4, and mode 0
of version 1 (RFC 1059 had no mode field, so an NTPv1 client's request carries mode 0; chrony
and ntpd answer it when it does not come from port 123), at least 48 bytes.  The reply is an
RFC 5905 server reply (mode 4, never mode 0) echoing the request's version.  Everything else
(short packets, other modes, versions 0 and 5-7, garbage) is silently dropped.

The time served is :func:`timesync.clock.host_timestamp` (the reference clock), so a frozen or
virtual reference clock installed with ``clock.use_reference_clock`` is what clients see.
Timestamps go on the wire through :mod:`timesync.ntp`'s era arithmetic (RFC 5905 §6), so the
server keeps working past 2036.

Usage::

    server = NtpServer(port=0)          # binds immediately; .port is the real port
    server.start_in_thread()            # or server.serve_forever() in the current thread
    ...
    server.shutdown()                   # stops the loop and closes the socket
"""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import threading
from dataclasses import dataclass
from typing import Self

from timesync import clock
from timesync.ntp import (
    MODE_CLIENT,
    MODE_SERVER,
    MODE_UNSPECIFIED,
    NTP_PACKET_LEN,
    VERSIONS,
    NtpHeader,
    ntp_timestamp_bytes,
)

__all__ = [
    "NtpServer",
    "build_reply",
    "encode_ref_id",
    "is_client_request",
]

logger = logging.getLogger("seatclock.ntpserver")

NTP_PORT = 123
DEFAULT_PRECISION = -20  # 2**-20 s ~ 1 us: host_timestamp() has microsecond resolution
DEFAULT_ROOT_DELAY = 0.0
DEFAULT_ROOT_DISPERSION = 0.001
_MAX_DATAGRAM = 2048


def is_client_request(data: bytes, *, source_port: int | None = None) -> bool:
    """True if ``data`` is an NTP client request this server answers: at least 48 bytes, mode 3
    with version 1 to 4, or mode 0 with version 1 (an NTPv1 client) unless it comes from port
    123 (ntpd takes that for a symmetric peer; chrony: "Don't ever respond with a mode 0
    packet", it answers with mode 4)."""
    if len(data) < NTP_PACKET_LEN:
        return False
    version = (data[0] >> 3) & 0x7
    mode = data[0] & 0x7
    if mode == MODE_CLIENT:
        return version in VERSIONS
    return mode == MODE_UNSPECIFIED and version == 1 and source_port != NTP_PORT


def encode_ref_id(ref_id: str) -> int:
    """``"127.127.1.1"`` -> its 32 bits; ``"LOCL"``/``"GPS"`` -> ASCII, NUL padded."""
    try:
        return int(ipaddress.IPv4Address(ref_id))
    except ValueError:
        pass
    if not ref_id or len(ref_id) > 4 or not ref_id.isascii() or not ref_id.isprintable():
        raise ValueError(
            f"reference id must be a dotted IPv4 address or 1-4 printable ASCII characters, got {ref_id!r}"
        )
    return int.from_bytes(ref_id.encode("ascii").ljust(4, b"\0"), "big")


def build_reply(
    request: bytes,
    *,
    receive_ts: float,
    transmit_ts: float,
    stratum: int,
    ref_id: int,
    precision: int = DEFAULT_PRECISION,
    root_delay: float = DEFAULT_ROOT_DELAY,
    root_dispersion: float = DEFAULT_ROOT_DISPERSION,
    reference_ts: float | None = None,
) -> bytes:
    """The 48-byte server reply to ``request`` (POSIX timestamps in, NTP wire format out).

    Leap 0, the request's version, mode 4, the request's poll echoed; the origin timestamp is
    the request's transmit timestamp copied bit for bit.
    """
    header = NtpHeader(
        leap=0,
        version=(request[0] >> 3) & 0x7,
        mode=MODE_SERVER,
        stratum=stratum,
        poll=int.from_bytes(request[2:3], "big", signed=True),
        precision=precision,
        root_delay=root_delay,
        root_dispersion=root_dispersion,
        ref_id=ref_id.to_bytes(4, "big"),
        reference=ntp_timestamp_bytes(transmit_ts if reference_ts is None else reference_ts),
        origin=request[40:48],
        receive=ntp_timestamp_bytes(receive_ts),
        transmit=ntp_timestamp_bytes(transmit_ts),
    )
    return header.to_bytes()


@dataclass
class _ClientStats:
    window_start: float  # monotonic time since which served/ignored are counted
    served: int = 0
    ignored: int = 0
    last_logged: float | None = None  # monotonic time of the last log line for this client


class NtpServer:
    """A small single-threaded UDP NTP server serving ``clock.host_timestamp()``.

    The socket is bound in the constructor (``OSError`` if that fails), so ``.port`` is known
    at once, also when ``port=0`` asked for a free port.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1123,
        stratum: int = 2,
        ref_id: str | None = None,
        *,
        log_interval: float = 60.0,
        precision: int = DEFAULT_PRECISION,
        root_delay: float = DEFAULT_ROOT_DELAY,
        root_dispersion: float = DEFAULT_ROOT_DISPERSION,
    ) -> None:
        if not isinstance(stratum, int) or not 1 <= stratum <= 15:
            raise ValueError(f"stratum must be an integer 1..15, got {stratum!r}")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer 0..65535, got {port!r}")
        if not log_interval > 0:
            raise ValueError(f"log_interval must be positive, got {log_interval!r}")
        if ref_id is None:
            ref_id = "LOCL" if stratum == 1 else "127.127.1.1"
        self.stratum = stratum
        self.ref_id = ref_id
        self._ref_id_bits = encode_ref_id(ref_id)
        self.precision = precision
        self.root_delay = root_delay
        self.root_dispersion = root_dispersion
        self.log_interval = float(log_interval)

        self.requests_served = 0
        self.packets_ignored = 0
        self.errors = 0
        self._clients: dict[str, _ClientStats] = {}

        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._serving_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        family, _type, _proto, _canon, sockaddr = infos[0]
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.socket.bind(sockaddr)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        bound = self.socket.getsockname()
        self.host: str = bound[0]
        self.port: int = bound[1]

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port``) as :func:`timesync.ntp.parse_ntp_address` accepts it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def serve_forever(self, poll_interval: float = 1.0) -> None:
        """Answer requests until :meth:`shutdown` is called (from another thread or a signal
        handler).  Never raises because of one packet."""
        if self._closed:
            raise RuntimeError("NtpServer is closed")
        self._stopped.clear()
        self._serving_thread = threading.get_ident()
        logger.info(
            "NTP server listening on udp %s (stratum %d, ref id %s)",
            self.address,
            self.stratum,
            self.ref_id,
        )
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(self.socket, selectors.EVENT_READ)
                sel.register(self._wake_r, selectors.EVENT_READ)
                while not self._stop.is_set():
                    timeout = min(poll_interval, self.log_interval)
                    for key, _events in sel.select(timeout):
                        if key.fileobj is self._wake_r:
                            self._drain_wakeups()
                        else:
                            self._read_available()
                    self._flush_logs()
        finally:
            self._flush_logs(force=True)
            self._serving_thread = None
            self._stopped.set()
            logger.info(
                "NTP server on udp %s stopped (%d requests served)",
                self.address,
                self.requests_served,
            )

    def start_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread; returns once the socket is bound and the loop is running."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("NtpServer is already running")
        running = threading.Event()

        def run() -> None:
            running.set()
            self.serve_forever(poll_interval=0.5)

        self._stop.clear()
        self._stopped.clear()
        self._thread = threading.Thread(target=run, name=f"ntpserver-{self.port}", daemon=True)
        self._thread.start()
        running.wait()
        return self._thread

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Stop serving and close the socket.  Safe from any thread and from a signal handler
        running in the serving thread (then it only asks the loop to stop).  Idempotent."""
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if threading.get_ident() == self._serving_thread:
            return  # the loop notices the stop flag and exits; serve_forever's caller closes
        self._stopped.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for sock in (self.socket, self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ packet handling

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except OSError:
            pass

    def _read_available(self) -> None:
        # Drain the socket, but bounded so that a flood cannot starve shutdown or logging.
        for _ in range(256):
            try:
                data, addr = self.socket.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # e.g. ECONNREFUSED from an ICMP error caused by an earlier reply: not fatal.
                self.errors += 1
                logger.debug("NTP server recv error: %s", exc)
                return
            receive_ts = clock.host_timestamp()
            try:
                self.handle_packet(data, addr, receive_ts)
            except Exception:  # one bad packet must never stop the server
                self.errors += 1
                logger.exception("NTP server: error handling a packet from %s", addr[0])

    def handle_packet(self, data: bytes, addr: tuple, receive_ts: float) -> bool:
        """Answer one datagram; returns whether a reply was sent."""
        stats = self._clients.get(addr[0])
        if stats is None:
            stats = self._clients[addr[0]] = _ClientStats(window_start=clock.monotonic())
        if not is_client_request(data, source_port=addr[1]):
            self.packets_ignored += 1
            stats.ignored += 1
            return False
        reply = bytearray(
            build_reply(
                data,
                receive_ts=receive_ts,
                transmit_ts=receive_ts,  # replaced below, at the last moment
                reference_ts=receive_ts,
                stratum=self.stratum,
                ref_id=self._ref_id_bits,
                precision=self.precision,
                root_delay=self.root_delay,
                root_dispersion=self.root_dispersion,
            )
        )
        # Count before sending, so that a client holding the reply sees it counted.
        self.requests_served += 1
        stats.served += 1
        try:
            reply[40:48] = ntp_timestamp_bytes(clock.host_timestamp())  # transmit timestamp
            self.socket.sendto(reply, addr)
        except OSError as exc:
            self.requests_served -= 1
            stats.served -= 1
            self.errors += 1
            logger.debug("NTP server: cannot reply to %s: %s", addr[0], exc)
            return False
        if stats.last_logged is None:
            self._log_client(addr[0], stats, clock.monotonic(), first=True)
        return True

    # ------------------------------------------------------------------ rate-limited logging

    def _log_client(self, client: str, stats: _ClientStats, now: float, *, first: bool = False) -> None:
        if first:
            logger.info("NTP client %s: first request served", client)
        else:
            logger.info(
                "NTP client %s: %d requests served, %d packets ignored in the last %.0f s",
                client,
                stats.served,
                stats.ignored,
                now - stats.window_start,
            )
        stats.served = stats.ignored = 0
        stats.last_logged = stats.window_start = now

    def _flush_logs(self, *, force: bool = False) -> None:
        now = clock.monotonic()
        for client in list(self._clients):
            stats = self._clients[client]
            due = stats.last_logged is None or now - stats.last_logged >= self.log_interval
            if not (due or force):
                continue
            if stats.served or stats.ignored:
                self._log_client(client, stats, now)
            else:
                del self._clients[client]  # quiet for a full interval: forget it
