from core.commands import ServiceCommand
from history.actors import Actor
from seats.selectors import venue_size
from simulation.services import demo_reset


class Command(ServiceCommand):
    help = (
        "Reset the demo: cancel every active reservation, release every hold and put every node back on true time. "
        "The venue (and its seat ids) and the consistency mode stay."
    )

    def handle(self, *args, **options):
        reset = demo_reset(actor=Actor.system("reset_demo"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo reset: {reset.reservations.count} reservation(s) cancelled, "
                f"{reset.holds.count} hold(s) released, "
                f"{len(reset.nodes)} node clock(s) back on true time; venue kept ({venue_size()} seats)."
            )
        )
