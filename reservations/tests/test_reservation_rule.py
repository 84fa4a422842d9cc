"""DESIGN §2: what a node sees depends on its own clock. Driven by the replaceable clock."""

import pytest

from reservations.errors import SeatAlreadyReserved
from reservations.models import Reservation
from reservations.selectors import conflict_list
from reservations.services import reservation_cancel, reservation_create
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def seat(venue):
    return venue[0]


def test_in_sync_second_reservation_is_refused(frozen_clock, seat):
    first = reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(0.001)
    with pytest.raises(SeatAlreadyReserved) as exc:
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert exc.value.details["existing_reservation"] == {"id": first.reservation.pk, "customer_name": "Jean"}
    assert Reservation.objects.count() == 1


def test_reservation_records_node_time_and_true_time(frozen_clock, seat):
    node_offset_set(server_id="server-3", offset_seconds=5.0)
    outcome = reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-3")
    r = outcome.reservation
    assert r.recorded_at == frozen_clock.now
    assert (r.created_at - r.recorded_at).total_seconds() == pytest.approx(5.0)
    assert r.node_offset == 5.0
    assert outcome.conflict_detected is False


def test_lagging_node_double_books_inside_window(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    first = reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(9.9)
    second = reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert second.conflict_detected is True
    assert [r.pk for r in second.hidden] == [first.reservation.pk]
    assert Reservation.objects.filter(seat=seat, status="active").count() == 2


def test_lagging_node_sees_reservations_older_than_its_lag(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(10.0)  # server-2 now reads exactly the first stamp: it sees it
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")


def test_reverse_order_is_refused(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    frozen_clock.advance(1.0)
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")


def test_conflict_winner_is_earliest_timestamp_and_fairness_follows_true_time(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    first = reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1").reservation
    frozen_clock.advance(2.0)
    second = reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2").reservation
    [conflict] = conflict_list()
    assert conflict.seat_id == seat.pk
    assert conflict.winner.pk == second.pk  # stamped 8 s "before" Jean by a lagging clock
    assert conflict.true_first.pk == first.pk
    assert conflict.fair is False


def test_fast_writer_is_hidden_from_a_node_in_sync(frozen_clock, seat):
    # server-3 runs 5 s ahead: its stamp lies in server-1's future for 5 s.
    node_offset_set(server_id="server-3", offset_seconds=5.0)
    first = reservation_create(seat_id=seat.pk, customer_name="Ann", server_id="server-3").reservation
    frozen_clock.advance(4.0)
    second = reservation_create(seat_id=seat.pk, customer_name="Bob", server_id="server-1")
    assert second.conflict_detected is True
    [conflict] = conflict_list()
    # A node only writes when its stamp precedes every active one, so the newest writer
    # always holds the seat by timestamp: a conflict is unfair by construction.
    assert (conflict.winner.pk, conflict.true_first.pk, conflict.fair) == (second.reservation.pk, first.pk, False)


def test_cancelled_reservation_frees_the_seat(frozen_clock, seat):
    first = reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1").reservation
    cancelled = reservation_cancel(reservation_id=first.pk)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at == frozen_clock.now
    frozen_clock.advance(1)
    again = reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert again.conflict_detected is False
    assert Reservation.objects.filter(seat=seat).count() == 2  # soft delete keeps the row
