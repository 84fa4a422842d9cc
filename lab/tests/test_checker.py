"""The history checker on hand-written histories, valid and invalid: each anomaly is found with
its minimal witness pair, concurrency is never blamed, and a valid history says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lab.checker import DOUBLE_SALE, INVERSION, STALE_ACCEPTANCE, STALE_REFUSAL, Op, check, ops_from_events, pairs

T0 = datetime(2026, 6, 28, 20, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def op(id, f, outcome, start, end=None, *, seat=1, node="server-1", clock=None, error="", **value) -> Op:
    """An operation invoked at ``start`` and completed at ``end`` (seconds after T0)."""
    return Op(
        id=id,
        f=f,
        outcome=outcome,
        invoked=at(start),
        completed=at(start if end is None else end),
        seat_id=seat,
        node=node,
        node_time=at(start if clock is None else clock),
        error=error,
        value=value,
    )


def sale(id, start, end=None, *, reservation, stamp=None, f="reserve", **kw) -> Op:
    stamp_at = at(start if stamp is None else stamp)
    return op(id, f, "ok", start, end, clock=stamp, reservation_id=reservation, created_at=stamp_at.isoformat(), **kw)


def hold(id, start, *, hold_id, ttl=60.0, **kw) -> Op:
    return op(id, "hold", "ok", start, hold_id=hold_id, true_expires_at=at(start + ttl).isoformat(), **kw)


def test_a_history_without_anomaly_is_valid():
    history = [
        sale(1, 0, 0.01, reservation=10),
        op(2, "reserve", "fail", 1, 1.01, error="SEAT_ALREADY_RESERVED", existing_reservation={"id": 10}),
        op(3, "cancel", "ok", 2, 2.01, reservation_id=10),
        sale(4, 3, 3.01, reservation=11),
        hold(5, 0, hold_id=20, seat=2),
        op(6, "confirm", "ok", 10, seat=2, hold_id=20, reservation_id=12, created_at=at(10).isoformat()),
        op(7, "reserve", "fail", 11, seat=2, error="SEAT_ALREADY_RESERVED", existing_reservation={"id": 12}),
        op(8, "set_offset", "ok", 12, seat=None),  # no seat: not a seat's business
    ]
    verdict = check(history)
    assert verdict.valid
    assert verdict.anomalies == []
    assert verdict.summary() == "valid (8 operations on 2 seats)"


def test_double_sale_through_a_lagging_node_is_also_a_real_time_inversion():
    # server-1 sells at 20:00:00; server-2, 10 s behind, sells the same seat 3 s later, stamped 19:59:53.
    history = [sale(1, 0, 0.01, reservation=10), sale(2, 3, 3.01, reservation=11, stamp=-7, node="server-2")]
    verdict = check(history)
    assert pairs(verdict.anomalies) == [(DOUBLE_SALE, 1, 2), (INVERSION, 1, 2)]
    assert not verdict.valid
    assert verdict.counts() == {DOUBLE_SALE: 1, INVERSION: 1, STALE_ACCEPTANCE: 0, STALE_REFUSAL: 0}
    text = "\n".join(verdict.anomalies[1].lines())
    assert "#10 completed before #11 was asked, yet #11 holds the seat" in text
    assert "via server-2" in text and "its clock 19:59:53" in text


def test_overlapping_sales_are_a_double_sale_but_not_an_inversion():
    # B was asked before A completed: the history cannot order them, so no inversion is claimed.
    history = [sale(1, 0, 2, reservation=10), sale(2, 1, 3, reservation=11, stamp=-5)]
    assert pairs(check(history).anomalies) == [(DOUBLE_SALE, 1, 2)]


def test_a_later_sale_stamped_later_is_a_double_sale_without_inversion():
    history = [sale(1, 0, reservation=10), sale(2, 3, reservation=11)]
    assert pairs(check(history).anomalies) == [(DOUBLE_SALE, 1, 2)]


def test_a_sale_after_a_cancel_is_valid_and_one_during_it_is_not_blamed():
    cancel = op(2, "cancel", "ok", 2, 2.1, reservation_id=10)
    assert check([sale(1, 0, reservation=10), cancel, sale(3, 3, reservation=11)]).valid
    # Asked while the cancel was in flight: perhaps after it took effect.
    assert check([sale(1, 0, reservation=10), cancel, sale(3, 2.05, 2.2, reservation=11)]).valid
    # A bump ends a reservation too.
    bump = op(2, "bump", "ok", 2, bumped_ids=[10], kept_id=9)
    assert check([sale(1, 0, reservation=10), bump, sale(3, 3, reservation=11)]).valid


def test_the_minimal_witness_of_each_later_sale_is_the_first_it_overlaps():
    history = [sale(1, 0, reservation=10), sale(2, 1, reservation=11), sale(3, 2, reservation=12)]
    assert pairs(check(history).anomalies) == [(DOUBLE_SALE, 1, 2), (DOUBLE_SALE, 1, 3)]


def test_a_sale_inside_another_customers_live_hold_is_a_stolen_hold():
    history = [
        hold(1, 0, hold_id=20, ttl=60),
        sale(2, 30, reservation=10, node="server-3"),  # server-3 runs ahead: the hold looked expired
        op(3, "confirm", "fail", 40, error="SEAT_ALREADY_RESERVED", existing_reservation={"id": 10}),
    ]
    verdict = check(history)
    assert pairs(verdict.anomalies) == [(STALE_ACCEPTANCE, 1, 2)]
    assert verdict.stolen_holds() == {1}
    assert "a stolen hold" in verdict.anomalies[0].explanation
    # After the hold's true end the same sale is fine.
    assert check([hold(1, 0, hold_id=20, ttl=60), sale(2, 61, reservation=10)]).valid


def test_confirming_ones_own_hold_steals_nothing():
    confirm = op(2, "confirm", "ok", 10, hold_id=20, reservation_id=10, created_at=at(10).isoformat())
    assert check([hold(1, 0, hold_id=20), confirm]).valid


def test_a_hold_granted_on_a_sold_seat_is_a_stale_acceptance():
    assert pairs(check([sale(1, 0, reservation=10), hold(2, 5, hold_id=20)]).anomalies) == [(STALE_ACCEPTANCE, 1, 2)]


def test_a_refusal_for_a_hold_over_in_true_time_is_a_zombie_hold():
    refusal = {"error": "SEAT_HELD", "hold": {"id": 20}, "node": "server-2"}
    assert pairs(check([hold(1, 0, hold_id=20, ttl=60), op(2, "reserve", "fail", 65, **refusal)]).anomalies) == [
        (STALE_REFUSAL, 1, 2)
    ]
    assert (
        "a zombie hold" in check([hold(1, 0, hold_id=20), op(2, "hold", "fail", 65, **refusal)]).anomalies[0].lines()[0]
    )
    # Inside the TTL the refusal is right.
    assert check([hold(1, 0, hold_id=20, ttl=60), op(2, "reserve", "fail", 55, **refusal)]).valid
    # Released at 10 s: a refusal at 15 s is stale, one during the release is not blamed.
    release = op(3, "release", "ok", 10, 10.5, hold_id=20)
    assert pairs(check([hold(1, 0, hold_id=20), release, op(2, "reserve", "fail", 15, **refusal)]).anomalies) == [
        (STALE_REFUSAL, 1, 2)
    ]
    assert check([hold(1, 0, hold_id=20), release, op(2, "reserve", "fail", 10.2, **refusal)]).valid


def test_a_hold_judged_expired_while_truly_live_is_a_stale_refusal():
    expired = {"error": "HOLD_EXPIRED", "hold_id": 20, "node": "server-3"}
    assert pairs(check([hold(1, 0, hold_id=20, ttl=60), op(2, "confirm", "fail", 50, **expired)]).anomalies) == [
        (STALE_REFUSAL, 1, 2)
    ]
    assert check([hold(1, 0, hold_id=20, ttl=60), op(2, "confirm", "fail", 70, **expired)]).valid


def test_jepsen_lines_round_trip_through_the_reader():
    def ns(seconds: float) -> int:
        return int((at(seconds) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000) * 1000

    events = [
        {"index": 0, "op": 1, "process": "server-1", "type": "invoke", "f": "reserve", "value": {}, "time": ns(0)},
        {
            "index": 1,
            "op": 1,
            "process": "server-1",
            "type": "ok",
            "f": "reserve",
            "value": {"reservation_id": 10, "created_at": "2026-06-28T20:00:00Z"},
            "time": ns(0.01),
            "node_time": "2026-06-28T20:00:00Z",
            "seat_id": 1,
        },
        {"index": 2, "op": 2, "process": "server-2", "type": "invoke", "f": "reserve", "value": {}, "time": ns(3)},
        {
            "index": 3,
            "op": 2,
            "process": "server-2",
            "type": "ok",
            "f": "reserve",
            "value": {"reservation_id": 11, "created_at": "2026-06-28T19:59:53Z"},
            "time": ns(3.01),
            "node_time": "2026-06-28T19:59:53Z",
            "seat_id": 1,
        },
        {"index": 4, "op": 3, "process": "server-3", "type": "invoke", "f": "reserve", "value": {}, "time": ns(4)},
    ]
    ops = ops_from_events(events)
    assert [(o.id, o.node, o.invoked, o.completed) for o in ops] == [
        (1, "server-1", at(0), at(0.01)),
        (2, "server-2", at(3), at(3.01)),
    ]
    assert pairs(check(ops).anomalies) == [(DOUBLE_SALE, 1, 2), (INVERSION, 1, 2)]


@pytest.mark.django_db
def test_check_history_reads_a_file_and_exits_1_on_an_invalid_history(tmp_path):
    valid = tmp_path / "valid.jsonl"
    valid.write_text("")
    out = StringIO()
    call_command("check_history", "--file", str(valid), stdout=out)
    assert out.getvalue().startswith("valid (0 operations")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(CommandError) as refused:
        call_command("check_history", "--file", str(bad), stdout=StringIO())
    assert refused.value.returncode == 2 and "cannot read" in str(refused.value)
    unpaired = tmp_path / "unpaired.jsonl"
    unpaired.write_text(json.dumps({"op": 7, "type": "ok", "f": "reserve", "time": 1}) + "\n")
    with pytest.raises(CommandError) as refused:
        call_command("check_history", "--file", str(unpaired), stdout=StringIO())
    assert refused.value.returncode == 2 and "event 1" in str(refused.value)


def test_a_sale_overlapping_the_hold_that_made_it_is_not_blamed():
    # The hold's transaction and the sale's overlapped: either may have decided first.
    overlapping = [
        op(1, "hold", "ok", 0, 2, hold_id=20, true_expires_at=at(60).isoformat()),
        sale(2, 1, 3, reservation=10),
    ]
    assert check(overlapping).valid
    # The same sale asked once the hold had completed steals it.
    assert pairs(check([overlapping[0], sale(2, 2.5, 3, reservation=10)]).anomalies) == [(STALE_ACCEPTANCE, 1, 2)]
