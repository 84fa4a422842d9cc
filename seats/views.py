"""The seat-map page (DESIGN §6): server-rendered, then kept live by ``static/seatmap.js``.

The page reads the same rows as the API through the same selectors, in a constant number of
queries whatever the size of the venue.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from reservations.consistency import consistency_get
from reservations.services import reservation_stamps
from seats.selectors import seat_list_with_holder
from simulation.selectors import scenario_list
from timesync.selectors import node_list


def seat_state(seat) -> str:
    """``available``, ``reserved`` or ``conflict`` (several active reservations)."""
    n = len(seat.active_reservations)
    return "available" if n == 0 else "reserved" if n == 1 else "conflict"


def controls_enabled(request: HttpRequest) -> bool:
    """Whether the page shows the clock controls (scenarios, clear offsets, NTP sync).

    The same switch as the API's ``ClockControlPermission``: open to everyone while
    ``SEATCLOCK_OPEN_CLOCK_CONTROLS`` is on (the demo's default), otherwise staff only.
    """
    if settings.SEATCLOCK_OPEN_CLOCK_CONTROLS:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_staff)


def seat_map(request: HttpRequest) -> HttpResponse:
    """The venue grid, the clocks panel and the conflicts panel (six queries)."""
    seats = list(seat_list_with_holder())  # two queries
    nodes = [node.server_id for node in node_list()]  # one query
    scenarios = [scenario.name for scenario in scenario_list()]  # two queries
    consistency = consistency_get()  # one query

    state: dict[str, Any] = {
        "seats": [
            {
                "id": seat.pk,
                "row": seat.row,
                "number": seat.number,
                "reservations": [reservation_stamps(r) for r in seat.active_reservations],
            }
            for seat in seats
        ],
        "nodes": nodes,
        "consistency": {
            "mode": consistency.mode,
            "max_clock_offset_seconds": consistency.max_clock_offset_seconds,
            "fence_limit_seconds": consistency.fence_limit_seconds,
        },
    }
    rows = [
        {"label": row, "seats": [{"seat": s, "state": seat_state(s)} for s in row_seats]}
        for row, row_seats in groupby(seats, key=lambda s: s.row)
    ]
    context = {
        "rows": rows,
        "nodes": nodes,
        "scenarios": scenarios,
        "consistency": consistency,
        "state": state,
        "controls_enabled": controls_enabled(request),
        "ws_port": settings.WS_PUBLIC_PORT or "",
    }
    return render(request, "seatmap.html", context)
