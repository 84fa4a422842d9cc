from django.core.management.base import CommandParser

from core.commands import ServiceCommand
from history.actors import Actor
from timesync.selectors import node_ids
from timesync.services import node_offset_remove


class Command(ServiceCommand):
    help = "Put one node back on true time (offset and drift 0, marked NTP-synced)."
    valid_names = {"INVALID_SERVER_ID": node_ids}

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("server_id", metavar="SERVER", help="Node id, e.g. server-2.")

    def handle(self, *args, server_id, **options):
        node = node_offset_remove(server_id=server_id, actor=Actor.system("remove_offset"))
        self.stdout.write(self.style.SUCCESS(f"{node.server_id}: offset removed."))
