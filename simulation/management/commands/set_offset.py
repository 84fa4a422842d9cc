from django.core.management.base import CommandParser

from core.commands import ServiceCommand
from core.timefmt import iso_utc, shown_seconds
from history.actors import Actor
from timesync import clock
from timesync.selectors import node_ids
from timesync.services import node_offset_set


class Command(ServiceCommand):
    help = "Inject a clock offset (and optionally a drift) into one node, e.g. `set_offset server-2 -10`."
    field_labels = {"offset_seconds": "SECONDS", "drift_ppm": "--drift-ppm"}
    valid_names = {"INVALID_SERVER_ID": node_ids}

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("server_id", metavar="SERVER", help="Node id, e.g. server-2.")
        parser.add_argument("offset_seconds", metavar="SECONDS", type=float, help="Offset in seconds (negative lags).")
        parser.add_argument("--drift-ppm", type=float, default=0.0, help="Drift rate in ppm (default 0).")

    def handle(self, *args, server_id, offset_seconds, drift_ppm, **options):
        node = node_offset_set(
            server_id=server_id, offset_seconds=offset_seconds, drift_ppm=drift_ppm, actor=Actor.system("set_offset")
        )
        drift = f", drift {node.drift_ppm:+g} ppm" if node.drift_ppm else ""
        now = iso_utc(clock.node_now(node))
        self.stdout.write(
            self.style.SUCCESS(
                f"{node.server_id}: offset {shown_seconds(node.offset_seconds)} s{drift}; its clock reads {now}."
            )
        )
