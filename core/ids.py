"""Identifiers from the outside world (path segments, JSON values) and the one get-or-raise.

A path segment reaches the database only once it has been read as what the model's key is:
``"a\\x00b"`` or ``"1.0"`` never becomes a query, it becomes the caller's not-found error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db.models import Model, QuerySet

from .errors import DomainError

MAX_ID = 2**63 - 1  # PostgreSQL bigint

M = TypeVar("M", bound=Model)


def parse_id(value: object) -> int | None:
    """A database id (1 … 2**63-1) from a JSON integer or a string of ASCII digits, or ``None``
    if ``value`` cannot be one (bools, floats, signs, spaces, other digits, NUL bytes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        pk = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        pk = int(value)
    else:
        return None
    return pk if 1 <= pk <= MAX_ID else None


def get_or_raise(
    queryset: QuerySet[M],
    value: object,
    not_found: Callable[[object], DomainError],
    *,
    parse: Callable[[object], object | None] = parse_id,
    field: str = "pk",
) -> M:
    """The row of ``queryset`` whose ``field`` (default: the primary key) is ``value``, read
    with ``parse``.

    Raises ``not_found(key)`` when ``value`` is not a valid key or no row has it; ``key`` is the
    parsed value when it parses (so error details carry the integer a client meant, not its
    string), else ``value`` as given.
    """
    key = parse(value)
    row = queryset.filter(**{field: key}).first() if key is not None else None
    if row is None:
        raise not_found(value if key is None else key)
    return row
