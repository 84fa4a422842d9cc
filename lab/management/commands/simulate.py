"""``manage.py simulate``: the load generator (engine in ``lab.loadgen``)."""

from __future__ import annotations

import argparse
import json
import threading
from urllib.parse import urlsplit

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from core.commands import USAGE_ERROR, ServiceCommand, int_in, number_in
from core.ids import shown
from history.actors import Actor
from lab import loadgen

#: The largest values the options take: a run stays minutes long and threads stay few (100,000
#: worker threads took 50 s to start for 5 requests; --count 1e20 never ended).
MAX_CUSTOMERS = 1_000_000
MAX_SEATS = 100_000
MAX_CONCURRENCY = 256
MAX_COUNT = 1_000_000
MAX_DURATION = 3600.0


def base_url(value: str) -> str:
    """An argparse ``type``: an ``http``/``https`` URL with a host (and a valid port), else one
    sentence (exit 2) rather than urllib's ``ValueError: unknown url type`` traceback."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL with a host, not {shown(value)!r}")
    return value


def api_token(value: str) -> str:
    """An argparse ``type``: a token that can travel in a header (printable ASCII, no spaces)."""
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        raise argparse.ArgumentTypeError("must be printable ASCII without spaces")
    return value


class Command(ServiceCommand):
    help = (
        "Fire concurrent customers at popular seats through several nodes, then report 201s, 409s, "
        "the conflicts (fair and unfair) among the run's own reservations, throughput, latency, and the "
        "history checker's verdict on the run's own operations (tagged in the history). In-process by "
        "default; --url to load a running server over HTTP (the history then needs a staff --token in "
        "production mode)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers",
            type=int_in(1, MAX_CUSTOMERS),
            default=100,
            help=f"Distinct customers, at most {MAX_CUSTOMERS:,} (default 100).",
        )
        parser.add_argument(
            "--seats",
            type=int_in(1, MAX_SEATS),
            default=20,
            help="How many seats to target, Zipf-weighted (default 20).",
        )
        parser.add_argument(
            "--concurrency",
            type=int_in(1, MAX_CONCURRENCY),
            default=8,
            help=f"Worker threads, at most {MAX_CONCURRENCY} (default 8).",
        )
        stop = parser.add_mutually_exclusive_group()
        stop.add_argument(
            "--count",
            type=int_in(1, MAX_COUNT),
            help=f"Stop after this many attempts, at most {MAX_COUNT:,} (default 200).",
        )
        stop.add_argument(
            "--duration",
            type=number_in(0, MAX_DURATION, low_open=True),
            help=f"Stop after this many seconds, at most {MAX_DURATION:g}.",
        )
        parser.add_argument("--scenario", help="Apply this drift scenario first (e.g. major_drift).")
        parser.add_argument("--nodes", help="Comma-separated node ids to spread the load over (default: all).")
        parser.add_argument("--seed", type=int, help="Seed of the random choices, for repeatable runs.")
        parser.add_argument(
            "--url", type=base_url, help="Base URL of a running Seatclock (e.g. http://127.0.0.1:8000)."
        )
        parser.add_argument(
            "--token", type=api_token, help="API token (production mode: needed for --scenario over --url)."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON only.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **opts):
        count = opts["count"] if opts["count"] is not None or opts["duration"] is not None else 200
        requested = [n.strip() for n in (opts["nodes"] or "").split(",") if n.strip()]
        config = loadgen.LoadConfig(
            customers=opts["customers"],
            seats=opts["seats"],
            concurrency=opts["concurrency"],
            count=count,
            duration=opts["duration"],
            nodes=tuple(requested),
            seed=opts["seed"],
        )
        run = loadgen.run_tag()
        client = loadgen.HttpClient(opts["url"], token=opts["token"], run=run) if opts["url"] else None
        if client is not None:
            seat_ids, nodes = self._remote_setup(client, opts["scenario"], requested)
            transport, mode, close = client.transport, f"http {client.base_url}", False
        else:
            seat_ids, nodes = self._local_setup(opts["scenario"], requested, run)
            transport, mode, close = loadgen.InProcessTransport(run), "in-process", True
        try:
            plan = loadgen.Plan(config, seat_ids, nodes)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR)

        with tqdm(
            total=config.count, unit="req", desc="simulate", disable=opts["no_progress"], file=self.stderr._out
        ) as bar:
            lock = threading.Lock()

            def tick() -> None:
                with lock:
                    bar.update(1)

            tally, elapsed = loadgen.run_load(config, plan, transport, on_attempt=tick, close_connection=close)

        # Only this run's own operations: its tag in the history names them.
        try:
            ops = loadgen.history_from_api(client, run) if client is not None else loadgen.history_from_db(run)
        except (OSError, RuntimeError) as exc:  # over HTTP in production: the history is staff-only
            ops, history = [], {"run": run, "error": str(exc)}
        else:
            history = loadgen.history_verdict(ops, run)
        own = loadgen.run_sales(ops)
        conflicts = loadgen.conflicts_from_api(client, own) if client is not None else loadgen.conflicts_from_db(own)
        report = loadgen.build_report(config, plan, tally, elapsed, conflicts, mode=mode, history=history)
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for line in loadgen.format_report(report):
                self.stdout.write(line)

    def _local_setup(self, scenario: str | None, requested: list[str], run: str) -> tuple[list[int], list[str]]:
        from seats.models import Seat
        from simulation.services import scenario_apply
        from timesync.selectors import node_list

        known = list(node_list().values_list("server_id", flat=True))
        self._check_nodes(requested, known)
        if scenario:
            scenario_apply(name=scenario, actor=Actor.system("simulate", run=run))  # DomainError → exit 2
        return list(Seat.objects.values_list("pk", flat=True)), requested or known

    def _remote_setup(
        self, client: loadgen.HttpClient, scenario: str | None, requested: list[str]
    ) -> tuple[list[int], list[str]]:
        try:
            status, servers = client.request("GET", "/api/time/servers")
            if status != 200:
                raise CommandError(f"GET /api/time/servers answered {status}", returncode=USAGE_ERROR)
            known = [s["server_id"] for s in servers["servers"]]
            self._check_nodes(requested, known)
            if scenario:
                status, body = client.request("POST", "/api/simulation/apply-scenario", {"scenario_name": scenario})
                if status != 200:
                    message = (body or {}).get("error", {}).get("message", "") if isinstance(body, dict) else ""
                    raise CommandError(
                        f"applying scenario {scenario} failed: HTTP {status} {message}".strip(), returncode=USAGE_ERROR
                    )
            status, seats = client.request("GET", "/api/seats")
            if status != 200:
                raise CommandError(f"GET /api/seats answered {status}", returncode=USAGE_ERROR)
        except OSError as exc:
            raise CommandError(f"cannot reach {client.base_url}: {exc}", returncode=USAGE_ERROR)
        return [s["id"] for s in seats], requested or known

    @staticmethod
    def _check_nodes(requested: list[str], known: list[str]) -> None:
        unknown = [n for n in requested if n not in known]
        if unknown:
            raise CommandError(
                f"unknown node(s): {', '.join(unknown)} (known: {', '.join(known)})", returncode=USAGE_ERROR
            )
