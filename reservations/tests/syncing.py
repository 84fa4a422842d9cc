"""Nodes synced for real, with a chosen error: an NTP exchange with a fake NTP server (real UDP
on 127.0.0.1, :mod:`timesync.tests.fake_ntp`) whose clock is ``residual`` seconds from the
host's and which announces ``dispersion`` seconds of root dispersion.  In virtual time (a
frozen reference clock) the round trip takes no time, so the sync's error bound is
``|residual| + dispersion`` (to the 2**-16 s of the wire format) and the node ends ``residual``
seconds from true time."""

from __future__ import annotations

from collections.abc import Callable

from django.test import override_settings

from timesync.services import node_sync
from timesync.tests.fake_ntp import FakeNtpServer, Reply

__all__ = ["SyncSource"]


class SyncSource:
    """One fake NTP server whose answer is tuned before each sync (one thread, one port, for
    every sync of a test)."""

    def __init__(self, fake_ntp: Callable[[Callable[..., Reply]], FakeNtpServer]) -> None:
        self.reply = Reply()
        self.server = fake_ntp(lambda request: self.reply)

    def sync(self, server_id: str, *, residual: float, dispersion: float) -> float:
        """Sync ``server_id`` against a server ``residual`` s off announcing ``dispersion`` s of
        root dispersion; returns the sync's error bound (the node's ε right after it)."""
        self.reply = Reply(clock_offset=residual, root_dispersion=dispersion)
        with override_settings(SEATCLOCK_NTP_SAMPLES=1):
            outcome = node_sync(server_id=server_id, ntp_server=self.server.address)
        return outcome.result.error_bound
