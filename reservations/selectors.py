"""Reads of reservations, seats with their holders, and conflicts, each in a constant number of
queries.  Every reader composes :class:`reservations.models.ReservationQuerySet` (active, by
stamp) and the one holder rule (:func:`reservations.models.holder_of`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.db.models import CharField, Count, Prefetch, Q, QuerySet
from django.db.models.functions import Cast

from core import tokens
from core.ids import get_or_raise
from seats.errors import SeatNotFound
from seats.models import Seat
from timesync import clock
from timesync.consistency import mode_get, uncertainty
from timesync.selectors import node_list

from .errors import HoldNotFound, ReservationNotFound
from .models import Hold, Reservation, holder_of, stamp_key
from .visibility import NodeView, read_view

# --- Reservations -----------------------------------------------------------------------------


def reservation_list(*, seat_id: int | None = None, server_id: str | None = None) -> QuerySet[Reservation]:
    """Active reservations in id order, optionally for one seat and/or one node."""
    qs = Reservation.objects.active().order_by("id")
    if seat_id is not None:
        qs = qs.filter(seat_id=seat_id)
    if server_id is not None:
        qs = qs.filter(node_id=server_id)
    return qs


def reservation_get(reservation_id: object) -> Reservation:
    """An active reservation, or ``ReservationNotFound`` (cancelled ones are gone from the API)."""
    return get_or_raise(Reservation.objects.active(), reservation_id, ReservationNotFound)


# --- Seats with their holders -------------------------------------------------------------------


def seat_list_with_holder() -> QuerySet[Seat]:
    """All seats in row/number order; each has ``active_reservations`` (earliest stamp first,
    so the holder is ``active_reservations[0]``).  Two queries whatever the size of the venue."""
    return Seat.objects.order_by("row", "number").prefetch_related(
        Prefetch("reservations", queryset=Reservation.objects.active().by_stamp(), to_attr="active_reservations")
    )


def seat_get_with_holder(seat_id: object) -> Seat:
    """One seat with ``active_reservations``, or ``SeatNotFound``."""
    return get_or_raise(seat_list_with_holder(), seat_id, SeatNotFound)


@dataclass(frozen=True)
class HolderRow:
    """A seat's holder as :func:`seat_rows` reads it: plain values, no model instance."""

    id: int
    seat_id: int
    customer_name: str
    server_id: str
    created_at: datetime
    recorded_at: datetime


def seat_rows() -> list[tuple[int, str, int, HolderRow | None]]:
    """The whole venue as ``(seat id, row, number, holder or None)`` in row/number order.

    Same two queries and the same holder rule as :func:`seat_list_with_holder`, but tuples
    instead of model instances: ``GET /api/seats`` renders 10,000 seats in tens of
    milliseconds rather than most of a second.
    """
    holders: dict[int, HolderRow] = {}
    # Timestamps come as the database's text: Django's timezone-aware loader for psycopg is pure
    # Python and cost more than everything else here; datetime.fromisoformat is C.
    active = (
        Reservation.objects.active()
        .by_stamp()
        .values_list(
            "seat_id",
            "id",
            "customer_name",
            "node_id",
            Cast("created_at", CharField()),
            Cast("recorded_at", CharField()),
        )
    )
    for seat_id, pk, customer_name, server_id, created_at, recorded_at in active:
        if seat_id not in holders:  # earliest stamp first: the holder (DESIGN §2)
            holders[seat_id] = HolderRow(
                pk, seat_id, customer_name, server_id, _from_db_text(created_at), _from_db_text(recorded_at)
            )
    seats = Seat.objects.order_by("row", "number").values_list("id", "row", "number")
    return [(pk, row, number, holders.get(pk)) for pk, row, number in seats]


def _from_db_text(text: str) -> datetime:
    """A timestamp as PostgreSQL (``2026-06-28 10:30:00.5+00``) or SQLite (naive UTC) prints it."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- Conflicts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlindWrite:
    """Why ``writer`` was written although the seat was taken, from stored data only.

    At write time the node read ``writer.created_at`` on its clock (offset ``writer.node_offset``).
    ``hidden``: reservations written before it in true time but stamped later than that reading
    (in its future, so invisible to it).  ``seen``: earlier ones stamped at or before its clock,
    which it could see — not produced by the rule (it refuses a seat it sees taken), so never
    blamed on a clock.
    """

    writer: Reservation
    hidden: tuple[Reservation, ...]
    seen: tuple[Reservation, ...]


def blind_write(writer: Reservation, earlier: list[Reservation]) -> BlindWrite | None:
    """The :class:`BlindWrite` of ``writer`` given the reservations of its seat truly written
    before it; ``None`` when there were none (the seat was free for it)."""
    if not earlier:
        return None
    hidden = tuple(e for e in earlier if e.created_at > writer.created_at)
    seen = tuple(e for e in earlier if e.created_at <= writer.created_at)
    return BlindWrite(writer=writer, hidden=hidden, seen=seen)


def true_order_key(reservation: Reservation) -> tuple[datetime, int]:
    """Sort key of true time (``recorded_at``, ties by id)."""
    return (reservation.recorded_at, reservation.pk)


@dataclass(frozen=True)
class Conflict:
    """A seat with several active reservations.

    ``winner`` holds the seat (the holder rule: earliest ``created_at``); ``true_first`` truly
    came first (earliest ``recorded_at``).  The conflict is *fair* when they are the same.
    """

    seat_id: int
    reservations: list[Reservation]

    @property
    def winner(self) -> Reservation:
        holder = holder_of(self.reservations)
        assert holder is not None
        return holder

    @property
    def true_first(self) -> Reservation:
        return min(self.reservations, key=true_order_key)

    @property
    def fair(self) -> bool:
        return self.winner.pk == self.true_first.pk

    @cached_property
    def blind_writes(self) -> dict[int, BlindWrite | None]:
        """Each reservation's :class:`BlindWrite`, by id (``None``: the seat was free for it)."""
        in_true_order = sorted(self.reservations, key=true_order_key)
        return {r.pk: blind_write(r, in_true_order[:i]) for i, r in enumerate(in_true_order)}


