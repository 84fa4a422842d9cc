"""Where the experiment's trials run: the real services in a private database (``RuleStore``), or
the same rule on rows kept in memory (``FastStore``), ten to thirty times faster.

Both decide every attempt with the rule's own code — the mode's view
(:func:`reservations.visibility.node_view`), the refusals
(:func:`reservations.services.seat_refuse_if_taken`), fencing
(:func:`timesync.consistency.fence_check`), the clock model (:mod:`timesync.clock`) and the
fairness of a conflict (:class:`reservations.selectors.Conflict`) — and the commit wait
(:func:`reservations.visibility.acknowledge`, which advances a virtual reference clock).  What
``FastStore`` does not share is the storage: reading and inserting rows; the seat lock a commit
wait holds is the engine's (:func:`lab.experiments.trial_run` queues later attempts on the seat
behind it, for both stores).  ``lab/tests/test_experiment_engines.py`` runs both on the same
workloads, every mode, and requires the same outcome attempt for attempt, and the same
history verdict.

Private databases (``RuleStore`` only): an in-memory SQLite database swapped in as the default
connection (``memory``), or, on PostgreSQL, temporary tables shadowing the real ones for this
session only (``database``).  Each trial runs inside one transaction rolled back at its end, so
the live events the services queue with ``on_commit`` are discarded.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.utils import load_backend

from core.errors import DomainError
from history.actors import Actor
from history.models import Operation
from reservations.errors import SeatAlreadyReserved, SeatHeld
from reservations.models import Hold, Reservation
from reservations.selectors import Conflict
from reservations.services import (
    hold_confirm,
    hold_create,
    hold_release,
    reservation_create,
    sale_value,
    seat_refuse_if_taken,
)
from reservations.visibility import acknowledge, node_view
from seats.models import Seat
from seats.services import venue_seed
from timesync import clock
from timesync.errors import TimeDriftDetected
from timesync.models import ConsistencySettings, ServerNode
from timesync.services import node_offsets_set_many

from . import checker

OK = "ok"
FENCED = TimeDriftDetected.code
SEEN = SeatAlreadyReserved.code
HELD = SeatHeld.code
EXPIRED = "HOLD_EXPIRED"

#: What the rule reads and writes: the only tables a private store needs (the cluster-mode row
#: is read alongside the seat lock; trials pass their mode explicitly, so it stays empty).
STORE_MODELS = (ServerNode, Seat, Reservation, Hold, Operation, ConsistencySettings)

STORES = ("auto", "memory", "database")
ENGINES = ("fast", "rule")

ENGINE_ACTOR = Actor.system("experiment")


class ExperimentInputError(ValueError):
    """A parameter of the experiment is unusable (the command exits 2 with the message)."""


@dataclass(frozen=True)
class Decision:
    """What one attempt came to: ``code`` (``ok`` or the refusal's error code) and, for an
    accepted sale, whether it double-booked (``conflict``) and unfairly (``unfair``); for a
    granted hold, its handle and stamps (``expires_at`` on the holding node's clock,
    ``true_expires_at`` in true time).  ``answered_at``: the true instant of the answer — the
    attempt's instant, plus the commit wait (``waited`` seconds, ``commit_wait`` mode only)
    during which the write held its seat lock."""

    code: str
    answered_at: datetime
    conflict: bool = False
    unfair: bool = False
    hold: Any = None
    expires_at: datetime | None = None
    true_expires_at: datetime | None = None
    waited: float = 0.0


def trial_nodes(
    node_ids: Iterable[str], offsets: dict[str, tuple[float, float]], start: datetime, *, sync_error: float
) -> list[ServerNode]:
    """The trial's nodes (unsaved): each at its (offset s, drift ppm) from ``start``, unlisted
    ones at 0, and each synced at ``start`` with an error bound of ``sync_error`` seconds — so
    ``commit_wait``'s ε (:func:`timesync.consistency.uncertainty`) is ``sync_error`` at the
    start and grows at the assumed drift.  An offset is a clock fault the sync did not see: it
    leaves ε as it is (DESIGN §2b)."""
    return [
        ServerNode(
            server_id=server_id,
            offset_seconds=offsets.get(server_id, (0.0, 0.0))[0],
            drift_ppm=offsets.get(server_id, (0.0, 0.0))[1],
            offset_since=start,
            last_sync=start,
            last_sync_error_bound=sync_error,
        )
        for server_id in node_ids
    ]


# --- The rule on rows in memory -----------------------------------------------------------------


@dataclass(slots=True)
class _Reservation:
    pk: int
    seat_id: int
    node_id: str
    customer_name: str
    created_at: datetime
    recorded_at: datetime
    node_offset: float


@dataclass(slots=True)
class _Hold:
    pk: int
    seat_id: int
    node_id: str
    customer_name: str
    created_at: datetime
    expires_at: datetime
    true_expires_at: datetime
    active: bool = True


def _stamp(row: Any) -> tuple[datetime, int]:
    return (row.created_at, row.pk)


class FastStore:
    """The rule's decisions on rows kept in memory: the engine's default (see the module's
    docstring for what is shared with the services and what is not)."""

    def __init__(self, node_ids: Sequence[str], seats: int) -> None:
        self.node_ids = list(node_ids)
        self.seats = seats
        self.seat_ids = list(range(1, seats + 1))

    def begin(self, offsets: dict[str, tuple[float, float]], start: datetime, *, sync_error: float) -> None:
        """A fresh trial: empty venue, every node at its offset from ``start`` (drift counts from
        there), synced at ``start`` with error bound ``sync_error`` (:func:`trial_nodes`)."""
        self.node_list = trial_nodes(self.node_ids, offsets, start, sync_error=sync_error)
        self.nodes = {node.server_id: node for node in self.node_list}
        # The commit wait (``acknowledge``) waits through ``timesync.clock.sleep``: under this
        # virtual reference clock it advances the clock instead of sleeping.
        self.fake = clock.FrozenClock(start)
        self._stack = ExitStack()
        self._stack.enter_context(clock.use_reference_clock(self.fake))
        self.reservations: dict[int, list[_Reservation]] = {}
        self.holds: dict[int, list[_Hold]] = {}
        self.ops: list[checker.Op] = []
        self._ids = {"reservation": 0, "hold": 0}

    def resync(self, at: datetime) -> None:
        """Every node synced at ``at`` with the trial's error bound (ε back to it; offsets unchanged)."""
        for node in self.node_list:
            node.last_sync = at

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _log(
        self,
        f: str,
        at: datetime,
        seat_id: int,
        node: str,
        t_node: datetime | None,
        code: str,
        value: Any,
        *,
        completed: datetime | None = None,
    ) -> None:
        self.ops.append(
            checker.Op(
                id=len(self.ops) + 1,
                f=f,
                outcome="ok" if code == OK else "fail",
                invoked=at,
                completed=at if completed is None else completed,
                seat_id=seat_id,
                node=node,
                node_time=t_node,
                error="" if code == OK else code,
                value=value,
            )
        )

    def _decide(self, f: str, seat_id: int, node_id: str, mode: str, at: datetime, *, own: _Hold | None = None):
        """The rule of ``reservation_create``/``hold_create``/``hold_confirm`` up to the write:
        ``(the node's view, active reservations)``, or a refusal's code (already logged)."""
        node = self.nodes[node_id]
        t_node = clock.node_now(node, at=at)
        try:
            view = node_view(node, mode, at=at, nodes=self.node_list)
            if own is not None and view.hold_expired(own):
                self._log(f, at, seat_id, node_id, t_node, EXPIRED, {"hold_id": own.pk})
                return EXPIRED
            active = self.reservations.get(seat_id, [])
            holds = [h for h in self.holds.get(seat_id, ()) if h.active]
            seat_refuse_if_taken(
                seat_id, view, active, holds, server_id=node_id, own_hold=None if own is None else own.pk
            )
        except DomainError as exc:
            value = dict(exc.details)
            if own is not None:
                value["hold_id"] = own.pk
            self._log(f, at, seat_id, node_id, t_node, exc.code, value)
            return exc.code
        return view, list(active)

    def _acknowledge(self, view: Any, at: datetime) -> tuple[float, datetime]:
        """The rule's own :func:`~reservations.visibility.acknowledge` (the commit wait in
        ``commit_wait``, nothing otherwise) from virtual instant ``at``: (seconds waited, the
        instant of the answer)."""
        self.fake.now = at
        waited = acknowledge(view)
        return waited, self.fake.now

    def _sell(self, f: str, seat_id: int, name: str, node_id: str, mode: str, at: datetime, own: _Hold | None):
        decided = self._decide(f, seat_id, node_id, mode, at, own=own)
        if isinstance(decided, str):
            return Decision(decided, at)
        view, active = decided
        row = _Reservation(self._next("reservation"), seat_id, node_id, name, view.stamp, at, view.offset)
        bisect.insort(self.reservations.setdefault(seat_id, []), row, key=_stamp)
        value = sale_value(row, active)  # type: ignore[arg-type]
        if own is not None:
            own.active = False
            value["hold_id"] = own.pk
        waited, answered = self._acknowledge(view, at)
        self._log(f, at, seat_id, node_id, view.t_node, OK, value, completed=answered)
        unfair = bool(active) and not Conflict(seat_id, [*active, row]).fair  # type: ignore[list-item]
        return Decision(OK, answered, conflict=bool(active), unfair=unfair, waited=waited)

    def reserve(self, *, seat: int, name: str, node: str, mode: str, at: datetime) -> Decision:
        return self._sell("reserve", self.seat_ids[seat], name, node, mode, at, None)

    def hold(self, *, seat: int, name: str, node: str, mode: str, at: datetime, ttl: int) -> Decision:
        seat_id = self.seat_ids[seat]
        decided = self._decide("hold", seat_id, node, mode, at)
        if isinstance(decided, str):
            return Decision(decided, at)
        view, _active = decided
        ttl_delta = timedelta(seconds=ttl)
        row = _Hold(self._next("hold"), seat_id, node, name, view.stamp, view.stamp + ttl_delta, at + ttl_delta)
        bisect.insort(self.holds.setdefault(seat_id, []), row, key=_stamp)
        value = {
            "hold_id": row.pk,
            "created_at": view.stamp,
            "expires_at": row.expires_at,
            "recorded_at": at,
            "true_expires_at": row.true_expires_at,
        }
        waited, answered = self._acknowledge(view, at)
        self._log("hold", at, seat_id, node, view.t_node, OK, value, completed=answered)
        return Decision(
            OK, answered, hold=row, expires_at=row.expires_at, true_expires_at=row.true_expires_at, waited=waited
        )

    def confirm(self, *, hold: _Hold, node: str, mode: str, at: datetime) -> Decision:
        return self._sell("confirm", hold.seat_id, hold.customer_name, node, mode, at, hold)

    def release(self, *, hold: _Hold, at: datetime) -> Decision:
        hold.active = False
        self._log("release", at, hold.seat_id, "", None, OK, {"hold_id": hold.pk})
        return Decision(OK, at)

    def history(self) -> list[checker.Op]:
        return self.ops

    def seats_sold(self) -> tuple[int, int]:
        """(seats with several active reservations, seats with at least one)."""
        counts = [len(rows) for rows in self.reservations.values() if rows]
        return sum(1 for n in counts if n > 1), len(counts)

    def end(self) -> None:
        self._stack.close()


# --- The services on a private database -----------------------------------------------------------


class RuleStore:
    """Every attempt through the real services (``reservation_create``, ``hold_create``,
    ``hold_confirm``, ``hold_release``) in a private database, the reference clock frozen at the
    attempt's virtual instant; the trial's transaction is rolled back at its end."""

    def __init__(self, seat_ids: Sequence[int]) -> None:
        self.seat_ids = list(seat_ids)

    def begin(self, offsets: dict[str, tuple[float, float]], start: datetime, *, sync_error: float) -> None:
        """A fresh trial: the nodes as :func:`trial_nodes` says, set through the services."""
        self.fake = clock.FrozenClock(start)
        self._stack = ExitStack()
        self._stack.enter_context(clock.use_reference_clock(self.fake))
        self._stack.enter_context(transaction.atomic())
        node_offsets_set_many(offsets, actor=ENGINE_ACTOR, reason="trial")  # at virtual time 0: drift from here
        # Every node synced at the start with the trial's error bound (what a sync records).
        ServerNode.objects.update(last_sync=start, last_sync_error_bound=sync_error)
        self._first_op = Operation.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def resync(self, at: datetime) -> None:
        """Every node synced at ``at`` with the trial's error bound (ε back to it; offsets unchanged)."""
        ServerNode.objects.update(last_sync=at)

    def _at(self, at: datetime) -> None:
        # The engine orders the attempts (and queues those on a seat behind its lock); a commit
        # wait inside the rule then advances the virtual clock itself (clock.sleep), to the answer.
        self.fake.now = at

    def reserve(self, *, seat: int, name: str, node: str, mode: str, at: datetime) -> Decision:
        self._at(at)
        try:
            outcome = reservation_create(
                seat_id=self.seat_ids[seat], customer_name=name, server_id=node, mode=mode, actor=ENGINE_ACTOR
            )
        except DomainError as exc:
            return Decision(exc.code, at)
        return self._sale(outcome, at)

    def _sale(self, outcome: Any, at: datetime) -> Decision:
        unfair = outcome.conflict_detected and not Conflict(0, [*outcome.hidden, outcome.reservation]).fair
        return Decision(OK, self.fake.now, conflict=outcome.conflict_detected, unfair=unfair, waited=self._waited(at))

    def _waited(self, at: datetime) -> float:
        """The commit wait, as the virtual clock advanced during the call (``commit_wait`` only)."""
        return (self.fake.now - at).total_seconds()

    def hold(self, *, seat: int, name: str, node: str, mode: str, at: datetime, ttl: int) -> Decision:
        self._at(at)
        try:
            outcome = hold_create(
                seat_id=self.seat_ids[seat],
                customer_name=name,
                server_id=node,
                ttl_seconds=ttl,
                mode=mode,
                actor=ENGINE_ACTOR,
            )
        except DomainError as exc:
            return Decision(exc.code, at)
        h = outcome.hold
        return Decision(
            OK,
            self.fake.now,
            hold=outcome.token,
            expires_at=h.expires_at,
            true_expires_at=h.true_expires_at,
            waited=self._waited(at),
        )

    def confirm(self, *, hold: str, node: str, mode: str, at: datetime) -> Decision:
        self._at(at)
        try:
            outcome = hold_confirm(token=hold, server_id=node, mode=mode, actor=ENGINE_ACTOR)
        except DomainError as exc:
            return Decision(exc.code, at)
        return self._sale(outcome, at)

    def release(self, *, hold: str, at: datetime) -> Decision:
        self._at(at)
        hold_release(token=hold, actor=ENGINE_ACTOR)
        return Decision(OK, at)

    def history(self) -> list[checker.Op]:
        """The trial's operations, read from the history the services appended (kept as
        ``last_history`` once the trial is rolled back)."""
        self.last_history = checker.ops_from_rows(Operation.objects.filter(id__gt=self._first_op).order_by("id"))
        return self.last_history

    def seats_sold(self) -> tuple[int, int]:
        from reservations.selectors import conflict_count

        sold = Reservation.objects.active().values("seat_id").distinct().count()
        return conflict_count(), sold

    def end(self) -> None:
        transaction.set_rollback(True)
        self._stack.close()


# --- Private stores -------------------------------------------------------------------------------


def store_resolve(kind: str) -> str:
    """``auto`` → ``database`` on PostgreSQL, ``memory`` otherwise."""
    if kind not in STORES:
        raise ExperimentInputError(f"unknown store {kind!r} (choose from {', '.join(STORES)})")
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if kind == "auto":
        return "database" if vendor == "postgresql" else "memory"
    if kind == "database" and vendor != "postgresql":
        raise ExperimentInputError(
            "--store database needs PostgreSQL: on SQLite every trial would hold the database's "
            "write lock for its whole duration and lock the running demo out (use --store memory)"
        )
    return kind


@contextmanager
def _memory_store() -> Iterator[None]:
    """An in-memory SQLite database as this thread's default connection, for the block.

    The services open their transactions and queue their events on the default alias, so the
    default connection itself is swapped (in this thread only; the user's database is never
    opened for writing).  Only the rule's tables are created, from the models — the same DDL as
    the migrations, which ``makemigrations --check`` keeps in step — in about 10 ms (a full
    ``migrate`` of an in-memory database takes 0.2–0.3 s; docs/benchmarks.md).
    """
    settings_dict = connections.configure_settings(
        {
            DEFAULT_DB_ALIAS: {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": ":memory:",
                # As the demo's SQLite: the write lock is taken at BEGIN.
                "OPTIONS": {"transaction_mode": "IMMEDIATE"},
            }
        }
    )[DEFAULT_DB_ALIAS]
    private = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, DEFAULT_DB_ALIAS)
    previous = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = private
    try:
        with private.schema_editor() as editor:
            for model in STORE_MODELS:
                editor.create_model(model)
        yield
    finally:
        connections[DEFAULT_DB_ALIAS] = previous
        # SQLite's wrapper ignores close() on an in-memory database; this one must go.
        if private.connection is not None:
            private.connection.close()
            private.connection = None


