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
