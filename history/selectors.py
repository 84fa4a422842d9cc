"""Reads of the operations history."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Operation


def operation_list(
    *, run: str | None = None, seat_id: int | None = None, f: str | None = None, since_id: int | None = None
) -> QuerySet[Operation]:
    """Operations in append order (id), optionally of one run, one seat, one kind, after an id."""
    qs = Operation.objects.order_by("id")
    if run is not None:
        qs = qs.filter(run=run)
    if seat_id is not None:
        qs = qs.filter(seat_id=seat_id)
    if f is not None:
        qs = qs.filter(f=f)
    if since_id is not None:
        qs = qs.filter(id__gt=since_id)
    return qs


def recent_hold_histories(*, holds: int = 100, seat_id: int | None = None) -> QuerySet[Operation]:
    """The operations on the seats of the last ``holds`` hold operations (granted or refused),
    from the first of those on, in append order: what the checker needs to judge those holds
    (their stolen and zombie witnesses come after them, on the same seat).  Bounded by the
    ``(seat_id, id)`` index whatever the size of the history; ``seat_id``: one seat only."""
    recent = Operation.objects.filter(f=Operation.F.HOLD, seat_id__isnull=False)
    if seat_id is not None:
        recent = recent.filter(seat_id=seat_id)
    last = list(recent.order_by("-id").values_list("id", "seat_id")[:holds])
    if not last:
        return Operation.objects.none()
    first_id = min(pk for pk, _ in last)
    return Operation.objects.filter(seat_id__in={seat for _, seat in last}, id__gte=first_id).order_by("id")
