"""The seat-map page (DESIGN §6): server-rendered, then kept live by ``static/seatmap.js``.

The page reads the same rows as the API through the same selectors and renders them with the
same shape functions, in a constant number of queries whatever the size of the venue.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.permissions import audience_of, may_operate
from reservations import shapes as reservation_shapes
from reservations.models import holder_of
from reservations.selectors import seat_list_with_holder
from simulation.selectors import scenario_list
from timesync import shapes as clock_shapes
from timesync.consistency import consistency_get
from timesync.selectors import node_list


def seat_state(seat) -> str:
    """``available``, ``reserved`` or ``conflict`` (several active reservations)."""
    n = len(seat.active_reservations)
    return "available" if n == 0 else "reserved" if n == 1 else "conflict"


def seat_map(request: HttpRequest) -> HttpResponse:
    """The venue grid, the clocks panel and the conflicts panel (six queries)."""
    seats = list(seat_list_with_holder())  # two queries
    nodes = [node.server_id for node in node_list()]  # one query
    scenarios = [scenario.name for scenario in scenario_list()]  # two queries
    consistency = consistency_get()  # one query
    audience = audience_of(getattr(request, "user", None))

    state: dict[str, Any] = {
        "seats": [
            {
                "id": seat.pk,
                "row": seat.row,
                "number": seat.number,
                "reservations": [
                    reservation_shapes.reservation(r, audience=audience) for r in seat.active_reservations
                ],
                "holder_id": getattr(holder_of(seat.active_reservations), "pk", None),
            }
            for seat in seats
        ],
        "nodes": nodes,
        "consistency": clock_shapes.consistency(consistency),
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
        "controls_enabled": may_operate(getattr(request, "user", None)),
        "ws_port": settings.SEATCLOCK_WS_PUBLIC_PORT or "",
    }
    return render(request, "seatmap.html", context)
