"""Query counts do not grow with the data."""

import pytest

from reservations.services import reservation_create
from seats.services import venue_seed
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db


def fill(seats: int, reserved_every: int = 3) -> None:
    from seats.models import Seat

    for seat in Seat.objects.order_by("id")[:seats:reserved_every]:
        reservation_create(seat_id=seat.pk, customer_name="Someone", server_id="server-1")


@pytest.mark.parametrize(("rows", "per_row"), [(10, 10), (20, 100)])
def test_seat_list_queries_are_constant(api, rows, per_row, django_assert_max_num_queries):
    venue_seed(rows=rows, seats_per_row=per_row)
    fill(rows * per_row)
    with django_assert_max_num_queries(2):
        response = api.get("/api/seats")
    assert len(response.json()) == rows * per_row


@pytest.mark.parametrize("reservations", [3, 60])
def test_reservation_list_queries_are_constant(api, reservations, django_assert_max_num_queries):
    venue_seed(rows=10, seats_per_row=10)
    fill(reservations * 1, reserved_every=1)
    with django_assert_max_num_queries(2):
        response = api.get("/api/reservations")
    assert response.json()["total"] == reservations


@pytest.mark.parametrize("conflicts", [1, 30])
def test_conflict_list_queries_are_constant(api, frozen_clock, conflicts, django_assert_max_num_queries):
    from seats.models import Seat

    venue_seed(rows=10, seats_per_row=10)
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    for seat in Seat.objects.order_by("id")[:conflicts]:
        reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    with django_assert_max_num_queries(3):
        response = api.get("/api/reservations/conflicts")
    assert response.json()["total_conflicts"] == conflicts


@pytest.mark.parametrize("extra_nodes", [0, 20])
def test_time_servers_queries_are_constant(api, extra_nodes, django_assert_max_num_queries):
    from timesync.models import ServerNode

    ServerNode.objects.bulk_create(ServerNode(server_id=f"extra-{i}", offset_seconds=i) for i in range(extra_nodes))
    # The nodes, and the consistency mode (fences are computed from the nodes already read).
    with django_assert_max_num_queries(2):
        assert len(api.get("/api/time/servers").json()["servers"]) == 5 + extra_nodes
