"""The conflict-rate experiment: a discrete-event workload in virtual time (``manage.py experiment``).

Customers arrive as a Poisson process; each wants seats in order of popularity (Zipf weights
over a seeded ranking of the venue) and sends each attempt through a node drawn uniformly.
Every attempt goes through :func:`reservations.services.reservation_create` — the very rule the
API uses — with an explicit consistency mode, while :mod:`timesync.clock`'s reference is a
:class:`~timesync.clock.FrozenClock` advanced to the attempt's virtual instant.  Nothing sleeps:
minutes of traffic take seconds.

A *trial* is one clock configuration (a stored scenario, or one node lagging by ``d`` seconds)
under one mode, replaying the same workload.  The whole workload is drawn from the seed before
any trial runs, so every trial sees the same customers at the same instants (common random
numbers): differences between trials come from the clocks and the mode alone.

Customer model (documented in docs/experiments.md): a customer looks at the seat map (the
venue's true state), picks the first free seat among a few drawn by popularity (else settles for
a random free one), thinks, and submits through a node drawn uniformly.  Up to ``1 + retries``
attempts: after a 409 (the node saw a holder) back to the map; after a 503 (the node is fenced)
the same seat again, through a node drawn afresh.  When the attempts run out they give up.

Isolation: the experiment never touches the user's data and publishes no live event.  Trials run
in a *private store* — an in-memory SQLite database swapped in as the default connection
(``memory``), or, on PostgreSQL, temporary tables that shadow the real ones for this session only
(``database``) — and each trial runs inside one transaction that is rolled back at its end, so
the events the services queue with ``on_commit`` are discarded.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.utils import load_backend

from reservations.errors import SeatAlreadyReserved
from reservations.models import Reservation
from reservations.selectors import Conflict, conflict_count
from reservations.services import reservation_create
from seats.models import Seat
from seats.services import MAX_SEATS_PER_ROW, venue_seed
from timesync import clock
from timesync.consistency import Mode
from timesync.errors import TimeDriftDetected
from timesync.models import ConsistencySettings, ServerNode
from timesync.services import node_offsets_set_many

from .loadgen import zipf_weights

#: Virtual time starts here in every trial (a fixed instant: nothing in a report depends on
#: when it was produced).
VIRTUAL_START = datetime(2026, 1, 1, 20, 0, 0, tzinfo=UTC)

MODES: tuple[str, ...] = (Mode.NAIVE.value, Mode.BOUNDED.value, Mode.SERIALIZABLE.value)

#: Lags of the skew sweep, in seconds: the skew node's offset is ``-lag``, every other node's 0.
DEFAULT_SKEWS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

#: ``--quick``: a small run (about 90 customers on 100 seats) for a first look and for tests.
QUICK = {"rate": 2.0, "duration": 45.0, "seats": 100}

#: What the rule reads and writes: the only tables a private store needs (the cluster-mode row
#: is read alongside the seat lock; trials pass their mode explicitly, so it stays empty).
STORE_MODELS = (ServerNode, Seat, Reservation, ConsistencySettings)

STORES = ("auto", "memory", "database")


class ExperimentInputError(ValueError):
    """A parameter of the experiment is unusable (the command exits 2 with the message)."""


def random_seed() -> int:
    """A fresh seed for a run given none; the report records it, so the run can be repeated."""
    return random.SystemRandom().randrange(1, 2**31)


# --- The workload -------------------------------------------------------------------------------

#: How many seats a customer considers, by popularity, before settling for any free seat.
CANDIDATES = 8


@dataclass(frozen=True)
class Workload:
    """What the customers do: arrival rate, virtual duration, venue size and their patience."""

    rate: float = 2.0  # arrivals per virtual second (Poisson)
    duration: float = 240.0  # virtual seconds during which customers arrive
    seats: int = 500  # size of the experiment's own venue
    retries: int = 2  # further attempts after a refusal
    think: float = 20.0  # mean time from looking at the map to submitting, virtual seconds (exponential)
    zipf_exponent: float = 1.1  # popularity: the k-th most popular seat has weight 1/k**s

    def __post_init__(self) -> None:
        problems = []
        if not self.rate > 0:
            problems.append(f"rate must be a positive number of arrivals per second, not {self.rate}")
        if not self.duration > 0:
            problems.append(f"duration must be a positive number of virtual seconds, not {self.duration}")
        if not 1 <= self.seats <= MAX_SEATS_PER_ROW:
            problems.append(f"seats must be between 1 and {MAX_SEATS_PER_ROW}, not {self.seats}")
        if self.retries < 0:
            problems.append(f"retries must be 0 or more, not {self.retries}")
        if not self.think >= 0:
            problems.append(f"think must be 0 or more seconds, not {self.think}")
        if not self.zipf_exponent >= 0:
            problems.append(f"zipf exponent must be 0 or more, not {self.zipf_exponent}")
        if self.rate * self.duration > 1_000_000:
            problems.append("rate × duration above a million customers: run smaller experiments")
        if problems:
            raise ExperimentInputError("; ".join(problems))


@dataclass(frozen=True)
class Choice:
    """How a customer picks a seat on the map: the first free one of ``candidates`` (drawn by
    popularity), else the free seat at fraction ``settle`` of the free seats in popularity order."""

    candidates: tuple[int, ...]
    settle: float

    def pick(self, taken: set[int], ranking: Sequence[int]) -> int | None:
        for seat in self.candidates:
            if seat not in taken:
                return seat
        free = [seat for seat in ranking if seat not in taken]
        return free[int(self.settle * len(free))] if free else None


@dataclass(frozen=True)
class Customer:
    """One customer's whole behaviour, drawn in advance: the outcomes only say how far it goes.

    Attempt ``i`` is sent through ``nodes[i]`` ``thinks_us[i]`` after the customer looked at the
    map (on arrival, or when refused), choosing with ``choices[i]``.
    """

    arrival_us: int  # virtual microseconds after VIRTUAL_START
    choices: tuple[Choice, ...]
    nodes: tuple[str, ...]
    thinks_us: tuple[int, ...]


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def seat_ranking(workload: Workload, *, seed: int) -> list[int]:
    """Venue seat indices, most popular first (a seeded shuffle)."""
    ranking = list(range(workload.seats))
    random.Random(f"seatclock-experiment:{seed}:ranking").shuffle(ranking)
    return ranking


def workload_draw(workload: Workload, *, seed: int, nodes: Sequence[str]) -> list[Customer]:
    """Every customer of the run, from ``seed`` alone (string seeds: stable across processes)."""
    if not nodes:
        raise ExperimentInputError("no nodes to send the workload through")
    rng = random.Random(f"seatclock-experiment:{seed}")
    ranking = seat_ranking(workload, seed=seed)
    cum_weights = list(itertools.accumulate(zipf_weights(workload.seats, workload.zipf_exponent)))
    attempts = workload.retries + 1

    def think() -> int:
        return _us(rng.expovariate(1.0 / workload.think)) if workload.think > 0 else 0

    customers: list[Customer] = []
    t = 0.0
    while True:
        t += rng.expovariate(workload.rate)
        if t >= workload.duration:
            return customers
        choices = tuple(
            Choice(candidates=tuple(rng.choices(ranking, cum_weights=cum_weights, k=CANDIDATES)), settle=rng.random())
            for _ in range(attempts)
        )
        customers.append(
            Customer(
                arrival_us=_us(t),
                choices=choices,
                nodes=tuple(rng.choice(nodes) for _ in range(attempts)),
                thinks_us=tuple(think() for _ in range(attempts)),
            )
        )


# --- Trials -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One clock configuration under one mode.

    ``offsets`` maps node → (offset seconds, drift ppm), set at the start of virtual time;
    unlisted nodes are at 0.  ``sweep`` is ``scenario`` (``label`` = its name) or ``skew``
    (``label`` = the lagging node, ``skew`` = its lag).
    """

    sweep: str
    label: str
    mode: str
    offsets: dict[str, tuple[float, float]]
    skew: float | None = None


