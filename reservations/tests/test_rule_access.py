"""The rule's two data-access paths (``reservations.access``) give the same outcomes, and the
SQL path costs the round trips it claims.

On PostgreSQL the suite runs the SQL path everywhere (``SEATCLOCK_RULE_SQL`` is on); here the
same operations — reserve, hold, confirm, cancel, clock offsets, mode switches, refusals of
every kind — run once through the SQL path and once through the ORM path (the setting off, as
on SQLite), from the same state and the same frozen clock, and the answers, the rows and the
history must be identical.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from core.errors import DomainError
from history.models import Operation
from reservations import services
from reservations.models import Hold, Reservation
from seats.models import Seat
from timesync.models import ConsistencySettings, ServerNode
from timesync.services import consistency_mode_set, node_offset_set

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the SQL path is PostgreSQL's"),
]

SECRETS = {"cancel_token_digest", "token_hash"}  # random per run (core.tokens)


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in SECRETS}


class Run:
    """One pass of operations from a clean state: their answers, then the rows and history."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.answers: list[Any] = []
        self.cancel_tokens: list[str] = []
        self.hold_tokens: list[str] = []

    def do(self, name: str, call: Callable[[], Any]) -> None:
        self.clock.advance(0.25)
        try:
            outcome = call()
        except DomainError as exc:
            self.answers.append((name, "error", type(exc).__name__, exc.code, exc.details))
            return
        if isinstance(outcome, services.ReservationOutcome):
            self.cancel_tokens.append(outcome.cancel_token)
            answer = (_fields(outcome.reservation), outcome.conflict_detected, [r.pk for r in outcome.hidden])
            assert outcome.reservation.pk is not None
        elif isinstance(outcome, services.HoldOutcome):
            self.hold_tokens.append(outcome.token)
            answer = _fields(outcome.hold)
        else:
            answer = _fields(outcome) if hasattr(outcome, "_meta") else outcome
        self.answers.append((name, "ok", answer))

    def state(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "reservations": [_fields(r) for r in Reservation.objects.order_by("id")],
            "holds": [_fields(h) for h in Hold.objects.order_by("id")],
            "history": [{k: v for k, v in _fields(o).items() if k != "id"} for o in Operation.objects.order_by("id")],
        }


def _reset() -> None:
    """Every reservation, hold and history row gone and the ids restarted, the clocks true,
    the mode naive: both passes start from the same state."""
    with connection.cursor() as cursor:
        for model in (Hold, Reservation, Operation):
            model.objects.all().delete()
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false)", [model._meta.db_table])
    ServerNode.objects.update(offset_seconds=0.0, drift_ppm=0.0, offset_since=None)
    ConsistencySettings.objects.update_or_create(pk=1, defaults={"mode": "naive", "updated_at": None})


def _scripted(run: Run, seats: list[int]) -> None:
    a, b, c, d, e = seats[:5]
    r, h, cancel = services.reservation_create, services.hold_create, services.reservation_cancel
    run.do("offset 2", lambda: node_offset_set(server_id="server-2", offset_seconds=-10.0))
    run.do("offset 3", lambda: node_offset_set(server_id="server-3", offset_seconds=5.0, drift_ppm=200.0))
    run.do("reserve", lambda: r(seat_id=a, customer_name="Jean", server_id="server-1"))
    run.do("unseen: conflict", lambda: r(seat_id=a, customer_name="Marie", server_id="server-2"))
    run.do("taken", lambda: r(seat_id=a, customer_name="Paul", server_id="server-3"))
    run.do("no seat", lambda: r(seat_id=10**9, customer_name="X", server_id="server-1"))
    run.do("bad seat id", lambda: r(seat_id="abc", customer_name="X", server_id="server-1"))  # type: ignore[arg-type]
    run.do("no node", lambda: r(seat_id=b, customer_name="X", server_id="nope"))
    run.do("bad node id", lambda: r(seat_id=b, customer_name="X", server_id="Not A Node"))
    run.do("no seat, no node", lambda: r(seat_id=10**9, customer_name="X", server_id="nope"))
    run.do("hold", lambda: h(seat_id=b, customer_name="Ana", server_id="server-1", ttl_seconds=60))
    run.do("held", lambda: r(seat_id=b, customer_name="Luc", server_id="server-3"))
    run.do("hold unseen", lambda: r(seat_id=b, customer_name="Eve", server_id="server-2"))
    run.do("confirm stolen", lambda: services.hold_confirm(token=run.hold_tokens[0], server_id="server-1"))
    run.do("short hold", lambda: h(seat_id=c, customer_name="Bob", server_id="server-1", ttl_seconds=2))
    run.clock.advance(3)
    run.do("expired for 3", lambda: h(seat_id=c, customer_name="Zoé", server_id="server-3", ttl_seconds=30))
    run.do("confirm expired", lambda: services.hold_confirm(token=run.hold_tokens[1], server_id="server-1"))
    run.do("confirm", lambda: services.hold_confirm(token=run.hold_tokens[2], server_id="server-2"))
    run.do("confirm again", lambda: services.hold_confirm(token=run.hold_tokens[2], server_id="server-2"))
    run.do("cancel", lambda: cancel(reservation_id=1, cancel_token=run.cancel_tokens[0], token_required=True))
    run.do("after cancel", lambda: r(seat_id=a, customer_name="Paul", server_id="server-3"))
    run.do("bounded", lambda: consistency_mode_set("bounded"))
    run.do("fenced", lambda: r(seat_id=d, customer_name="X", server_id="server-2"))
    run.do("bounded ok", lambda: r(seat_id=d, customer_name="Yves", server_id="server-1"))
    run.do("serializable", lambda: consistency_mode_set("serializable"))
    run.do("sees all", lambda: r(seat_id=a, customer_name="Paul", server_id="server-2"))
    run.do("hold under serializable", lambda: h(seat_id=e, customer_name="Noé", server_id="server-2"))
    run.do("commit_wait", lambda: consistency_mode_set("commit_wait"))
    run.do("uncertain", lambda: r(seat_id=e, customer_name="X", server_id="server-4"))
    run.do("mode given", lambda: r(seat_id=e, customer_name="Léa", server_id="server-4", mode="naive"))


