"""Reads of the venue: every seat with its holder, in a constant number of queries."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from reservations.models import Reservation

from .errors import SeatNotFound
from .models import Seat

MAX_ID = 2**63 - 1


def _active_by_timestamp() -> QuerySet[Reservation]:
    return Reservation.objects.filter(status=Reservation.Status.ACTIVE).order_by("created_at", "id")


def seat_list_with_holder() -> QuerySet[Seat]:
    """All seats in row/number order; each has ``active_reservations`` (earliest stamp first).

    Two queries whatever the size of the venue.  The holder is ``active_reservations[0]``:
    first writer wins by timestamp (DESIGN §2).
    """
    return Seat.objects.order_by("row", "number").prefetch_related(
        Prefetch("reservations", queryset=_active_by_timestamp(), to_attr="active_reservations")
    )


def seat_get_with_holder(seat_id: object) -> Seat:
    """One seat with ``active_reservations``, or ``SeatNotFound``."""
    pk = parse_id(seat_id)
    seat = seat_list_with_holder().filter(pk=pk).first() if pk is not None else None
    if seat is None:
        raise SeatNotFound(seat_id)
    return seat


def seat_holder(seat: Seat) -> Reservation | None:
    """The seat's holder, from a seat fetched by one of the selectors above."""
    active = getattr(seat, "active_reservations", None)
    if active is None:
        active = list(_active_by_timestamp().filter(seat=seat)[:1])
    return active[0] if active else None


def parse_id(value: object) -> int | None:
    """A database id from a path segment or JSON value, or None if it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        pk = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        pk = int(value)
    else:
        return None
    return pk if 1 <= pk <= MAX_ID else None
