"""How Seatclock writes an instant on the wire: one formatter for the API, live events and pages."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (as DRF's ``DateTimeField`` renders it), microseconds kept
    when non-zero: ``2026-06-28T10:30:00.123456Z``.  ``value`` must be timezone-aware."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_utc_or_none(value: datetime | None) -> str | None:
    """:func:`iso_utc`, or ``None`` for a missing instant (``last_sync`` before any sync)."""
    return None if value is None else iso_utc(value)


def shown_instant(value: datetime | None) -> str:
    """An instant as people read it in the admin: UTC to the microsecond, the format Django uses
    for every date field there (``DATETIME_FORMAT``, ``config/formats``): ``2026-06-28
    10:30:00.123456``; ``-`` when missing."""
    from django.utils import formats

    return "-" if value is None else formats.date_format(value.astimezone(UTC), "DATETIME_FORMAT")


def shown_seconds(value: float | None, *, signed: bool = True) -> str:
    """Seconds rounded to the microsecond, as the admin shows offsets (``-10.000000``); ``-``
    when missing."""
    if value is None:
        return "-"
    return f"{value:+.6f}" if signed else f"{value:.6f}"