def _conflicting_seats() -> QuerySet[Any, Any]:
    return Reservation.objects.active().values("seat_id").annotate(n=Count("id")).filter(n__gt=1).order_by("seat_id")


def conflict_count() -> int:
    """Seats with several active reservations."""
    return _conflicting_seats().count()


def conflict_list(*, limit: int | None = None, offset: int = 0) -> list[Conflict]:
    """Conflicts in seat order, paginated over seats (two queries)."""
    seats = _conflicting_seats().values_list("seat_id", flat=True)
    seat_ids = list(seats[offset : offset + limit] if limit is not None else seats[offset:])
    if not seat_ids:
        return []
    by_seat: dict[int, list[Reservation]] = {seat_id: [] for seat_id in seat_ids}
    for reservation in Reservation.objects.active().filter(seat_id__in=seat_ids).by_stamp():
        by_seat[reservation.seat_id].append(reservation)
    return [Conflict(seat_id=seat_id, reservations=by_seat[seat_id]) for seat_id in seat_ids]


def seat_conflict(reservations: list[Reservation]) -> Conflict:
    """The conflict of one seat's active ``reservations`` (in any order), holder rule applied."""
    ordered = sorted(reservations, key=stamp_key)
    return Conflict(seat_id=ordered[0].seat_id, reservations=ordered)


# --- Holds --------------------------------------------------------------------------------------

#: What a hold token looks like (``core.tokens.new_token``: 43 URL-safe characters); anything
#: else is refused before the database is asked.
HOLD_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def hold_get_by_token(token: object) -> Hold:
    """The hold ``token`` designates, whatever its status, or ``HoldNotFound``; a confirmed or
    released hold is refused later, under the seat lock, by the service itself."""
    if not isinstance(token, str) or not HOLD_TOKEN.fullmatch(token):
        raise HoldNotFound()
    hold = Hold.objects.filter(token_hash=tokens.digest(token)).first()
    if hold is None:
        raise HoldNotFound()
    return hold


def hold_get(hold_id: object) -> Hold:
    """A hold by id (operators), or ``HoldNotFound``."""
    return get_or_raise(Hold.objects.all(), hold_id, lambda _key: HoldNotFound())


def seat_holds(seat: Seat | int) -> list[Hold]:
    """A seat's active holds, earliest stamp first (the rule reads them under the seat lock)."""
    return list(Hold.objects.active().for_seat(seat).order_by("created_at", "id"))


@dataclass(frozen=True)
class HoldsSeen:
    """Every node's view at one true instant (``t_true``, under ``mode``), to judge holds with."""

    t_true: datetime
    mode: str
    views: dict[str, NodeView]

    def live_somewhere(self) -> Q:
        """Holds some node judges unexpired (:meth:`NodeView.hold_expired`, as a filter: expiring
        after the earliest expiry horizon of a node judging on its own clock) or truly live."""
        live = Q(true_expires_at__gt=self.t_true)
        horizons = [v.expiry for v in self.views.values() if not v.true_clock]
        return live | Q(expires_at__gt=min(horizons)) if horizons else live


def holds_seen(*, at: datetime | None = None) -> HoldsSeen:
    """Every node's :class:`~reservations.visibility.NodeView` at true time ``at`` (default now),
    under the cluster's mode, its ε included in ``commit_wait`` (two queries: nodes, mode);
    nothing is refused: a fenced node still has a view of the holds."""
    t_true = clock.reference_now() if at is None else at
    mode = mode_get()
    views = {
        node.server_id: read_view(node, mode, at=t_true, uncertainty=uncertainty(node, at=t_true))
        for node in node_list()
    }
    return HoldsSeen(t_true=t_true, mode=mode, views=views)


def hold_list(
    *, seat_id: int | None = None, server_id: str | None = None, seen: HoldsSeen | None = None
) -> QuerySet[Hold]:
    """Active holds (neither confirmed nor released) in id order, optionally of one seat or node.

    With ``seen``: only those some node still judges live, or truly live (an abandoned hold
    drops out once every clock is past it); without: every active hold, expired or not.
    """
    qs = Hold.objects.active().order_by("id")
    if seat_id is not None:
        qs = qs.filter(seat_id=seat_id)
    if server_id is not None:
        qs = qs.filter(node_id=server_id)
    if seen is not None:
        qs = qs.filter(seen.live_somewhere())
    return qs
