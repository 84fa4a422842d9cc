"""``manage.py sync_ntp [SERVER ...] [--all] [--ntp-server HOST[:PORT]]``: step nodes onto NTP.

A thin wrapper around :func:`timesync.services.nodes_sync`.  Prints one table row per node
(measured offset theta_node, delay, stratum, result).  Exit status: 0 when every sync
succeeded, 1 when any failed, 2 for bad arguments or an unknown server id.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import domain_error
from history.actors import Actor
from timesync import ntp
from timesync.errors import InvalidServerId, NtpSyncFailed
from timesync.selectors import node_ids
from timesync.services import SyncReport, nodes_sync

USAGE_ERROR = 2

#: What the table's columns mean (printed under it; timesyncd prints it once).
LEGEND = """\
  MEASURED OFFSET  how far the node's clock was from the NTP server (theta_node), in seconds:
                   the step just applied to it, so a node 10 s behind reads +10.000000
  DELAY            round trip of the NTP exchange kept (the fastest of the samples)
  STRATUM          the NTP server's distance from a reference clock (1: attached to one)"""


class Command(BaseCommand):
    help = "Synchronise simulated server nodes with a real NTP exchange (each node stepped by theta_node)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("servers", nargs="*", metavar="SERVER", help="server ids to sync (e.g. server-2)")
        parser.add_argument("--all", action="store_true", help="sync every node")
        parser.add_argument(
            "--ntp-server",
            default=None,
            metavar="HOST[:PORT]",
            help="NTP server to query (default: the SEATCLOCK_NTP_SERVER setting)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        servers: list[str] = options["servers"]
        if options["all"] and servers:
            raise CommandError("give server ids or --all, not both", returncode=USAGE_ERROR)
        if not options["all"] and not servers:
            raise CommandError("give one or more server ids, or --all", returncode=USAGE_ERROR)
        ntp_server = check_ntp_server(options["ntp_server"])
        try:
            reports = nodes_sync(
                None if options["all"] else servers, ntp_server=ntp_server, actor=Actor.system("sync_ntp")
            )
        except InvalidServerId as exc:
            raise domain_error(exc, valid=node_ids()) from exc
        self.stdout.write(format_table(reports))
        self.stdout.write(LEGEND)
        failed = [r.server_id for r in reports if not r.ok]
        if failed:
            hint = unreachable_hint(reports)
            raise CommandError(
                f"{len(failed)} of {len(reports)} syncs failed: {', '.join(failed)}" + (f". {hint}" if hint else "")
            )
        self.stdout.write(self.style.SUCCESS(f"{len(reports)} node(s) synced"))


#: Failure reasons that mean nothing answered at the address asked (timesync.ntp).
NOTHING_THERE = frozenset({"connection_refused", "timeout"})


def unreachable_hint(reports: list[SyncReport]) -> str:
    """A sentence for failures where nothing answered at the address asked: which address, and how
    to point manage.py at the NTP server ``run.sh`` started (``NTP_PORT`` reaches the web server
    only; a command never guesses ports); ``""`` when no failure is of that kind."""
    addresses = sorted(
        {
            str(r.error.details.get("ntp_server", ""))
            for r in reports
            if not r.ok and r.reason in NOTHING_THERE and isinstance(r.error, NtpSyncFailed)
        }
    )
    if not addresses:
        return ""
    return (
        f"Nothing answered at {', '.join(addresses)}: if Seatclock's NTP server runs on another port "
        "(run.sh with NTP_PORT=PORT tells only the web server), set SEATCLOCK_NTP_SERVER=127.0.0.1:PORT "
        "or pass --ntp-server 127.0.0.1:PORT."
    )


def check_ntp_server(value: str | None) -> str | None:
    """``value`` if it is a valid ``host[:port]`` (or None), else a usage error."""
    if value is None:
        return None
    try:
        ntp.parse_ntp_address(value)
    except ntp.NtpAddressError as exc:
        raise CommandError(f"--ntp-server: {exc}", returncode=USAGE_ERROR) from exc
    return value


def format_table(reports: list[SyncReport]) -> str:
    """The node / measured offset / delay / stratum / result table."""
    rows = [("NODE", "MEASURED OFFSET (s)", "DELAY (ms)", "STRATUM", "RESULT")]
    for report in reports:
        if report.outcome is not None:
            out = report.outcome
            rows.append(
                (
                    report.server_id,
                    f"{out.correction:+.6f}",
                    f"{out.result.delay * 1000:.3f}",
                    str(out.result.stratum),
                    f"ok ({out.result.server})",
                )
            )
        else:
            rows.append((report.server_id, "-", "-", "-", f"FAILED {report.reason}: {report.message}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4]]) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
