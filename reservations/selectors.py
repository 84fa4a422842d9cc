"""Reads of reservations and conflicts, each in a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

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

    @cached_property
    def reasons(self) -> dict[int, str | None]:
        """Why each reservation could be written although the seat was taken (``None``: the seat
        was free for it — no other of these reservations came before it in true time)."""
        in_true_order = sorted(self.reservations, key=lambda r: (r.recorded_at, r.pk))
        return {r.pk: blind_write_reason(r, in_true_order[:i]) for i, r in enumerate(in_true_order)}

    @property
    def explanation(self) -> list[str]:
        """One line per blind write, in true-time order."""
        lines = []
        for r in sorted(self.reservations, key=lambda r: (r.recorded_at, r.pk)):
            reason = self.reasons[r.pk]
            if reason is not None:
                lines.append(f"#{r.pk}: {reason}")
        return lines


def _clock(value: datetime) -> str:
    """``10:30:05.100``: time of day to the millisecond (UTC, as stored)."""
    return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def blind_write_reason(writer: Reservation, earlier: list[Reservation]) -> str | None:
    """Explain, from stored data only, why ``writer`` did not see the ``earlier`` reservations.

    At write time the node read ``writer.created_at`` on its clock (offset ``writer.node_offset``);
    a reservation written before it (in true time) is *hidden* when its stamp is later than that
    reading: it was in the writer's future.  With every offset at zero nothing is ever stamped in
    a later writer's future, so there are no blind writes to explain.
    """
    if not earlier:
        return None
    hidden = [e for e in earlier if e.created_at > writer.created_at]
    seen = [e for e in earlier if e.created_at <= writer.created_at]
    head = _("%(server)s read its clock at %(time)s (offset %(offset)+.3f s)") % {
        "server": writer.node_id,
        "time": _clock(writer.created_at),
        "offset": writer.node_offset,
    }
    parts = [
        _("#%(id)s, stamped %(stamp)s by %(server)s (offset %(offset)+.3f s): %(ahead).3f s in its future")
        % {
            "id": e.pk,
            "stamp": _clock(e.created_at),
            "server": e.node_id,
            "offset": e.node_offset,
            "ahead": (e.created_at - writer.created_at).total_seconds(),
        }
        for e in hidden
    ]
    if seen:
        # Not produced by the reservation rule (it refuses a seat it sees taken): say so, never
        # blame a clock for it.
        ids = ", ".join(f"#{e.pk}" for e in seen)
        if parts:
            return _(
                "%(head)s and could not see %(hidden)s; but %(ids)s was stamped at or before its clock: "
                "not explained by clock skew"
            ) % {"head": head, "hidden": "; ".join(parts), "ids": ids}
        return _(
            "%(head)s; %(ids)s was stamped at or before its clock, so it could see it: this double booking "
            "is not explained by clock skew"
        ) % {"head": head, "ids": ids}
    return _("%(head)s and could not see %(hidden)s") % {"head": head, "hidden": "; ".join(parts)}


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
