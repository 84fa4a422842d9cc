"""``manage.py export_history``: the operations history as Jepsen-like JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.commands import USAGE_ERROR, database_id
from history.models import Operation
from history.selectors import operation_list
from history.shapes import jepsen_lines


class Command(BaseCommand):
    help = (
        "Write the operations history as JSON lines, one event per line in true-time order: "
        '{"index", "op", "process", "type": invoke|ok|fail|info, "f", "value", "time" (ns), …} '
        "(docs/history.md). manage.py check_history --file reads it back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", help="Only the operations of this load run (its tag).")
        parser.add_argument("--seat", type=database_id, help="Only the operations on this seat.")
        parser.add_argument("--f", choices=Operation.F.values, help="Only this operation.")
        parser.add_argument("--out", type=Path, help="Write to this file (default: standard output).")

    def handle(self, *args, **opts):
        ops = operation_list(run=opts["run"], seat_id=opts["seat"], f=opts["f"])
        lines = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n" for event in jepsen_lines(ops))
        if opts["out"] is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        try:
            with opts["out"].open("w", encoding="utf-8") as f:
                count = sum(1 for line in lines if f.write(line))
        except OSError as exc:
            raise CommandError(f"cannot write {opts['out']}: {exc}", returncode=USAGE_ERROR)
        self.stderr.write(f"Wrote {count} events to {opts['out']}")
