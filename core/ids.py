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


def id_detail(value: object) -> int | None:
    """An id as error ``details`` carry it: the integer the client meant, or ``None`` when
    ``value`` cannot be an id (``"abc"``, ``"a\\x00b"``, 2**64), so a detail the spec types as an
    integer is never a string."""
    return parse_id(value)


def shown(value: object, limit: int = 40) -> str:
    """``value`` as an error message may quote it: printable, at most ``limit`` characters
    (a NUL byte or a 10,000-character path segment is not echoed raw)."""
    text = value if isinstance(value, str) and value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    parsed value when it parses, else ``value`` as given (the error class renders it with
    :func:`id_detail` and :func:`shown`).
    """
    key = parse(value)
    row = queryset.filter(**{field: key}).first() if key is not None else None
    if row is None:
        raise not_found(value if key is None else key)
    return row
