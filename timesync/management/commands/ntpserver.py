"""``manage.py ntpserver``: run Seatclock's own NTP server (serving the host clock) until
Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import USAGE_ERROR
from timesync.ntp_server import NtpServer, encode_ref_id, logger

#: The longest --log-interval: a day (a longer one is a typo, and threading waits overflow).
MAX_LOG_INTERVAL = 86400.0


class Command(BaseCommand):
    help = "Run Seatclock's NTP server (UDP), serving the host clock, until Ctrl-C/SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument(
            "--port",
            default="1123",
            help="UDP port to bind, 0 for any free port (default 1123)",
        )
        parser.add_argument("--stratum", default="2", help="stratum to announce, 1..15 (default 2)")
        parser.add_argument(
            "--ref-id",
            default=None,
            help='reference id: 1-4 ASCII characters or dotted IPv4 (default "LOCL" for stratum 1, else 127.127.1.1)',
        )
        parser.add_argument(
            "--log-interval",
            default="60",
            help="seconds between per-client summary log lines (default 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = _parse_int(options["port"], "--port", 0, 65535)
        stratum = _parse_int(options["stratum"], "--stratum", 1, 15)
        try:
            log_interval = float(options["log_interval"])
        except ValueError:
            raise CommandError(
                f"--log-interval must be a number of seconds, got {options['log_interval']!r}", returncode=USAGE_ERROR
            ) from None
        if not 0 < log_interval <= MAX_LOG_INTERVAL:
            raise CommandError(
                f"--log-interval must be a number of seconds above 0 and at most {MAX_LOG_INTERVAL:g}, "
                f"got {options['log_interval']!r}",
                returncode=USAGE_ERROR,
            )
        if options["ref_id"] is not None:
            try:
                encode_ref_id(options["ref_id"])  # every argument is checked before any side effect
            except ValueError as exc:
                raise CommandError(f"--ref-id: {exc}", returncode=USAGE_ERROR) from exc
        host = options["host"]

        _ensure_log_output(int(options.get("verbosity", 1)))
        try:
            server = NtpServer(
                host=host,
                port=port,
                stratum=stratum,
                ref_id=options["ref_id"],
                log_interval=log_interval,
            )
        except ValueError as exc:  # a --host the socket layer refuses outright
            raise CommandError(f"--host {host!r}: {exc}", returncode=USAGE_ERROR) from exc
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = ""
            if port and port < 1024:
                hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            raise CommandError(f"cannot bind UDP {host}:{port}: {reason}{hint}") from exc

        self.stdout.write(
            f"Seatclock NTP server listening on udp {server.address} "
            f"(stratum {server.stratum}, ref id {server.ref_id}); Ctrl-C to stop"
        )
        self.stdout.flush()

        def on_sigterm(signum: int, frame: object) -> None:
            server.shutdown()  # in the serving thread this only asks the loop to stop

        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:  # not in the main thread (e.g. call_command from a worker)
            previous = None
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self.stdout.write(f"NTP server stopped ({server.requests_served} requests served)")


def _parse_int(value: object, name: str, low: int, high: int) -> int:
    try:
        number = int(str(value), 10)
    except ValueError:
        raise CommandError(f"{name} must be an integer {low}..{high}, got {value!r}", returncode=USAGE_ERROR) from None
    if not low <= number <= high:
        raise CommandError(f"{name} must be in {low}..{high}, got {number}", returncode=USAGE_ERROR)
    return number


def _ensure_log_output(verbosity: int) -> None:
    """Show the server's log lines on stderr unless the project's LOGGING already routes them."""
    if any(getattr(h, "_seatclock_ntpserver", False) for h in logger.handlers):
        return
    if logger.hasHandlers() and logger.getEffectiveLevel() <= logging.INFO:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._seatclock_ntpserver = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    logger.propagate = False
