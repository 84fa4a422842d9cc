"""Reads of the venue: every seat with its holder, in a constant number of queries."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import CharField, Prefetch, QuerySet
from django.db.models.functions import Cast

from reservation_site.api_fields import iso_utc
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


def seat_list_rows() -> list[dict]:
    """The whole venue as plain dicts, in the spec's Seat shape (``GET /api/seats``).

    Same two queries and the same holder rule as :func:`seat_list_with_holder`, but tuples
    instead of model instances and no serializer: 10,000 seats in tens of milliseconds
    rather than most of a second.  ``created_at`` is rendered as DRF's DateTimeField does
    (ISO 8601, ``Z`` for UTC), so the JSON is byte for byte the serializer's.
    """
    holders: dict[int, dict] = {}
    # The timestamp comes as the database's text: Django's timezone-aware loader for psycopg is
    # pure Python and cost more than everything else here; datetime.fromisoformat is C.
    active = _active_by_timestamp().values_list(
        "seat_id", "id", "customer_name", "node_id", Cast("created_at", CharField())
    )
    for seat_id, pk, customer_name, server_id, created_at in active:
        if seat_id not in holders:  # earliest stamp first: the holder (DESIGN §2)
            holders[seat_id] = {
                "id": pk,
                "customer_name": customer_name,
                "server_id": server_id,
                "created_at": iso_utc(_from_db_text(created_at)),
            }
    seats = Seat.objects.order_by("row", "number").values_list("id", "row", "number")
    return [
        {"id": pk, "row": row, "number": number, "is_available": pk not in holders, "reservation": holders.get(pk)}
        for pk, row, number in seats
    ]


def _from_db_text(text: str) -> datetime:
    """A timestamp as PostgreSQL (``2026-06-28 10:30:00.5+00``) or SQLite (naive UTC) prints it."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


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
