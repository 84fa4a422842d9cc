"""``manage.py holds``: the active holds and how each node judges them right now."""

from __future__ import annotations

from django.core.management.base import CommandParser

from core.commands import ServiceCommand, database_id
from core.timefmt import iso_utc
from reservations.selectors import hold_list, holds_seen


class Command(ServiceCommand):
    help = (
        "List the holds some node still judges live (or every active hold with --all), with each node's "
        "countdown: seconds left on its clock, negative once expired there. A hold expired on a node running "
        "ahead while truly live can be stolen; one live on a lagging node after its true end is a zombie."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seat", type=database_id, help="Only this seat's holds.")
        parser.add_argument("--all", action="store_true", help="Every active hold, expired everywhere or not.")

    def handle(self, *args, **opts):
        seen = holds_seen()
        holds = list(hold_list(seat_id=opts["seat"], seen=None if opts["all"] else seen).select_related("seat"))
        self.stdout.write(f"True time {iso_utc(seen.t_true)}, mode {seen.mode}: {len(holds)} hold(s)")
        if not holds:
            return
        nodes = list(seen.views)
        self.stdout.write(
            f"{'hold':>6} {'seat':<6} {'via':<10} {'expires (its clock)':<27} {'true end':<27} "
            + " ".join(f"{n:>10}" for n in nodes)
        )
        for hold in holds:
            cells = []
            for view in seen.views.values():
                left = view.hold_remaining(hold)
                mark = "" if view.hold_live(hold) else "x"
                cells.append(f"{left:+9.1f}{mark or 's'}")
            truly = "" if hold.recorded_at <= seen.t_true < hold.true_expires_at else " (over)"
            self.stdout.write(
                f"{hold.pk:>6} {str(hold.seat):<6} {hold.node_id:<10} {iso_utc(hold.expires_at):<27} "
                f"{iso_utc(hold.true_expires_at) + truly:<27} " + " ".join(f"{c:>10}" for c in cells)
            )
        self.stdout.write("Per node: seconds left on its clock; 's' it sees the hold live, 'x' it does not.")
