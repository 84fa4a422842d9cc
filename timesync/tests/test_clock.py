from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from timesync import clock
from timesync.models import ServerNode

T0 = datetime(2026, 6, 28, 10, 30, 0, tzinfo=UTC)


def test_reference_clock_can_be_replaced_and_is_restored():
    original = clock.reference_now()
    with clock.use_reference_clock(lambda: T0):
        assert clock.reference_now() == T0
    assert clock.reference_now() >= original


def test_reference_clock_is_restored_after_an_exception():
    with pytest.raises(RuntimeError), clock.use_reference_clock(lambda: T0):
        raise RuntimeError("boom")
    assert clock.reference_now() != T0


def test_node_without_offset_reads_true_time():
    node = ServerNode(server_id="n", offset_seconds=0.0, drift_ppm=0.0)
    assert clock.node_now(node, at=T0) == T0


def test_constant_offset_shifts_node_time_exactly():
    node = ServerNode(server_id="n", offset_seconds=-10.0, offset_since=T0)
    assert clock.node_now(node, at=T0 + timedelta(seconds=3)) == T0 - timedelta(seconds=7)


def test_drift_grows_with_true_time_since_offset_was_set():
    node = ServerNode(server_id="n", offset_seconds=1.0, drift_ppm=100.0, offset_since=T0)
    assert clock.offset_at(node, T0) == pytest.approx(1.0, abs=1e-12)
    # 100 ppm for 1000 s is 0.1 s.
    assert clock.offset_at(node, T0 + timedelta(seconds=1000)) == pytest.approx(1.1, abs=1e-9)
    assert clock.node_now(node, at=T0 + timedelta(seconds=1000)) == T0 + timedelta(seconds=1001.1)


def test_negative_drift_makes_the_clock_fall_behind():
    node = ServerNode(server_id="n", offset_seconds=0.0, drift_ppm=-50.0, offset_since=T0)
    assert clock.offset_at(node, T0 + timedelta(hours=1)) == pytest.approx(-0.18, abs=1e-9)


def test_node_now_defaults_to_the_reference_clock():
    node = ServerNode(server_id="n", offset_seconds=2.5, offset_since=T0)
    with clock.use_reference_clock(clock.FrozenClock(T0)):
        assert clock.node_now(node) == T0 + timedelta(seconds=2.5)


def test_frozen_clock_advances_and_refuses_naive_datetimes():
    fake = clock.FrozenClock(T0)
    assert fake.advance(1.5) == T0 + timedelta(seconds=1.5)
    assert fake() == T0 + timedelta(seconds=1.5)
    with pytest.raises(ValueError):
        clock.FrozenClock(datetime(2026, 1, 1))


def test_host_timestamp_follows_the_reference_clock():
    with clock.use_reference_clock(lambda: datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC)):
        assert clock.host_timestamp() == 10.0


@pytest.mark.parametrize(("offset", "drift"), [(0.0, 0.0), (-10.0, 0.0), (5.0, 200.0), (-3.0, -50_000.0)])
def test_true_time_of_reading_inverts_node_now(offset, drift):
    since = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
    state = SimpleNamespace(offset_seconds=offset, drift_ppm=drift, offset_since=since)
    for elapsed in (0.0, 1.5, 3600.0):
        t = since + timedelta(seconds=elapsed)
        back = clock.true_time_of_reading(state, clock.node_now(state, at=t))
        assert abs((back - t).total_seconds()) < 1e-6


def test_sleep_advances_a_virtual_clock_at_once():
    """clock.sleep: the one place that waits; under a FrozenClock it moves virtual time."""
    fake = clock.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    with clock.use_reference_clock(fake):
        started = clock.monotonic()
        clock.sleep(3600.0)
        assert clock.monotonic() - started < 5  # an hour of virtual time, not of real time
        assert fake.now == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
        clock.sleep(0)
        clock.sleep(-1)
        assert fake.now == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
