"""The history checker (DESIGN §8): reads a history of seat operations and reports, with its
minimal witness, every anomaly of the clocks — or says the history is valid.

Like Jepsen's checkers it judges only what the history shows: each operation's true invoke and
completion instants, what it asked and what came of it.  An effect *surely* holds between the
completion of the operation that made it and the invocation of the one that ended it, and
*possibly* from the invocation of the first to the completion of the second (the decision lies
somewhere inside each operation's interval), so concurrent operations are never blamed for an
order the history cannot prove.  In virtual time (the experiments) the two instants coincide.

Per seat:

- **double sale**: two reservations surely active at the same instant.  Witness: the two sales.
- **real-time inversion**: sale A completed before sale B was invoked, both are active at once,
  yet B holds the seat (earlier stamp: first writer wins by timestamp, DESIGN §2).  Witness: A, B.
- **stale acceptance**: a sale or hold granted while another customer's hold was surely live in
  true time (a *stolen hold*: the deciding node let it expire early, or could not see it), or a
  hold granted on a seat surely sold.  Witness: the occupant's operation, then the acceptance.
- **stale refusal**: a refusal for a reason already gone in true time — ``SEAT_HELD`` by a hold
  that had surely expired or been released (a *zombie hold*), ``SEAT_ALREADY_RESERVED`` by a
  reservation surely cancelled — or ``HOLD_EXPIRED`` for a hold still surely live.  Witness: the
  operation that made what the node saw, then the refusal.

The witness pair alone proves the anomaly: any history containing those two operations is invalid.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.timefmt import iso_utc, iso_utc_or_none

DOUBLE_SALE = "double_sale"
INVERSION = "real_time_inversion"
STALE_ACCEPTANCE = "stale_acceptance"
STALE_REFUSAL = "stale_refusal"
KINDS = (DOUBLE_SALE, INVERSION, STALE_ACCEPTANCE, STALE_REFUSAL)
STOLEN_HOLD = "stolen_hold"
ZOMBIE_HOLD = "zombie_hold"

SALES = ("reserve", "confirm")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FOREVER = datetime.max.replace(tzinfo=UTC)


def instant(value: Any) -> datetime | None:
    """A datetime from a history value: a datetime, or ISO 8601 text (``…Z``)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Op:
    """One operation of a history, as the checker reads it."""

    id: int
    f: str
    outcome: str  # ok | fail | info
    invoked: datetime
    completed: datetime
    seat_id: int | None = None
    node: str = ""
    node_time: datetime | None = None
    error: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)
    value: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def record(self) -> dict[str, Any]:
        """The operation as JSON: ``{id, f, outcome, error, node, invoked_at, completed_at,
        node_time}`` (instants ISO 8601, true time except ``node_time``, the node's clock)."""
        return {
            "id": self.id,
            "f": self.f,
            "outcome": self.outcome,
            "error": self.error or None,
            "node": self.node or None,
            "invoked_at": iso_utc(self.invoked),
            "completed_at": iso_utc(self.completed),
            "node_time": iso_utc_or_none(self.node_time),
        }

    def describe(self) -> str:
        """``#41 reserve ok via server-1, true 20:00:03.000000–20:00:03.004000, clock 20:00:03.001000``"""
        result = self.outcome + (f" {self.error}" if self.error else "")
        via = f" via {self.node}" if self.node else ""
        clock = f", its clock {_t(self.node_time)}" if self.node_time is not None else ""
        span = _t(self.invoked) if self.invoked == self.completed else f"{_t(self.invoked)}–{_t(self.completed)}"
        return f"#{self.id} {self.f} {result}{via}, true {span}{clock}"


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%H:%M:%S.%f")


@dataclass(frozen=True)
class Anomaly:
    """An anomaly and its minimal witness: ``first`` (the earlier effect) and ``second``."""

    kind: str
    seat_id: int
    first: Op
    second: Op
    explanation: str

    @property
    def hold_kind(self) -> str | None:
        """What this anomaly says about a hold — the one definition the page and the experiments
        read: ``stolen_hold`` (a sale or hold granted while another customer's hold was surely live
        in true time; ``first`` is the hold, ``second`` the acceptance), ``zombie_hold`` (a
        ``SEAT_HELD`` refusal for a hold surely over in true time; ``first`` the hold, ``second`` the
        refusal), else ``None``."""
        if self.kind == STALE_ACCEPTANCE and self.first.f == "hold":
            return STOLEN_HOLD
        if self.kind == STALE_REFUSAL and self.second.error == "SEAT_HELD":
            return ZOMBIE_HOLD
        return None

    def lines(self) -> list[str]:
        return [
            f"seat {self.seat_id}: {self.kind.replace('_', ' ')} — {self.explanation}",
            f"  {self.first.describe()}",
            f"  {self.second.describe()}",
        ]