@dataclass
class TrialResult:
    """What one trial measured.  Definitions in docs/experiments.md."""

    trial: Trial
    customers: int = 0
    attempts: int = 0
    accepted: int = 0  # 201
    refused_seen: int = 0  # 409: the node saw a holder
    refused_fenced: int = 0  # 503: the node was fenced (bounded mode)
    gave_up: int = 0  # customers refused on every attempt
    sold_out: int = 0  # customers who found no free seat on the map
    conflicts: int = 0  # accepted reservations that double-booked their seat (conflict_detected)
    unfair: int = 0  # conflicts whose seat's timestamp winner is not the true first
    double_booked_seats: int = 0  # seats with several active reservations at the end
    seats_sold: int = 0  # seats with at least one active reservation at the end

    @property
    def conflict_rate(self) -> float | None:
        return self.conflicts / self.accepted if self.accepted else None

    @property
    def unfair_rate(self) -> float | None:
        return self.unfair / self.accepted if self.accepted else None

    @property
    def refused_rate(self) -> float | None:
        return self.refused_fenced / self.attempts if self.attempts else None

    @property
    def contended_rate(self) -> float | None:
        """Attempts on a seat someone truly held already: 409s plus conflicts."""
        return (self.refused_seen + self.conflicts) / self.attempts if self.attempts else None


