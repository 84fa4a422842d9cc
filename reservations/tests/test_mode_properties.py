"""Each consistency mode's guarantee (DESIGN §2b), as a property over random worlds, against the
real rule (``reservation_create``) on the test database (PostgreSQL in CI).

A *world* is every node's offset and drift (ppm), then a run of requests, each through a node
drawn at random, for one of a few seats, at an arrival instant in virtual time (a frozen
reference clock: commit waits advance it instead of sleeping).  Requests are served one after
the other, each at ``max(its arrival, the end of the previous one)`` — one valid schedule of a
cluster whose seat lock serialises the writes that matter.  After the run:

- a *double booking* is a seat with two active reservations;
- a *true-order inversion* is two acknowledged reservations A and B where A was acknowledged
  before B arrived (true time), yet B's stamp is not later than A's (external consistency).

For each mode the guarantee must hold whenever its condition holds, and each test also shows
that the guarantee is not vacuous: the anomaly appears when the condition is broken on purpose
(the fence moved to CockroachDB's 80 %, an offset injected beyond ε), found by Hypothesis.
Every test counts what its examples did (writes, refusals, fences, waits) and asserts the
counts, so that a run that never exercised the rule fails.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from conftest import T0
from reservations.errors import SeatAlreadyReserved
from reservations.models import Reservation
from reservations.services import reservation_create
from timesync import clock, consistency
from timesync.errors import TimeDriftDetected
from timesync.models import ServerNode
from timesync.services import node_offset_set, node_offsets_set_many

from .syncing import SyncSource

pytestmark = pytest.mark.django_db

NODES = [f"server-{i}" for i in range(1, 6)]
SEATS = 2  # few seats, so that requests collide
BOUND = 0.5  # SEATCLOCK_MAX_CLOCK_OFFSET's default, which the tests run with

EXAMPLES = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Searching for a counterexample: the first one found is enough (no shrinking, which would
# replay hundreds of worlds to make it smaller).
SEARCH = settings(
    phases=[Phase.generate],
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --------------------------------------------------------------------------- worlds


@dataclass(frozen=True)
class Request:
    gap: float  # seconds of true time after the previous request's arrival
    node: str
    seat: int


@dataclass(frozen=True)
class World:
    offsets: tuple[float, ...]  # per node, seconds
    drifts: tuple[float, ...]  # per node, ppm
    requests: tuple[Request, ...]


gaps = st.one_of(st.just(0.0), st.floats(0.0, 0.02), st.floats(0.0, 2.0))
requests = st.lists(
    st.builds(Request, gap=gaps, node=st.sampled_from(NODES), seat=st.integers(0, SEATS - 1)), min_size=2, max_size=10
)


def worlds(offsets: st.SearchStrategy[float], drifts: st.SearchStrategy[float]) -> st.SearchStrategy[World]:
    n = len(NODES)
    return st.builds(
        World,
        offsets=st.tuples(*[offsets] * n),
        drifts=st.tuples(*[drifts] * n),
        requests=requests.map(tuple),
    )


# --------------------------------------------------------------------------- running a world


@dataclass
class Written:
    reservation: Reservation
    arrived: datetime
    acknowledged: datetime


@dataclass
class History:
    written: list[Written] = field(default_factory=list)
    seen: Counter = field(default_factory=Counter)

    @property
    def double_booked(self) -> list[int]:
        seats = Counter(w.reservation.seat_id for w in self.written)
        return [seat for seat, n in seats.items() if n > 1]

    @property
    def inversions(self) -> list[tuple[int, int]]:
        """Pairs (A, B): A acknowledged before B arrived, yet B not stamped after A."""
        return [
            (a.reservation.pk, b.reservation.pk)
            for a in self.written
            for b in self.written
            if a.acknowledged < b.arrived and not a.reservation.created_at < b.reservation.created_at
        ]


def run(world: World, mode: str, frozen: clock.FrozenClock, seat_ids: list[int], prepare=None) -> History:
    """Replay ``world`` through the real rule under ``mode``; ``prepare()`` runs once the clocks
    are set (commit_wait syncs the nodes there).  The database is the test's transaction."""
    Reservation.objects.all().delete()
    frozen.now = T0
    node_offsets_set_many(dict(zip(NODES, zip(world.offsets, world.drifts, strict=True), strict=True)))
    if prepare is not None:
        prepare()
    history = History()
    arrival = frozen.now
    for index, request in enumerate(world.requests):
        arrival += timedelta(seconds=request.gap)
        frozen.now = max(frozen.now, arrival)
        started = frozen.now
        try:
            outcome = reservation_create(
                seat_id=seat_ids[request.seat], customer_name=f"Customer {index}", server_id=request.node, mode=mode
            )
        except SeatAlreadyReserved:
            history.seen["refused"] += 1
        except TimeDriftDetected:
            history.seen["fenced"] += 1
        else:
            history.seen["accepted"] += 1
            if frozen.now > started:
                history.seen["waited"] += 1
            history.written.append(Written(outcome.reservation, started, frozen.now))
    history.seen["double_booked"] += bool(history.double_booked)
    return history


