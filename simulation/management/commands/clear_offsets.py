from core.commands import ServiceCommand
from timesync.services import node_offsets_clear


class Command(ServiceCommand):
    help = "Put every node back on true time."

    def handle(self, *args, **options):
        nodes = node_offsets_clear()
        self.stdout.write(self.style.SUCCESS(f"All time offsets cleared ({len(nodes)} nodes)."))
