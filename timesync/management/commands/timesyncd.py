"""``manage.py timesyncd [--interval SECONDS] [--ntp-server HOST[:PORT]] [--once | --iterations N]``.

Keeps every node synced, the way chronyd polls its servers: each round syncs every node
(:func:`timesync.services.nodes_sync`; nodes added meanwhile are picked up), prints one line per
node, then waits ``--interval`` seconds on a stoppable wait (Ctrl-C / SIGTERM end it at once).
A failed sync, whatever its cause, is reported and retried next round; a round that fails as a
whole (the database unreachable) is reported too: nothing stops the daemon but Ctrl-C / SIGTERM,
which end it between two nodes.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

from history.actors import Actor
from timesync.services import nodes_sync

from .sync_ntp import LEGEND, USAGE_ERROR, check_ntp_server, format_table, unreachable_hint

logger = logging.getLogger("seatclock.timesync")

DEFAULT_INTERVAL = 64.0  # chronyd's default minimum polling interval (minpoll 6 = 2**6 s)
MAX_INTERVAL = 86400.0  # a day: chronyd's maxpoll 17 is 36 h, and a longer wait overflows time_t


class Command(BaseCommand):
    help = "Keep every node synced with NTP, one round every --interval seconds, until Ctrl-C/SIGTERM."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Set it (signal handler, another thread, a test) to end the daemon after the current round.
        self.stop = threading.Event()
        self.hinted = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            default=str(DEFAULT_INTERVAL),
            metavar="SECONDS",
            help=f"seconds between rounds (default {DEFAULT_INTERVAL:g}, like chronyd's minpoll 6)",
        )
        parser.add_argument(
            "--ntp-server", default=None, metavar="HOST[:PORT]", help="default: the SEATCLOCK_NTP_SERVER setting"
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--once", action="store_true", help="run one round and exit")
        group.add_argument("--iterations", default=None, metavar="N", help="run N rounds and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = _parse_interval(options["interval"])
        iterations = 1 if options["once"] else _parse_iterations(options["iterations"])
        ntp_server = check_ntp_server(options["ntp_server"])

        previous = self._install_signal_handlers()
        try:
            self.stdout.write(
                f"timesyncd: syncing every node every {interval:g} s"
                + (f" for {iterations} round(s)" if iterations else "; Ctrl-C to stop")
            )
            self.stdout.write(LEGEND)
            rounds = 0
            while not self.stop.is_set():
                rounds += 1
                self._round(rounds, ntp_server)
                if iterations is not None and rounds >= iterations:
                    break
                if self.stop.wait(interval):
                    break
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write(f"timesyncd: stopped after {rounds} round(s)")

    def _round(self, number: int, ntp_server: str | None) -> None:
        if not connection.in_atomic_block:
            close_old_connections()  # a long-lived process must not keep a dead DB connection
        try:
            reports = nodes_sync(ntp_server=ntp_server, stop=self.stop, actor=Actor.system("timesyncd"))
        except Exception as exc:  # e.g. the database is down: report, retry next round
            logger.exception("timesyncd round %d failed", number)
            self.stdout.write(f"round {number}: FAILED {type(exc).__name__}: {exc}")
            self.stdout.flush()
            return
        failed = sum(1 for r in reports if not r.ok)
        self.stdout.write(f"round {number}: {len(reports) - failed}/{len(reports)} node(s) synced")
        self.stdout.write(format_table(reports))
        hint = unreachable_hint(reports)
        if hint and not self.hinted:
            self.stderr.write(hint)  # once: the daemon keeps retrying
            self.hinted = True
        self.stdout.flush()

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: object) -> None:
            self.stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[signum] = signal.signal(signum, on_signal)
            except ValueError:  # not in the main thread (call_command from a worker)
                pass
        return previous


def _parse_interval(value: object) -> float:
    try:
        interval = float(str(value))
    except ValueError:
        raise CommandError(f"--interval must be a number of seconds, got {value!r}", returncode=USAGE_ERROR) from None
    if not (math.isfinite(interval) and 0 < interval <= MAX_INTERVAL):
        raise CommandError(
            f"--interval must be a number of seconds above 0 and at most {MAX_INTERVAL:g}, got {value!r}",
            returncode=USAGE_ERROR,
        )
    return interval


def _parse_iterations(value: object) -> int | None:
    if value is None:
        return None
    try:
        iterations = int(str(value), 10)
    except ValueError:
        iterations = 0
    if iterations < 1:
        raise CommandError(f"--iterations must be a positive integer, got {value!r}", returncode=USAGE_ERROR)
    return iterations