@pytest.fixture
def seat_ids(venue) -> list[int]:
    return [seat.pk for seat in venue[:SEATS]]


# --------------------------------------------------------------------------- serializable


def test_serializable_never_double_books(frozen_clock, seat_ids):
    """Guarantee: never, whatever the clocks (timestamps are ignored)."""
    seen: Counter = Counter()

    @EXAMPLES
    @given(world=worlds(st.floats(-30.0, 30.0), st.one_of(st.just(0.0), st.floats(-100_000.0, 100_000.0))))
    def check(world: World) -> None:
        history = run(world, "serializable", frozen_clock, seat_ids)
        assert not history.double_booked, history.written
        seen.update(history.seen)

    check()
    assert seen["accepted"] >= 40 and seen["refused"] >= 40, seen


# --------------------------------------------------------------------------- bounded


def test_bounded_never_double_books_while_its_pairwise_condition_holds(frozen_clock, seat_ids):
    """Guarantee: no double booking provided every pair of writing nodes is within
    MAX_CLOCK_OFFSET of each other.  The fence at half the bound enforces the condition: every
    write bounded accepts comes from a node within BOUND / 2 of the median at that instant, so
    any two writers are within BOUND.  Offsets up to ±0.6 s: many nodes are fenced."""
    seen: Counter = Counter()

    @EXAMPLES
    @given(world=worlds(st.floats(-0.6, 0.6), st.one_of(st.just(0.0), st.floats(-500.0, 500.0))))
    def check(world: World) -> None:
        history = run(world, "bounded", frozen_clock, seat_ids)
        nodes = list(ServerNode.objects.all())
        for w in history.written:  # the condition, as the fence enforces it
            fence = consistency.node_fences(nodes, at=w.arrived)[w.reservation.node_id]
            assert abs(fence.deviation_seconds) <= BOUND / 2
        assert not history.double_booked, history.written
        seen.update(history.seen)

    check()
    assert seen["accepted"] >= 40 and seen["refused"] >= 20 and seen["fenced"] >= 20, seen


def test_bounded_double_books_when_the_fence_is_moved_to_80_percent(frozen_clock, seat_ids, monkeypatch):
    """With CockroachDB's 80 % fence, two nodes on opposite sides of the median can both be
    unfenced yet 1.6 × the bound apart: Hypothesis finds a world where bounded double-books."""
    monkeypatch.setattr(consistency, "FENCE_FRACTION", consistency.COCKROACHDB_FENCE_FRACTION)
    offsets = st.sampled_from([-0.39, -0.3, -0.1, 0.0, 0.1, 0.3, 0.39])
    world = find(
        worlds(offsets, st.just(0.0)),
        lambda w: bool(run(w, "bounded", frozen_clock, seat_ids).double_booked),
        settings=SEARCH,
    )
    history = run(world, "bounded", frozen_clock, seat_ids)
    writers = {w.reservation.node_id for w in history.written if w.reservation.seat_id in history.double_booked}
    spread = max(world.offsets[NODES.index(n)] for n in writers) - min(world.offsets[NODES.index(n)] for n in writers)
    assert spread > BOUND  # the pairwise condition was broken, under the 80 % fence
    monkeypatch.setattr(consistency, "FENCE_FRACTION", 0.5)
    assert not run(world, "bounded", frozen_clock, seat_ids).double_booked  # the half-bound fence holds