def _random(run: Run, seats: list[int], seed: int) -> None:
    rnd = random.Random(seed)
    nodes = [f"server-{i}" for i in range(1, 6)]
    for _ in range(120):
        seat, node, kind = rnd.choice(seats[:4]), rnd.choice(nodes), rnd.random()
        if kind < 0.35:
            run.do("reserve", partial(services.reservation_create, seat_id=seat, customer_name="R", server_id=node))
        elif kind < 0.6:
            ttl = rnd.choice([1, 3, 30])
            hold = partial(services.hold_create, seat_id=seat, customer_name="H", server_id=node, ttl_seconds=ttl)
            run.do("hold", hold)
        elif kind < 0.72 and run.hold_tokens:
            run.do("confirm", partial(services.hold_confirm, token=rnd.choice(run.hold_tokens), server_id=node))
        elif kind < 0.84 and run.cancel_tokens:
            pick = rnd.randrange(len(run.cancel_tokens))
            rid = Reservation.objects.order_by("id").values_list("id", flat=True)[pick]
            cancel = partial(services.reservation_cancel, reservation_id=rid, cancel_token=run.cancel_tokens[pick])
            run.do("cancel", partial(cancel, token_required=True))
        elif kind < 0.95:
            offset = rnd.choice([-4.0, -0.2, 0.0, 0.3, 6.0])
            run.do("offset", partial(node_offset_set, server_id=node, offset_seconds=offset))
        else:
            run.do("mode", partial(consistency_mode_set, rnd.choice(["naive", "bounded", "serializable"])))
        run.clock.advance(rnd.choice([0.0, 0.5, 2.0]))


