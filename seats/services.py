"""Writes to the venue."""

from __future__ import annotations

import string

from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from core.errors import ValidationFailed

from .errors import VenueHasReservations
from .models import Seat

ROWS = string.ascii_uppercase
MAX_SEATS_PER_ROW = 10_000


@transaction.atomic
def venue_seed(*, rows: int = 10, seats_per_row: int = 10) -> int:
    """Replace the venue with ``rows`` × ``seats_per_row`` seats (rows A, B, …).

    Raises ``ValidationFailed`` for sizes out of range and ``VenueHasReservations`` when
    reservations still point at the old seats (``reservations.services.venue_replace`` clears
    them first when asked to).  Returns the number of seats created.
    """
    errors = {}
    if not 1 <= rows <= len(ROWS):
        errors["rows"] = [_("Between 1 and %(max)d rows (one letter each).") % {"max": len(ROWS)}]
    if not 1 <= seats_per_row <= MAX_SEATS_PER_ROW:
        errors["seats_per_row"] = [_("Between 1 and %(max)d seats per row.") % {"max": MAX_SEATS_PER_ROW}]
    if errors:
        raise ValidationFailed(details=errors)
    try:
        Seat.objects.all().delete()
    except ProtectedError as exc:
        raise VenueHasReservations(len(exc.protected_objects)) from exc
    seats = [Seat(row=ROWS[r], number=n) for r in range(rows) for n in range(1, seats_per_row + 1)]
    Seat.objects.bulk_create(seats, batch_size=2000)
    return len(seats)
