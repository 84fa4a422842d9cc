"""GET /api/seats takes a lean path (tuples, orjson): its bytes are DRF's renderer's, and each seat
is the same object GET /api/seats/{id} answers (the model path)."""

from datetime import timedelta

import pytest
from rest_framework.renderers import JSONRenderer

from conftest import T0
from core.permissions import Audience
from reservations import shapes
from reservations.models import Reservation
from reservations.selectors import seat_rows
from seats.services import venue_seed

pytestmark = pytest.mark.django_db

NAMES = [
    "Jean Dupont",
    "Éloïse « guillemets » 𝄞",
    'quote " and backslash \\',
    "line\u2028separator\u2029paragraph",
    "tab\tnewline\ncontrol\x01",
    "<script>alert(1)</script>",
]


def drf_bytes() -> bytes:
    return JSONRenderer().render(shapes.seat_rows(seat_rows(), audience=Audience.STAFF))


def test_seat_list_is_byte_for_byte_drfs_and_each_seat_its_detail(api):
    venue_seed(rows=3, seats_per_row=7)
    from seats.models import Seat

    seats = list(Seat.objects.order_by("id"))
    stamps = [
        T0,  # no fraction: isoformat prints none
        T0 + timedelta(microseconds=120_000),  # trailing zeros: .120000, not .12
        T0 + timedelta(microseconds=1),
        T0 - timedelta(days=400, seconds=3),
    ]
    rows = []
    for i, seat in enumerate(seats[:12]):
        stamp = stamps[i % len(stamps)]
        rows.append(
            Reservation(
                seat=seat,
                node_id=f"server-{i % 5 + 1}",
                customer_name=NAMES[i % len(NAMES)],
                created_at=stamp,
                recorded_at=stamp,
            )
        )
    # Conflicts: the holder is the earliest stamp, ties broken by id; cancelled ones never hold.
    rows.append(
        Reservation(
            seat=seats[0],
            node_id="server-2",
            customer_name="Earlier",
            created_at=T0 - timedelta(seconds=5),
            recorded_at=T0,
        )
    )
    rows.append(
        Reservation(
            seat=seats[1],
            node_id="server-3",
            customer_name="Same stamp, later id",
            created_at=stamps[1],
            recorded_at=T0,
        )
    )
    rows.append(
        Reservation(
            seat=seats[13],
            node_id="server-4",
            customer_name="Cancelled",
            created_at=T0,
            recorded_at=T0,
            status=Reservation.Status.CANCELLED,
            cancelled_at=T0,
        )
    )
    Reservation.objects.bulk_create(rows)

    response = api.get("/api/seats")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == drf_bytes()
    body = response.json()
    assert body == [api.get(f"/api/seats/{seat['id']}").json() for seat in body]
    assert body[0]["reservation"]["customer_name"] == "Earlier"
    assert body[1]["reservation"]["created_at"] == "2026-06-28T10:30:00.120000Z"
    assert body[13]["is_available"] is True and body[13]["reservation"] is None
    assert b"\\u2028" in response.content
