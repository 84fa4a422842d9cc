from django.core.management.base import CommandError

from core.commands import ServiceCommand
from core.errors import error_text
from reservations.services import venue_replace
from seats.errors import VenueHasReservations
from seats.selectors import venue_exists


class Command(ServiceCommand):
    help = "Create the venue: ROWS rows (A, B, …) of SEATS_PER_ROW seats. Default 10 × 10 (A1 … J10)."
    field_labels = {"rows": "--rows", "seats_per_row": "--seats-per-row"}

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=10, help="Number of rows, 1-26 (default 10).")
        parser.add_argument("--seats-per-row", type=int, default=10, help="Seats in each row (default 10).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace the venue even if it has reservations (they are deleted).",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when a venue already exists (for start-up scripts)."
        )

    def handle(self, *args, rows, seats_per_row, force, if_empty, **options):
        if if_empty and venue_exists():
            self.stdout.write("Venue already exists; leaving it as it is.")
            return
        try:
            created = venue_replace(rows=rows, seats_per_row=seats_per_row, force=force)
        except VenueHasReservations as exc:
            raise CommandError(f"{error_text(exc)} Use --force to replace it and delete them.") from exc
        self.stdout.write(self.style.SUCCESS(f"Venue created: {rows} rows × {seats_per_row} seats = {created} seats."))
