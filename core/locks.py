"""Row locks, taken one way everywhere (pretix ``lock_objects``, saleor ``lock_objects.py``).

Every aggregate has one lock helper built on :func:`lock_rows` (``seats.locks.seat_lock``,
``timesync.locks.node_lock`` …).  A lock is only meaningful inside a transaction, so taking one
outside is a programming error.  PostgreSQL gives up waiting after ``lock_timeout`` (set per
connection in settings, ``SEATCLOCK_DB_LOCK_TIMEOUT``); that becomes :class:`LockTimeout`, a 409
with ``Retry-After``, never a hung request.  SQLite has no row locks: its write lock, taken at
``BEGIN IMMEDIATE``, serialises writers anyway, and ``select_for_update`` is a no-op there.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import DatabaseError, connections, router
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_noop

from .errors import DomainError

M = TypeVar("M", bound=Model)

#: SQLSTATE of PostgreSQL's "lock_not_available" (lock_timeout or NOWAIT).
LOCK_NOT_AVAILABLE = "55P03"


class LockTimeout(DomainError):
    """Another request held the row longer than the lock timeout (409, ``Retry-After``)."""

    code, status = "LOCK_TIMEOUT", 409
    default_message = gettext_noop("The resource is busy; try again shortly")
    retry_after = 1


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL's ``lock_not_available``."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) == LOCK_NOT_AVAILABLE


def lock_rows(queryset: QuerySet[M]) -> list[M]:
    """Lock and return the rows of ``queryset``, in primary-key order (so two transactions
    locking overlapping sets cannot deadlock).

    Raises ``RuntimeError`` outside a transaction and :class:`LockTimeout` when the wait for
    another transaction's lock exceeds the lock timeout.
    """
    alias = router.db_for_write(queryset.model)
    if not connections[alias].in_atomic_block:
        raise RuntimeError("lock_rows() needs a transaction: wrap the caller in transaction.atomic()")
    try:
        return list(queryset.select_for_update().order_by("pk"))
    except DatabaseError as exc:
        if is_lock_timeout(exc):
            raise LockTimeout(details={"model": queryset.model._meta.label}) from exc
        raise


def lock_one(queryset: QuerySet[M]) -> M | None:
    """The single row of ``queryset`` (filtered to at most one), locked; ``None`` if absent."""
    rows = lock_rows(queryset)
    return rows[0] if rows else None
