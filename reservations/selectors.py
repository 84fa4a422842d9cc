"""Reads of reservations and conflicts, each in a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from seats.selectors import parse_id

from .errors import ReservationNotFound
from .models import Reservation


def reservation_list(*, seat_id: int | None = None, server_id: str | None = None) -> QuerySet[Reservation]:
    """Active reservations in id order, optionally for one seat and/or one node."""
    qs = Reservation.objects.filter(status=Reservation.Status.ACTIVE).order_by("id")
    if seat_id is not None:
        qs = qs.filter(seat_id=seat_id)
    if server_id is not None:
        qs = qs.filter(node_id=server_id)
    return qs


def reservation_get(reservation_id: object) -> Reservation:
    """An active reservation, or ``ReservationNotFound`` (cancelled ones are gone from the API)."""
    pk = parse_id(reservation_id)
    reservation = reservation_list().filter(pk=pk).first() if pk is not None else None
    if reservation is None:
        raise ReservationNotFound(reservation_id)
    return reservation


@dataclass(frozen=True)
class Conflict:
    """A seat with several active reservations.

    ``winner`` holds the seat (earliest ``created_at``); ``true_first`` truly came first
    (earliest ``recorded_at``).  The conflict is *fair* when they are the same reservation.
    """

    seat_id: int
    reservations: list[Reservation]

    @property
    def winner(self) -> Reservation:
        return min(self.reservations, key=lambda r: (r.created_at, r.pk))

    @property
    def true_first(self) -> Reservation:
        return min(self.reservations, key=lambda r: (r.recorded_at, r.pk))

    @property
    def fair(self) -> bool:
        return self.winner.pk == self.true_first.pk


def _conflicting_seats() -> QuerySet:
    return (
        Reservation.objects.filter(status=Reservation.Status.ACTIVE)
        .values("seat_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("seat_id")
    )


def conflict_count() -> int:
    return _conflicting_seats().count()


def conflict_list(*, limit: int | None = None, offset: int = 0) -> list[Conflict]:
    """Conflicts in seat order, paginated over seats (two queries)."""
    seats = _conflicting_seats().values_list("seat_id", flat=True)
    seat_ids = list(seats[offset : offset + limit] if limit is not None else seats[offset:])
    if not seat_ids:
        return []
    by_seat: dict[int, list[Reservation]] = {seat_id: [] for seat_id in seat_ids}
    rows = Reservation.objects.filter(status=Reservation.Status.ACTIVE, seat_id__in=seat_ids).order_by(
        "created_at", "id"
    )
    for reservation in rows:
        by_seat[reservation.seat_id].append(reservation)
    return [Conflict(seat_id=seat_id, reservations=by_seat[seat_id]) for seat_id in seat_ids]
