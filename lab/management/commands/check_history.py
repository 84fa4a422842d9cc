"""``manage.py check_history``: check the operations history for double sales, real-time
inversions and stale decisions (engine in ``lab.checker``)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import USAGE_ERROR, database_id, int_in
from history.selectors import operation_list
from lab import checker

#: Exit status when the history is invalid (0: valid; 2: bad arguments or an unreadable file).
INVALID = 1

#: The largest --limit (more anomalies than that are read with --json).
MAX_LIMIT = 1_000_000


class Command(BaseCommand):
    help = (
        "Check the operations history (DESIGN §8), seat by seat: double sales, real-time inversions, "
        "stale acceptances (stolen holds) and stale refusals (zombie holds), each with its minimal witness "
        "pair; prints 'valid' otherwise. Exit status 1 when the history is invalid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", help="Only the operations of this load run (its tag).")
        parser.add_argument("--seat", type=database_id, help="Only this seat.")
        parser.add_argument(
            "--file", type=Path, help="Check a JSON-lines history (manage.py export_history) instead of the database."
        )
        parser.add_argument(
            "--limit", type=int_in(0, MAX_LIMIT), default=20, help="Anomalies to print in full, 0 or more (default 20)."
        )
        parser.add_argument("--json", action="store_true", help="Print the verdict as JSON.")

    def handle(self, *args, **opts):
        if opts["file"] is not None:
            ops = self._read(opts["file"])
            if opts["run"] is not None or opts["seat"] is not None:
                raise CommandError("--run and --seat apply to the database, not to --file", returncode=USAGE_ERROR)
        else:
            if opts["run"] is not None and not operation_list(run=opts["run"]).exists():
                # A mistyped tag must not read as "valid (0 operations)".
                raise CommandError(f"no operations with run tag {opts['run']!r}", returncode=USAGE_ERROR)
            ops = checker.ops_from_rows(operation_list(run=opts["run"], seat_id=opts["seat"]))
        verdict = checker.check(ops)
        if opts["json"]:
            self.stdout.write(json.dumps(_as_json(verdict), indent=2))
        else:
            self.stdout.write(verdict.summary())
            for anomaly in verdict.anomalies[: opts["limit"]]:
                for line in anomaly.lines():
                    self.stdout.write(line)
            hidden = len(verdict.anomalies) - opts["limit"]
            if hidden > 0:
                self.stdout.write(f"… and {hidden} more (--limit, --json)")
        if not verdict.valid:
            raise CommandError(verdict.summary(), returncode=INVALID)

    @staticmethod
    def _read(path: Path) -> list[checker.Op]:
        try:
            with path.open(encoding="utf-8") as f:
                events = [json.loads(line) for line in f if line.strip()]
            return checker.ops_from_events(events)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}", returncode=USAGE_ERROR)


def _as_json(verdict: checker.Verdict) -> dict:
    return {
        "valid": verdict.valid,
        "operations": verdict.operations,
        "seats": verdict.seats,
        "counts": verdict.counts(),
        "anomalies": [
            {
                "kind": a.kind,
                "seat_id": a.seat_id,
                "explanation": a.explanation,
                "witness": [a.first.record(), a.second.record()],
            }
            for a in verdict.anomalies
        ],
    }