@dataclass
class Verdict:
    operations: int
    seats: int
    anomalies: list[Anomaly]

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def counts(self) -> dict[str, int]:
        found = Counter(a.kind for a in self.anomalies)
        return {kind: found[kind] for kind in KINDS}

    def stolen_holds(self) -> set[int]:
        """Ids of the hold operations whose hold was stolen (stale acceptances against a hold)."""
        return {a.first.id for a in self.anomalies if a.hold_kind == STOLEN_HOLD}

    def summary(self) -> str:
        if self.valid:
            return f"valid ({self.operations} operations on {self.seats} seats)"
        counts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in self.counts().items() if n)
        return f"INVALID: {counts} ({self.operations} operations on {self.seats} seats)"


# --- Effects: what an operation left on its seat, and when ----------------------------------------


@dataclass
class _Effect:
    """A reservation or a hold: present from its operation's completion (surely) until it is
    ended — by an operation (surely until that one's invocation, possibly until its completion)
    or, for a hold, at its true expiry (exactly: live on ``[recorded_at, true_expires_at)``)."""

    op: Op
    key: int  # the reservation or hold id
    expiry: datetime = _FOREVER
    ended_from: datetime = _FOREVER  # invocation of the ending operation
    ended_by: datetime = _FOREVER  # its completion

    @property
    def sure_end(self) -> datetime:
        return min(self.expiry, self.ended_from)

    @property
    def possible_end(self) -> datetime:
        return min(self.expiry, self.ended_by)

    def surely_during(self, other: Op) -> bool:
        """Surely present for the whole of ``other``'s interval."""
        return self.op.completed < other.invoked and other.completed < self.sure_end

    def surely_gone_before(self, other: Op) -> bool:
        """Surely over when ``other`` was invoked (an instant shared with the ending operation
        leaves their order open)."""
        return self.expiry <= other.invoked or self.ended_by < other.invoked


def _end(effect: _Effect, by: Op) -> None:
    effect.ended_from = min(effect.ended_from, by.invoked)
    effect.ended_by = min(effect.ended_by, by.completed)


def _stamp(op: Op) -> tuple[datetime, int]:
    """The holder rule's key of a sale: its stamp (the deciding node's clock), ties by id."""
    created = instant(op.value.get("created_at")) or op.node_time or op.completed
    return (created, int(op.value.get("reservation_id", op.id)))


def check(ops: Iterable[Op]) -> Verdict:
    """Check a history (any order; operations without a seat are ignored)."""
    by_seat: dict[int, list[Op]] = defaultdict(list)
    total = 0
    for op in ops:
        total += 1
        if op.seat_id is not None:
            by_seat[op.seat_id].append(op)
    anomalies: list[Anomaly] = []
    for seat_id in sorted(by_seat):
        anomalies.extend(_check_seat(seat_id, sorted(by_seat[seat_id], key=lambda o: (o.invoked, o.id))))
    return Verdict(operations=total, seats=len(by_seat), anomalies=anomalies)


def _check_seat(seat_id: int, ops: list[Op]) -> Iterator[Anomaly]:
    sales: dict[int, _Effect] = {}
    holds: dict[int, _Effect] = {}
    for op in ops:
        if not op.ok:
            continue
        if op.f in SALES and "reservation_id" in op.value:
            sales[int(op.value["reservation_id"])] = _Effect(op, int(op.value["reservation_id"]))
        if op.f == "hold" and "hold_id" in op.value:
            effect = _Effect(op, int(op.value["hold_id"]))
            effect.expiry = instant(op.value.get("true_expires_at")) or _FOREVER
            holds[effect.key] = effect
    for op in ops:
        if not op.ok:
            continue
        if op.f == "cancel" and int(op.value.get("reservation_id", 0)) in sales:
            _end(sales[int(op.value["reservation_id"])], op)
        elif op.f == "bump":
            for key in op.value.get("bumped_ids", ()):
                if int(key) in sales:
                    _end(sales[int(key)], op)
        if op.f in ("confirm", "release") and int(op.value.get("hold_id", 0)) in holds:
            _end(holds[int(op.value["hold_id"])], op)

    # Double sales and real-time inversions: pairs of sales surely active at once.
    ordered = sorted(sales.values(), key=lambda e: (e.op.completed, e.op.id))
    for later_index, b in enumerate(ordered):
        overlapping = [
            a for a in ordered[:later_index] if max(a.op.completed, b.op.completed) < min(a.sure_end, b.sure_end)
        ]
        if not overlapping:
            continue
        a = overlapping[0]  # the minimal witness: the first sale b overlaps
        yield Anomaly(DOUBLE_SALE, seat_id, a.op, b.op, f"reservations #{a.key} and #{b.key} both active")
        before = [x for x in overlapping if x.op.completed < b.op.invoked]
        if before and all(_stamp(b.op) < _stamp(x.op) for x in overlapping):
            a = before[0]
            yield Anomaly(
                INVERSION,
                seat_id,
                a.op,
                b.op,
                f"#{a.key} completed before #{b.key} was asked, yet #{b.key} holds the seat "
                f"(stamped {_t(_stamp(b.op)[0])}, before {_t(_stamp(a.op)[0])})",
            )

    # Stale acceptances: granted while a hold (or, for a hold, a sale) surely held the seat.
    for op in ops:
        if not op.ok or op.f not in (*SALES, "hold"):
            continue
        own = int(op.value.get("hold_id", 0)) if op.f == "confirm" else None
        victim = next(
            (h for h in holds.values() if h.op is not op and h.key != own and h.surely_during(op)),
            None,
        )
        if victim is not None:
            yield Anomaly(
                STALE_ACCEPTANCE,
                seat_id,
                victim.op,
                op,
                f"{op.f} granted while hold #{victim.key} was live in true time "
                f"(until {_t(victim.sure_end)}): a stolen hold",
            )
            continue
        if op.f == "hold":
            sold = next((s for s in sales.values() if s.surely_during(op)), None)
            if sold is not None:
                yield Anomaly(
                    STALE_ACCEPTANCE, seat_id, sold.op, op, f"hold granted while reservation #{sold.key} was active"
                )

    # Stale refusals: refused for a reason already gone in true time (or a live hold expired).
    for op in ops:
        if op.outcome != "fail":
            continue
        details = op.value
        if op.error == "SEAT_HELD":
            seen = holds.get(int((details.get("hold") or {}).get("id", 0)))
            if seen is not None and seen.surely_gone_before(op):
                yield Anomaly(
                    STALE_REFUSAL,
                    seat_id,
                    seen.op,
                    op,
                    f"refused for hold #{seen.key}, over in true time since {_t(seen.possible_end)}: a zombie hold",
                )
        elif op.error == "SEAT_ALREADY_RESERVED":
            seen = sales.get(int((details.get("existing_reservation") or {}).get("id", 0)))
            if seen is not None and seen.surely_gone_before(op):
                yield Anomaly(STALE_REFUSAL, seat_id, seen.op, op, f"refused for reservation #{seen.key}, already gone")
        elif op.error == "HOLD_EXPIRED":
            seen = holds.get(int(details.get("hold_id", 0)))
            if seen is not None and seen.surely_during(op):
                yield Anomaly(
                    STALE_REFUSAL,
                    seat_id,
                    seen.op,
                    op,
                    f"hold #{seen.key} judged expired though live in true time until {_t(seen.sure_end)}",
                )


