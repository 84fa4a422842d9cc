"""The three consistency modes at the service level, driven by the replaceable clock."""

import pytest

from reservations.errors import SeatAlreadyReserved
from reservations.models import Reservation
from reservations.services import reservation_create
from timesync.consistency import mode_get
from timesync.errors import InvalidConsistencyMode, TimeDriftDetected
from timesync.services import consistency_mode_set, node_offset_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def seat(venue):
    return venue[0]


def test_default_mode_is_naive_and_switch_persists():
    assert mode_get() == "naive"
    consistency_mode_set("bounded")
    assert mode_get() == "bounded"
    with pytest.raises(InvalidConsistencyMode) as exc:
        consistency_mode_set("eventual")
    assert exc.value.code == "VALIDATION_ERROR" and "mode" in exc.value.details
    assert mode_get() == "bounded"


@pytest.mark.parametrize("lag", [0.1, 0.3, 0.4])
def test_bounded_sees_within_the_uncertainty_interval(frozen_clock, seat, lag):
    consistency_mode_set("bounded")
    node_offset_set(server_id="server-2", offset_seconds=-lag)
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(0.05)
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert Reservation.objects.filter(seat=seat).count() == 1


def test_naive_under_the_same_lag_double_books(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-0.4)
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(0.05)
    outcome = reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert outcome.conflict_detected


def test_bounded_fences_a_node_beyond_eighty_percent_of_the_bound(frozen_clock, seat):
    consistency_mode_set("bounded")
    node_offset_set(server_id="server-2", offset_seconds=-0.41)  # median 0, limit 0.8 × 0.5 s = 0.4 s
    with pytest.raises(TimeDriftDetected) as exc:
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert exc.value.status == 503
    assert exc.value.details["server_id"] == "server-2"
    assert exc.value.details["deviation_seconds"] == pytest.approx(-0.41)
    assert exc.value.details["limit_seconds"] == pytest.approx(0.4)
    assert Reservation.objects.count() == 0
    # The others still write; the fenced node writes again once back near the median.
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    node_offset_set(server_id="server-2", offset_seconds=0.0)
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")


def test_bounded_fencing_follows_drift(frozen_clock, seat):
    consistency_mode_set("bounded")
    node_offset_set(server_id="server-4", offset_seconds=0.0, drift_ppm=1000.0)  # +1 ms per true second
    reservation_create(seat_id=seat.pk, customer_name="A", server_id="server-4")
    frozen_clock.advance(401.0)  # 0.401 s ahead of the median by now
    with pytest.raises(TimeDriftDetected):
        reservation_create(seat_id=seat.pk + 1, customer_name="B", server_id="server-4")


@pytest.mark.parametrize("offset", [-30.0, -5.0, 5.0, 30.0])
def test_serializable_never_double_books(frozen_clock, seat, offset):
    consistency_mode_set("serializable")
    node_offset_set(server_id="server-2", offset_seconds=offset)
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(0.01)
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert Reservation.objects.filter(seat=seat, status="active").count() == 1


def test_explicit_mode_overrides_the_cluster_mode(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1")
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2", mode="serializable")
    assert mode_get() == "naive"


@pytest.mark.parametrize(
    ("spread", "double_booked"),
    [
        (0.25, False),  # pairwise 0.5 s: within MAX_CLOCK_OFFSET, the uncertainty interval covers it
        (0.4, True),  # pairwise 0.8 s: neither node is fenced (0.4 s is the limit, not beyond it) …
    ],
)
def test_bounded_guarantee_needs_pairwise_skew_within_the_bound(frozen_clock, seat, spread, double_booked):
    """The honest caveat of docs/consistency.md: fencing is judged from the median, so two nodes
    on opposite sides of it, each within 80 % of the bound, can still be further apart than the
    0.5 s interval — and then bounded double-books.  Its guarantee needs pairwise skew ≤ MAX_CLOCK_OFFSET."""
    from timesync.consistency import node_fences
    from timesync.models import ServerNode

    consistency_mode_set("bounded")
    node_offset_set(server_id="server-2", offset_seconds=+spread)
    node_offset_set(server_id="server-3", offset_seconds=-spread)
    fences = node_fences(ServerNode.objects.all(), at=frozen_clock.now)
    assert not fences["server-2"].fenced and not fences["server-3"].fenced
    reservation_create(seat_id=seat.pk, customer_name="Jean", server_id="server-2")  # stamped T + spread
    frozen_clock.advance(0.1)  # server-3 reads T + 0.1 - spread and sees up to 0.5 s past that
    if double_booked:
        # … and server-3 sees up to T + 0.2, short of Jean's stamp T + 0.4: a conflict in bounded mode.
        assert reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3").conflict_detected
    else:
        with pytest.raises(SeatAlreadyReserved):
            reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