_ARRIVE, _SUBMIT = 0, 1


def trial_run(
    trial: Trial,
    customers: Sequence[Customer],
    seat_ids: Sequence[int],
    ranking: Sequence[int],
    *,
    on_customer: Callable[[], None] | None = None,
) -> TrialResult:
    """Replay ``customers`` in virtual time under ``trial``; everything written is rolled back.

    Must run inside a private store (:func:`private_store`), whose venue ``seat_ids`` is.
    Events are processed in (virtual instant, scheduling order) order from a heap, so the run
    is a pure function of the workload, the offsets and the mode.  The map a customer looks at
    is the venue's true state (what ``/api/seats`` shows): the seats with an accepted
    reservation so far.
    """
    result = TrialResult(trial=trial, customers=len(customers))
    taken: set[int] = set()  # seat indices with an active reservation
    fake = clock.FrozenClock(VIRTUAL_START)
    with clock.use_reference_clock(fake), transaction.atomic():
        # At virtual time 0: offset_since = VIRTUAL_START, so drift accumulates over the run.
        node_offsets_set_many(trial.offsets)
        # (instant, scheduling order, kind, customer, attempt number, seat index)
        queue: list[tuple[int, int, int, int, int, int]] = [
            (c.arrival_us, i, _ARRIVE, i, 0, -1) for i, c in enumerate(customers)
        ]
        heapq.heapify(queue)
        order = itertools.count(len(customers))

        def look_and_submit(index: int, attempt: int, at_us: int) -> None:
            customer = customers[index]
            seat = customer.choices[attempt].pick(taken, ranking)
            if seat is None:
                result.sold_out += 1
                return
            heapq.heappush(queue, (at_us + customer.thinks_us[attempt], next(order), _SUBMIT, index, attempt, seat))

        while queue:
            at_us, _, kind, index, attempt, seat = heapq.heappop(queue)
            if kind == _ARRIVE:
                if on_customer is not None:
                    on_customer()
                look_and_submit(index, 0, at_us)
                continue
            # Whole microseconds from the start: no rounding drift.  A commit wait inside the rule
            # advances the virtual clock itself (clock.sleep); a later event then starts no
            # earlier than that wait's end, as it would queue behind it.
            fake.now = max(fake.now, VIRTUAL_START + timedelta(microseconds=at_us))
            customer = customers[index]
            result.attempts += 1
            try:
                outcome = reservation_create(
                    seat_id=seat_ids[seat],
                    customer_name=f"Customer {index + 1:06d}",
                    server_id=customer.nodes[attempt],
                    mode=trial.mode,
                )
            except SeatAlreadyReserved:
                result.refused_seen += 1
                if attempt + 1 < len(customer.nodes):
                    look_and_submit(index, attempt + 1, at_us)  # back to the map
                else:
                    result.gave_up += 1
            except TimeDriftDetected:
                result.refused_fenced += 1
                if attempt + 1 < len(customer.nodes):  # the same seat, again, through a node drawn afresh
                    retry_at = at_us + customer.thinks_us[attempt + 1]
                    heapq.heappush(queue, (retry_at, next(order), _SUBMIT, index, attempt + 1, seat))
                else:
                    result.gave_up += 1
            else:
                result.accepted += 1
                taken.add(seat)
                if outcome.conflict_detected:
                    result.conflicts += 1
                    conflict = Conflict(outcome.reservation.seat_id, [*outcome.hidden, outcome.reservation])
                    if not conflict.fair:
                        result.unfair += 1
        result.double_booked_seats = conflict_count()
        result.seats_sold = (
            Reservation.objects.filter(status=Reservation.Status.ACTIVE).values("seat_id").distinct().count()
        )
        transaction.set_rollback(True)
    return result


# --- Private stores ---------------------------------------------------------------------------


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