@contextmanager
def _database_store() -> Iterator[None]:
    """Temporary tables shadowing the rule's tables, on PostgreSQL, for this session only.

    ``pg_temp`` comes first in the search path, so the session's unqualified queries reach the
    (empty) temporary copies — other sessions never see them — and they are dropped at the end.
    ``LIKE … INCLUDING ALL`` copies columns, defaults, identity, checks and indexes, not foreign
    keys (which the rule does not rely on).
    """
    tables = [model._meta.db_table for model in STORE_MODELS]
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"CREATE TEMPORARY TABLE {quote(table)} (LIKE {quote(table)} INCLUDING ALL)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in reversed(tables):
                cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{quote(table)}")


@contextmanager
def private_store(kind: str, *, node_ids: Iterable[str], seats: int) -> Iterator[list[int]]:
    """A private copy of the rule's tables holding ``node_ids`` (offsets 0) and a venue of
    ``seats`` seats (one row, ``A1``…); yields the venue's seat ids in order."""
    store = store_resolve(kind)
    with _memory_store() if store == "memory" else _database_store():
        ServerNode.objects.bulk_create([ServerNode(server_id=server_id) for server_id in node_ids])
        venue_seed(rows=1, seats_per_row=seats)
        yield list(Seat.objects.order_by("row", "number").values_list("pk", flat=True))