def _both(frozen_clock: Any, script: Callable[[Run], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    start = frozen_clock.now
    states = []
    for sql in (True, False):
        with override_settings(SEATCLOCK_RULE_SQL=sql):
            frozen_clock.now = start
            _reset()
            run = Run(frozen_clock)
            script(run)
            states.append(run.state())
    return states[0], states[1]


def test_both_paths_give_the_same_answers_rows_and_history(venue, frozen_clock):
    seats = [s.pk for s in venue]
    sql, orm = _both(frozen_clock, lambda run: _scripted(run, seats))
    kinds = {a[0]: a[1] for a in sql["answers"]}
    # The script reaches every kind of outcome (else the comparison proves little).
    assert kinds["reserve"] == kinds["unseen: conflict"] == kinds["confirm"] == kinds["cancel"] == "ok", sql["answers"]
    codes = {a[3] for a in sql["answers"] if a[1] == "error"}
    assert codes >= {
        "SEAT_ALREADY_RESERVED",
        "SEAT_NOT_FOUND",
        "INVALID_SERVER_ID",
        "SEAT_HELD",
        "HOLD_EXPIRED",
        "HOLD_NOT_FOUND",
        "TIME_DRIFT_DETECTED",
    }
    assert sql["answers"][3][2][1] is True  # a conflict was created and told
    for part in ("answers", "reservations", "holds", "history"):
        assert sql[part] == orm[part], part


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_paths_agree_on_random_sequences(venue, frozen_clock, seed):
    seats = [s.pk for s in venue]
    sql, orm = _both(frozen_clock, lambda run: _random(run, seats, seed))
    assert sum(a[1] == "ok" for a in sql["answers"]) > 20
    assert sum(a[1] == "error" for a in sql["answers"]) > 10
    for part in ("answers", "reservations", "holds", "history"):
        assert sql[part] == orm[part], part


def _statements(captured: CaptureQueriesContext) -> list[str]:
    # The test's own transaction turns atomic() into savepoints: not round trips in production.
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


@pytest.mark.parametrize(("sql_path", "expected"), [(True, 2), (False, 6)])
def test_statements_per_reservation_post(api, venue, sql_path, expected):
    """A reservation POST, end to end through the API: on the SQL path 2 statements (the
    locked reads; the inserts), plus BEGIN and COMMIT: 4 round trips; the ORM path 6 (lock,
    node, reservations, holds, INSERT, history INSERT), 8 with BEGIN and COMMIT."""
    body = {"seat_id": venue[0].pk, "customer_name": "Jean", "server_id": "server-2"}
    with override_settings(SEATCLOCK_RULE_SQL=sql_path), CaptureQueriesContext(connection) as captured:
        response = api.post("/api/reservations", body, format="json")
    assert response.status_code == 201, response.json()
    assert len(_statements(captured)) == expected, _statements(captured)
    assert Operation.objects.filter(f="reserve", outcome="ok", seat_id=venue[0].pk).count() == 1


def test_a_refused_post_reads_once_and_writes_only_its_history(api, venue):
    services.reservation_create(seat_id=venue[0].pk, customer_name="Jean", server_id="server-1")
    body = {"seat_id": venue[0].pk, "customer_name": "Marie", "server_id": "server-3"}
    with CaptureQueriesContext(connection) as captured:
        response = api.post("/api/reservations", body, format="json")
    assert response.status_code == 409
    statements = _statements(captured)
    assert len(statements) == 2 and "EXECUTE seatclock_seat_lock(" in statements[0], statements
    assert "INSERT" in statements[1] and "EXECUTE" not in statements[1], statements  # the history row alone
    assert Operation.objects.filter(f="reserve", outcome="fail").count() == 1


def test_the_rows_read_are_the_orm_rows(venue, frozen_clock):
    """What the SQL path builds from JSON equals what the ORM loads (types and all)."""
    from django.db import transaction

    from reservations.access import seat_state_lock

    node_offset_set(server_id="server-2", offset_seconds=-10.0, drift_ppm=12.5)
    seat, t = venue[0], frozen_clock.now
    stamps = {"created_at": t, "recorded_at": t + timedelta(microseconds=7), "node_offset": -0.000001}

    def resv(name: str, node: str, **more: Any) -> Reservation:
        return Reservation.objects.create(node_id=node, customer_name=name, **{"seat": seat, **stamps, **more})

    def hold(name: str, **more: Any) -> Hold:
        expiry = {"expires_at": t + timedelta(seconds=60), "true_expires_at": t + timedelta(seconds=60)}
        fields = {"seat": seat, "node_id": "server-2", "customer_name": name, "token_hash": name, "ttl_seconds": 60}
        return Hold.objects.create(**fields, **stamps, **expiry, **more)

    resv("Jean", "server-1", created_at=t + timedelta(seconds=1))
    resv("Marie", "server-2", conflict_detected=True)
    resv("Gone", "server-3", status="cancelled", cancelled_at=t)
    resv("Bumped", "server-3", status="bumped", bumped_at=t)
    resv("Other seat", "server-3", seat=venue[1])
    hold("Ana")
    hold("Released", status="released", released_at=t)
    states = []
    for sql in (True, False):
        with override_settings(SEATCLOCK_RULE_SQL=sql), transaction.atomic():
            states.append(seat_state_lock(venue[0].pk, "server-2"))
    fast, orm = states
    assert _fields(fast.seat) == _fields(orm.seat) and isinstance(fast.seat, Seat)
    assert _fields(fast.node) == _fields(orm.node) and fast.mode == orm.mode
    assert [_fields(r) for r in fast.active] == [_fields(r) for r in orm.active] and len(fast.active) == 2
    assert [_fields(h) for h in fast.holds] == [_fields(h) for h in orm.holds] and len(fast.holds) == 1
    for a, b in zip([*fast.active, *fast.holds], [*orm.active, *orm.holds], strict=True):
        assert {k: type(v) for k, v in _fields(a).items()} == {k: type(v) for k, v in _fields(b).items()}
