from core.commands import ServiceCommand
from history.actors import Actor
from timesync.services import node_offsets_clear


class Command(ServiceCommand):
    help = "Put every node back on true time."

    def handle(self, *args, **options):
        nodes = node_offsets_clear(actor=Actor.system("clear_offsets"))
        self.stdout.write(self.style.SUCCESS(f"All time offsets cleared ({len(nodes)} nodes)."))
