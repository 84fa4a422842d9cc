"""The seat map (DESIGN §6): server-rendered, then kept live by ``static/seatmap.js`` (the
venue, the node clocks, the presenter's controls) and ``static/timeline.js`` (the space-time
diagram of what the nodes did, drawn with the vendored D3).

The page reads the same rows as the API through the same selectors and renders them with the
same shape functions, in a constant number of queries whatever the size of the venue.  It takes
each seat's holder from the server (``holder_id``) and never applies the holder rule itself.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core.errors import envelope
from core.permissions import audience_of, may_operate
from core.timefmt import iso_utc
from history.selectors import recent_hold_histories
from lab import checker
from reservations import shapes as reservation_shapes
from reservations.models import holder_of
from reservations.selectors import seat_list_with_holder
from simulation.selectors import scenario_list
from timesync import shapes as clock_shapes
from timesync.clock import reference_now
from timesync.consistency import cluster_clocks, consistency_get


def seat_state(seat) -> str:
    """``available``, ``reserved`` or ``conflict`` (several active reservations)."""
    n = len(seat.active_reservations)
    return "available" if n == 0 else "reserved" if n == 1 else "conflict"


def seat_map(request: HttpRequest) -> HttpResponse:
    """The venue grid, the clocks, the controls, the conflicts and the timeline (seven queries).

    The initial state (``#seatmap-state``) carries what the timeline replays from: every active
    reservation with both stamps (``created_at`` on its node's clock, ``recorded_at`` true
    time), every node's clock (``/api/time/servers``' shape: offset, drift, ``offset_since``)
    and the consistency mode with the list of modes the server knows.
    """
    seats = list(seat_list_with_holder())  # two queries
    clocks = cluster_clocks()  # two queries
    scenarios = [(scenario.name, scenario.description) for scenario in scenario_list()]  # two queries
    consistency = consistency_get()  # one query
    nodes = [c.time.node.server_id for c in clocks.servers]
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
        "clocks": clock_shapes.cluster_clocks(clocks),
        "consistency": clock_shapes.consistency(consistency),
    }
    rows = [
        {"label": row, "seats": [{"seat": s, "state": seat_state(s)} for s in row_seats]}
        for row, row_seats in groupby(seats, key=lambda s: s.row)
    ]
    columns = max((len(row["seats"]) for row in rows), default=0)
    context = {
        "rows": rows,
        "columns": range(1, columns + 1),
        "column_count": columns,
        "nodes": nodes,
        "scenarios": scenarios,
        "consistency": consistency,
        "state": state,
        "controls_enabled": may_operate(getattr(request, "user", None)),
        "ws_port": settings.SEATCLOCK_WS_PUBLIC_PORT or "",
    }
    return render(request, "seatmap.html", context)


#: What a hold operation's value keeps of its hold: both stamps on its node's clock, both in true time.
HOLD_TIMES = ("created_at", "expires_at", "recorded_at", "true_expires_at")


@require_GET
def hold_anomalies(request: HttpRequest) -> JsonResponse:
    """``GET /seat-map/hold-anomalies[?seat_id=N]``: the stolen and zombie holds of the recent
    operations history, as the history checker (``lab.checker``, DESIGN §8) names them — the page
    never classifies a hold itself.  Reads the seats of the last 100 hold operations
    (``history.selectors.recent_hold_histories``).

    ``{"anomalies": [{kind: "stolen_hold" | "zombie_hold", seat_id, hold_id, reservation_id,
    explanation, hold: op, witness: op}], "true_time"}``: ``hold`` is the hold's operation,
    with its ``created_at``/``expires_at`` (its node's clock) and ``recorded_at``/``true_expires_at``
    (true time); ``witness`` the sale that stole it (``reservation_id`` set) or the ``SEAT_HELD``
    refusal that honoured it after its true end; an op is :meth:`lab.checker.Op.record` (true instants, the
    node and what its clock read).  Who may read the history may read this (open in the demo,
    staff only in production: 403 ``PERMISSION_DENIED``); a bad ``seat_id``: 400
    ``VALIDATION_ERROR``.  Both in the API's error envelope.
    """
    if not may_operate(getattr(request, "user", None)):
        return JsonResponse(envelope("PERMISSION_DENIED", _("Only staff may read the operations history.")), status=403)
    raw = request.GET.get("seat_id")
    seat_id = None
    if raw is not None:
        if not raw.isdigit() or len(raw) > 18:
            details = {"seat_id": [_("A positive whole number.")]}
            return JsonResponse(envelope("VALIDATION_ERROR", _("Invalid input"), details), status=400)
        seat_id = int(raw)
    verdict = checker.check(checker.ops_from_rows(recent_hold_histories(seat_id=seat_id)))
    anomalies = [
        {
            "kind": a.hold_kind,
            "seat_id": a.seat_id,
            "hold_id": a.first.value.get("hold_id"),
            "reservation_id": a.second.value.get("reservation_id") if a.second.ok else None,
            "explanation": a.explanation,
            "hold": {**a.first.record(), **{k: a.first.value.get(k) for k in HOLD_TIMES}},
            "witness": a.second.record(),
        }
        for a in verdict.anomalies
        if a.hold_kind is not None
    ]
    return JsonResponse({"anomalies": anomalies, "true_time": iso_utc(reference_now())})
