"""The seat row lock: every write that decides who holds a seat takes it first (see
:mod:`core.locks`)."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from core.ids import parse_id
from core.locks import lock_one, lock_rows

from .errors import SeatNotFound
from .models import Seat


def seat_lock(seat_id: object, *, annotate: Callable[[QuerySet[Seat]], QuerySet[Seat]] | None = None) -> Seat:
    """The seat ``seat_id``, locked for the rest of the transaction (``select_for_update`` on
    PostgreSQL; SQLite's write lock serialises writers anyway).

    ``annotate`` may add columns to the locking query (the reservation rule reads the cluster's
    mode there, saving a round trip).  Raises ``SeatNotFound`` (a bad id never reaches the
    database) and ``core.locks.LockTimeout``.
    """
    pk = parse_id(seat_id)
    if pk is None:
        raise SeatNotFound(seat_id)
    queryset = Seat.objects.filter(pk=pk)
    seat = lock_one(annotate(queryset) if annotate else queryset)
    if seat is None:
        raise SeatNotFound(pk)
    return seat


def seats_lock(seat_ids: list[int]) -> list[Seat]:
    """The seats ``seat_ids`` (ids already parsed), locked in primary-key order for the rest of
    the transaction, as :func:`seat_lock` locks one; ids with no seat are skipped.  Raises
    ``core.locks.LockTimeout``."""
    return lock_rows(Seat.objects.filter(pk__in=seat_ids))