# --------------------------------------------------------------------------- commit_wait


@dataclass(frozen=True)
class Synced:
    """How each node was synced (its residual error and the root dispersion its server
    announced), then a fault injected on one node (``fault`` seconds; 0: none)."""

    world: World
    residuals: tuple[float, ...]
    dispersions: tuple[float, ...]
    fault_node: str
    fault: float


def synced_worlds(faults: st.SearchStrategy[float]) -> st.SearchStrategy[Synced]:
    n = len(NODES)
    return st.builds(
        Synced,
        # Drifts within the assumed 200 ppm: each node stays within its ε after its sync.
        world=worlds(st.just(0.0), st.one_of(st.just(0.0), st.floats(-200.0, 200.0))),
        residuals=st.tuples(*[st.floats(-0.02, 0.02)] * n),
        dispersions=st.tuples(*[st.floats(0.0005, 0.05)] * n),
        fault_node=st.sampled_from(NODES),
        fault=faults,
    )


def run_synced(synced: Synced, frozen: clock.FrozenClock, seat_ids: list[int], source: SyncSource) -> History:
    def prepare() -> None:
        for node, residual, dispersion in zip(NODES, synced.residuals, synced.dispersions, strict=True):
            source.sync(node, residual=residual, dispersion=dispersion)
        if synced.fault:
            node = ServerNode.objects.get(pk=synced.fault_node)
            # A clock fault beyond ε: the node jumps by ``fault`` seconds and keeps its drift;
            # ε stays what its last sync said.
            node_offset_set(
                server_id=synced.fault_node,
                offset_seconds=clock.offset_at(node, frozen.now) + synced.fault,
                drift_ppm=node.drift_ppm,
            )

    return run(synced.world, "commit_wait", frozen, seat_ids, prepare)


def within_epsilon(history: History) -> bool:
    """Every writer's true error was within its ε when it wrote (the guarantee's condition)."""
    nodes = {n.pk: n for n in ServerNode.objects.all()}
    for w in history.written:
        node = nodes[w.reservation.node_id]
        if abs(clock.offset_at(node, w.arrived)) > consistency.uncertainty(node, at=w.arrived):
            return False
    return True


def test_commit_wait_never_double_books_nor_inverts_true_order_while_nodes_are_within_epsilon(
    frozen_clock, seat_ids, sync_source
):
    """Guarantee (Spanner's external consistency): no double booking, and a reservation
    acknowledged before another arrives is stamped before it — provided each node's true
    error stays within its ε.  Nodes are synced for real (fake NTP servers on 127.0.0.1 with
    random residual errors and root dispersions) and drift within the assumed 200 ppm."""
    seen: Counter = Counter()

    @EXAMPLES
    @given(synced=synced_worlds(st.just(0.0)))
    def check(synced: Synced) -> None:
        history = run_synced(synced, frozen_clock, seat_ids, sync_source)
        assert within_epsilon(history)  # the condition
        assert not history.double_booked, history.written
        assert not history.inversions, history.inversions
        seen.update(history.seen)

    check()
    assert seen["accepted"] >= 40 and seen["refused"] >= 20 and seen["waited"] == seen["accepted"], seen
    assert seen["fenced"] == 0, seen


def test_commit_wait_shows_the_anomaly_when_an_offset_beyond_epsilon_is_injected(frozen_clock, seat_ids, sync_source):
    """ "TrueTime is only as good as ε": a clock fault beyond ε on one node, and Hypothesis
    finds a world where commit_wait double-books or inverts the true order."""
    faults = st.one_of(st.floats(0.2, 3.0), st.floats(-3.0, -0.2))
    synced = find(
        synced_worlds(faults),
        lambda s: (lambda h: bool(h.double_booked or h.inversions))(run_synced(s, frozen_clock, seat_ids, sync_source)),
        settings=SEARCH,
    )
    history = run_synced(synced, frozen_clock, seat_ids, sync_source)
    assert history.double_booked or history.inversions
    assert not within_epsilon(history)  # the condition was broken: some writer was beyond its ε
