"""What Django itself can do on this machine: a minimal view doing one INSERT.

``POST /bench/insert`` with the body of a reservation (``seat_id``, ``customer_name``,
``server_id``) inserts one reservation row (one statement, autocommit: no lock, no rule, no
DRF, no rate limit, no event) and answers 201 with its id.  Served by the same server as the
real API (``serve.sh``), so the reservation figures can be read as a ratio to it.  The row is
written already cancelled, so the reference rounds, interleaved with the real ones, leave the
venue's seats free (no extra 409s for the reservations measured after them).
"""

from __future__ import annotations

import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reservations.models import Reservation
from timesync import clock


@csrf_exempt
@require_POST
def insert(request) -> HttpResponse:
    data = json.loads(request.body)
    now = clock.reference_now()
    reservation = Reservation.objects.create(
        seat_id=data["seat_id"],
        node_id=data.get("server_id", "server-1"),
        customer_name=data["customer_name"],
        created_at=now,
        recorded_at=now,
        status=Reservation.Status.CANCELLED,
        cancelled_at=now,
    )
    return JsonResponse({"id": reservation.pk}, status=201)