# --- Reading histories ----------------------------------------------------------------------------


def ops_from_rows(rows: Iterable[Any]) -> list[Op]:
    """Checker operations from ``history.models.Operation`` rows."""
    return [
        Op(
            id=row.pk,
            f=row.f,
            outcome=row.outcome,
            invoked=row.invoked_at,
            completed=row.completed_at,
            seat_id=row.seat_id,
            node=row.node,
            node_time=row.node_time,
            error=row.error,
            args=row.args,
            value=row.value,
        )
        for row in rows
    ]


def ops_from_records(records: Iterable[Mapping[str, Any]]) -> list[Op]:
    """Checker operations from ``GET /api/history`` records (``history.shapes.operation``)."""
    return [
        Op(
            id=int(r["id"]),
            f=str(r["f"]),
            outcome=str(r["outcome"]),
            invoked=datetime.fromisoformat(r["invoked_at"]),
            completed=datetime.fromisoformat(r["completed_at"]),
            seat_id=r.get("seat_id"),
            node=r.get("node") or "",
            node_time=instant(r.get("node_time")),
            error=r.get("error") or "",
            args=r.get("args") or {},
            value=r.get("value") or {},
        )
        for r in records
    ]


class HistoryFormatError(ValueError):
    """A JSON-lines history that cannot be read (the line and the reason)."""


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def ops_from_events(events: Iterable[Mapping[str, Any]]) -> list[Op]:
    """Checker operations from Jepsen-like events (``manage.py export_history``): each
    ``invoke`` paired with its completion by ``op``.  An invocation never completed is
    indeterminate (``info``) and ignored, as Jepsen does with crashed clients."""
    invokes: dict[Any, Mapping[str, Any]] = {}
    ops: list[Op] = []
    for number, event in enumerate(events, start=1):
        try:
            kind, key = event["type"], event["op"]
            if kind == "invoke":
                invokes[key] = event
                continue
            start = invokes.pop(key)
            ops.append(
                Op(
                    id=int(key),
                    f=str(event["f"]),
                    outcome=str(kind),
                    invoked=_from_ns(int(start["time"])),
                    completed=_from_ns(int(event["time"])),
                    seat_id=event.get("seat_id"),
                    node=event.get("process", "") if event.get("node_time") else "",
                    node_time=instant(event.get("node_time")),
                    error=str(event.get("error", "")),
                    args=start.get("value") or {},
                    value=event.get("value") or {},
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HistoryFormatError(f"event {number}: {exc!r} in {dict(event)!r}") from exc
    return ops


def pairs(anomalies: Iterable[Anomaly]) -> list[tuple[str, int, int]]:
    """``(kind, first id, second id)`` of each anomaly (tests and reports)."""
    return [(a.kind, a.first.id, a.second.id) for a in anomalies]


def first_of_each_kind(anomalies: Iterable[Anomaly]) -> list[Anomaly]:
    """One anomaly of each kind, the first found (a report's examples)."""
    firsts: dict[str, Anomaly] = {}
    for anomaly in anomalies:
        firsts.setdefault(anomaly.kind, anomaly)
    return [firsts[k] for k in KINDS if k in firsts]
