"""Reads of the venue (who holds a seat is the reservations' business:
:func:`reservations.selectors.seat_list_with_holder`)."""

from __future__ import annotations

from core.ids import get_or_raise

from .errors import SeatNotFound
from .models import Seat


def seat_get(seat_id: object) -> Seat:
    """The seat with id ``seat_id`` (an int, or a string of digits), or ``SeatNotFound``."""
    return get_or_raise(Seat.objects.all(), seat_id, SeatNotFound)


def venue_exists() -> bool:
    """Whether a venue has been seeded."""
    return Seat.objects.exists()


def venue_size() -> int:
    """How many seats the venue has."""
    return Seat.objects.count()