# --- A whole experiment -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentConfig:
    workload: Workload
    seed: int
    modes: tuple[str, ...] = MODES
    scenarios: tuple[str, ...] | None = None  # None: every stored scenario
    skews: tuple[float, ...] = DEFAULT_SKEWS
    skew_node: str | None = None  # None: the second node (server-2, the spec's lagging node)
    store: str = "auto"


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    store: str
    vendor: str
    node_ids: list[str]
    skew_node: str | None
    scenarios: dict[str, dict[str, tuple[float, float]]]
    customers: int
    results: list[TrialResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def attempts(self) -> int:
        return sum(r.attempts for r in self.results)

    @property
    def attempts_per_second(self) -> float | None:
        return self.attempts / self.wall_seconds if self.wall_seconds > 0 else None


def experiment_plan(
    config: ExperimentConfig,
) -> tuple[list[str], dict[str, dict[str, tuple[float, float]]], str | None]:
    """Read (from the user's database) the nodes, the scenarios to sweep and the skew node.

    Raises ``ExperimentInputError`` naming what is unknown.
    """
    from simulation.selectors import scenario_list

    unknown_modes = [m for m in config.modes if m not in MODES]
    if unknown_modes:
        raise ExperimentInputError(f"unknown mode(s): {', '.join(unknown_modes)} (choose from {', '.join(MODES)})")
    node_ids = list(ServerNode.objects.order_by("server_id").values_list("server_id", flat=True))
    if not node_ids:
        raise ExperimentInputError("no server nodes (run `manage.py migrate`)")
    stored = {s.name: {o.node_id: (o.offset_seconds, o.drift_ppm) for o in s.offsets.all()} for s in scenario_list()}
    if config.scenarios is None:
        scenarios = stored
    else:
        missing = [name for name in config.scenarios if name not in stored]
        if missing:
            raise ExperimentInputError(
                f"unknown scenario(s): {', '.join(missing)} (stored: {', '.join(stored) or 'none'})"
            )
        scenarios = {name: stored[name] for name in config.scenarios}
    skew_node = None
    if config.skews:
        skew_node = config.skew_node or (node_ids[1] if len(node_ids) > 1 else node_ids[0])
        if skew_node not in node_ids:
            raise ExperimentInputError(f"unknown skew node {skew_node!r} (nodes: {', '.join(node_ids)})")
        limit = settings.SEATCLOCK_MAX_INJECTED_OFFSET
        bad = [f"{s:g}" for s in config.skews if not 0 <= s <= limit]
        if bad:
            raise ExperimentInputError(
                f"skews are lags between 0 and {limit:g} seconds (the node's offset is minus the lag), "
                f"not {', '.join(bad)}"
            )
    return node_ids, scenarios, skew_node


def experiment_trials(
    config: ExperimentConfig, scenarios: dict[str, dict[str, tuple[float, float]]], skew_node: str | None
) -> list[Trial]:
    """Scenarios × modes, then skews × modes, in a fixed order."""
    trials = [
        Trial(sweep="scenario", label=name, mode=mode, offsets=offsets)
        for name, offsets in scenarios.items()
        for mode in config.modes
    ]
    if skew_node is not None:
        trials += [
            Trial(sweep="skew", label=skew_node, mode=mode, offsets={skew_node: (-lag, 0.0)}, skew=lag)
            for lag in config.skews
            for mode in config.modes
        ]
    return trials


def experiment_run(
    config: ExperimentConfig,
    *,
    on_start: Callable[[int], None] | None = None,
    on_customer: Callable[[], None] | None = None,
) -> ExperimentResult:
    """Run every trial of ``config`` in a private store; the user's data is only read.

    ``on_start(total)`` is told how many customer arrivals the run will process, and
    ``on_customer()`` is called at each one (progress bars).
    """
    node_ids, scenarios, skew_node = experiment_plan(config)
    store = store_resolve(config.store)
    customers = workload_draw(config.workload, seed=config.seed, nodes=node_ids)
    trials = experiment_trials(config, scenarios, skew_node)
    experiment = ExperimentResult(
        config=config,
        store=store,
        vendor=connections[DEFAULT_DB_ALIAS].vendor,
        node_ids=node_ids,
        skew_node=skew_node,
        scenarios=scenarios,
        customers=len(customers),
    )
    if on_start is not None:
        on_start(len(trials) * len(customers))
    started = clock.monotonic()
    ranking = seat_ranking(config.workload, seed=config.seed)
    with private_store(store, node_ids=node_ids, seats=config.workload.seats) as seat_ids:
        for trial in trials:
            experiment.results.append(trial_run(trial, customers, seat_ids, ranking, on_customer=on_customer))
    experiment.wall_seconds = clock.monotonic() - started
    return experiment
