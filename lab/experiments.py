"""The experiment: seeded workloads replayed in virtual time through the rule (``manage.py experiment``).

Customers arrive as a Poisson process; each wants seats in order of popularity (Zipf weights
over a seeded ranking of the venue) and sends each attempt through a node drawn uniformly.
Two workloads:

- ``reserve``: customers reserve directly (``reservation_create``);
- ``hold``: customers hold a seat (``hold_create``, TTL ``hold_ttl``), pay for a drawn time,
  then confirm (``hold_confirm``) — or abandon, releasing the hold or leaving it to expire.

Every attempt is decided by the rule's own code, with an explicit consistency mode, at the
attempt's virtual instant: by default on rows kept in memory (:class:`lab.stores.FastStore`),
or through the real services in a private database (``engine="rule"``,
:class:`lab.stores.RuleStore`); a test requires both to agree attempt for attempt.  Nothing
sleeps: minutes of traffic take milliseconds.

A *trial* is one workload under one clock configuration (a stored scenario, or one node lagging
by ``d`` seconds) and one mode.  A workload is drawn from its seed before any trial runs, so
every trial of a seed replays the same customers at the same instants (common random numbers):
differences between trials come from the clocks and the mode alone.  An experiment runs every
trial for each seed of a list (default 1–10), in parallel processes, and reports each measure
as a mean with a 95 % confidence interval over the seeds (:mod:`lab.experiment_report`).

Customer model (docs/experiments.md): a customer looks at the seat map (the venue's true state:
sold seats, and seats under a hold that is live in true time), picks the first free seat among
a few drawn by popularity (else settles for a random free one), thinks, and submits through a
node drawn uniformly.  Up to ``1 + retries`` attempts: after a 409 back to the map; after a 503
(fenced) the same seat again, through a node drawn afresh.  A holder whose confirmation is
refused (expired, or the seat taken meanwhile) also goes back to the map.

Each trial's operations form a history, which :func:`lab.checker.check` reads: the stolen holds
are its stale acceptances against a hold.  Zombie-hold seat-seconds come from the clock model:
how long after a hold's true end some unfenced node still judged it live.
"""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from seats.services import MAX_SEATS_PER_ROW
from timesync import clock, consistency
from timesync.consistency import Mode
from timesync.models import ServerNode

from . import checker
from .loadgen import zipf_weights
from .stores import (
    ENGINES,
    EXPIRED,
    FENCED,
    HELD,
    OK,
    STORES,
    Decision,
    ExperimentInputError,
    FastStore,
    RuleStore,
    private_store,
    store_resolve,
    trial_nodes,
)

__all__ = ["STORES", "ENGINES", "ExperimentInputError"]

#: Virtual time starts here in every trial (a fixed instant: nothing in a report depends on
#: when it was produced).
VIRTUAL_START = datetime(2026, 1, 1, 20, 0, 0, tzinfo=UTC)

MODES: tuple[str, ...] = (Mode.NAIVE.value, Mode.BOUNDED.value, Mode.SERIALIZABLE.value, Mode.COMMIT_WAIT.value)
WORKLOADS: tuple[str, ...] = ("reserve", "hold")

#: Lags of the skew sweep, in seconds: the skew node's offset is ``-lag``, every other node's 0.
DEFAULT_SKEWS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

#: The seeds of a run given none: ten, so that every measure has a 95 % confidence interval.
DEFAULT_SEEDS: tuple[int, ...] = tuple(range(1, 11))

#: ``--quick``: a small run (about 90 customers on 100 seats, 3 seeds) for a first look and for tests.
QUICK = {"rate": 2.0, "duration": 45.0, "seats": 100}
QUICK_SEEDS: tuple[int, ...] = (1, 2, 3)


def random_seed() -> int:
    """A fresh seed; the report records it, so the run can be repeated."""
    return random.SystemRandom().randrange(1, 2**31)


# --- The workload -------------------------------------------------------------------------------

#: How many seats a customer considers, by popularity, before settling for any free seat.
CANDIDATES = 8


@dataclass(frozen=True)
class Workload:
    """What the customers do: arrival rate, virtual duration, venue size and their patience; for
    the ``hold`` workload also the hold's TTL, the time to pay and who abandons."""

    rate: float = 2.0  # arrivals per virtual second (Poisson)
    duration: float = 240.0  # virtual seconds during which customers arrive
    seats: int = 500  # size of the experiment's own venue
    retries: int = 2  # further attempts after a refusal
    think: float = 20.0  # mean time from looking at the map to submitting, virtual seconds (exponential)
    zipf_exponent: float = 1.1  # popularity: the k-th most popular seat has weight 1/k**s
    hold_ttl: int = 60  # seconds a hold lasts (hold workload)
    pay: float = 30.0  # mean time from the hold to the confirmation, virtual seconds (exponential)
    abandon: float = 0.2  # share of holders who never confirm
    release: float = 0.5  # share of those who release their hold (the others leave it to expire)
    # Every node synced at the trial's start with this error bound, seconds: commit_wait's ε
    # starts there and grows at ASSUMED_DRIFT_PPM (our NTP server's root dispersion: 1 ms)...
    sync_error: float = 0.001
    # ...until the next sync, every ``resync`` virtual seconds (timesyncd's 64 s poll; 0: none),
    # with the same error bound.  A sync resets ε, not the trial's offsets: those are clock
    # faults the sync does not see (DESIGN §2b).
    resync: float = 64.0

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
        if not 1 <= self.hold_ttl <= 7200:
            problems.append(f"hold ttl must be 1 to 7200 seconds, not {self.hold_ttl}")
        if not self.pay >= 0:
            problems.append(f"pay must be 0 or more seconds, not {self.pay}")
        if not (0 <= self.abandon <= 1 and 0 <= self.release <= 1):
            problems.append("abandon and release are shares between 0 and 1")
        if not 0 <= self.sync_error <= consistency.uncertainty_limit():
            problems.append(
                f"sync error must be 0 to {consistency.uncertainty_limit():g} seconds "
                f"(commit_wait refuses a node whose ε is larger), not {self.sync_error}"
            )
        if not self.resync >= 0:
            problems.append(f"resync must be 0 (never) or more seconds, not {self.resync}")
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
class HoldPlan:
    """What a holder does after attempt ``i`` got its hold: pays for ``pays_us[i]``, then confirms
    through ``confirm_nodes[i]`` — unless it ``abandons[i]``, and then ``releases[i]`` or not."""

    pays_us: tuple[int, ...]
    confirm_nodes: tuple[str, ...]
    abandons: tuple[bool, ...]
    releases: tuple[bool, ...]


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
    hold: HoldPlan | None = None


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def seat_ranking(workload: Workload, *, seed: int) -> list[int]:
    """Venue seat indices, most popular first (a seeded shuffle)."""
    ranking = list(range(workload.seats))
    random.Random(f"seatclock-experiment:{seed}:ranking").shuffle(ranking)
    return ranking


def workload_draw(workload: Workload, *, seed: int, nodes: Sequence[str]) -> list[Customer]:
    """Every customer of the run, from ``seed`` alone (string seeds: stable across processes).

    The holders' plans come from a stream of their own, so the customers of the ``reserve``
    workload are the same whether or not holds are drawn."""
    if not nodes:
        raise ExperimentInputError("no nodes to send the workload through")
    rng = random.Random(f"seatclock-experiment:{seed}")
    hold_rng = random.Random(f"seatclock-experiment:{seed}:hold")
    ranking = seat_ranking(workload, seed=seed)
    cum_weights = list(itertools.accumulate(zipf_weights(workload.seats, workload.zipf_exponent)))
    attempts = workload.retries + 1

    def think() -> int:
        return _us(rng.expovariate(1.0 / workload.think)) if workload.think > 0 else 0

    def pay() -> int:
        return _us(hold_rng.expovariate(1.0 / workload.pay)) if workload.pay > 0 else 0

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
        plan = HoldPlan(
            pays_us=tuple(pay() for _ in range(attempts)),
            confirm_nodes=tuple(hold_rng.choice(nodes) for _ in range(attempts)),
            abandons=tuple(hold_rng.random() < workload.abandon for _ in range(attempts)),
            releases=tuple(hold_rng.random() < workload.release for _ in range(attempts)),
        )
        customers.append(
            Customer(
                arrival_us=_us(t),
                choices=choices,
                nodes=tuple(rng.choice(nodes) for _ in range(attempts)),
                thinks_us=tuple(think() for _ in range(attempts)),
                hold=plan,
            )
        )


# --- Trials -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One workload under one clock configuration and one mode.

    ``offsets`` maps node → (offset seconds, drift ppm), set at the start of virtual time;
    unlisted nodes are at 0.  ``sweep`` is ``scenario`` (``label`` = its name) or ``skew``
    (``label`` = the lagging node, ``skew`` = its lag).
    """

    sweep: str
    label: str
    mode: str
    offsets: dict[str, tuple[float, float]]
    skew: float | None = None
    workload: str = "reserve"

    @property
    def key(self) -> tuple[str, str, str, float | None, str]:
        """What identifies the trial across seeds."""
        return (self.workload, self.sweep, self.label, self.skew, self.mode)


@dataclass
class TrialResult:
    """What one trial measured, for one seed.  Definitions in docs/experiments.md."""

    trial: Trial
    seed: int = 0
    customers: int = 0
    attempts: int = 0  # calls of the rule: reservations, holds and confirmations
    accepted: int = 0  # seats sold: reservations, or confirmed holds (201)
    refused_seen: int = 0  # 409 SEAT_ALREADY_RESERVED: the node saw a reservation
    refused_held: int = 0  # 409 SEAT_HELD: the node saw a live hold
    refused_fenced: int = 0  # 503: the node was fenced (bounded mode)
    gave_up: int = 0  # customers out of attempts
    sold_out: int = 0  # customers who found no free seat on the map
    conflicts: int = 0  # sales that double-booked their seat (conflict_detected)
    unfair: int = 0  # conflicts whose seat's timestamp winner is not the true first
    double_booked_seats: int = 0  # seats with several active reservations at the end
    seats_sold: int = 0  # seats with at least one active reservation at the end
    holds: int = 0  # holds granted
    confirmed: int = 0  # holds confirmed into a reservation
    expired_confirms: int = 0  # 409 HOLD_EXPIRED on a confirmation
    stolen_confirms: int = 0  # a confirmation refused because the seat was taken meanwhile
    released: int = 0  # holds released by a holder who abandoned
    stolen_holds: int = 0  # holds whose seat was granted to another while they were truly live
    zombie_seconds: float = 0.0  # seat-seconds holds stayed live on some unfenced node after their true end
    double_sales: int = 0  # the checker's anomalies on the trial's history
    inversions: int = 0
    stale_acceptances: int = 0
    stale_refusals: int = 0
    writes: int = 0  # writes acknowledged: holds granted and seats sold
    commit_wait_us: int = 0  # virtual microseconds those writes waited before their answer (commit_wait)
    lock_wait_us: int = 0  # virtual microseconds attempts queued behind a seat lock held by a commit wait

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
        return (self.refused_seen + self.refused_held + self.conflicts) / self.attempts if self.attempts else None

    @property
    def stolen_hold_rate(self) -> float | None:
        return self.stolen_holds / self.holds if self.holds else None

    @property
    def zombie_seat_seconds(self) -> float | None:
        return self.zombie_seconds if self.trial.workload == "hold" else None

    @property
    def commit_wait_latency(self) -> float | None:
        """Mean commit wait per acknowledged write, seconds (0 outside ``commit_wait``)."""
        return self.commit_wait_us / 1_000_000 / self.writes if self.writes else None


@dataclass
class _HoldTrack:
    """A granted hold, as the engine follows it in true time."""

    seat: int
    handle: object
    expires_at: datetime  # the holding node's stamp
    true_end_us: int
    active: bool = True
    zombie_until_us: int | None = None  # set at the true end if some node still judges it live
    cut_us: int | None = None  # the seat was sold, or the hold ended, during the zombie window


_ARRIVE, _SUBMIT, _CONFIRM, _RELEASE, _EXPIRE = range(5)
_MICROSECOND = timedelta(microseconds=1)


def _zombie_until(track: _HoldTrack, mode: str, nodes: list[ServerNode]) -> int:
    """The last true instant (µs after VIRTUAL_START) at which an unfenced node still judges the
    hold live: each node's expiry horizon (:func:`reservations.visibility.node_view`) reaches the
    hold's ``expires_at`` when its clock reads ``expires_at`` plus the mode's margin."""
    from reservations.visibility import read_view

    true_end = VIRTUAL_START + timedelta(microseconds=track.true_end_us)
    fences = consistency.node_fences(nodes, at=true_end) if mode == Mode.BOUNDED else {}
    latest = track.true_end_us
    for node in nodes:
        if node.server_id in fences and fences[node.server_id].fenced:
            continue  # it sells nothing anyway
        epsilon = None
        if mode == Mode.COMMIT_WAIT:
            epsilon = consistency.uncertainty(node, at=true_end)
            if epsilon is None or epsilon > consistency.uncertainty_limit():
                continue  # refused: it sells nothing either
        view = read_view(node, mode, at=true_end, uncertainty=epsilon)
        if view.true_clock:
            return track.true_end_us
        margin = view.t_node - view.expiry  # how far past a hold's expiry its clock must read
        until = clock.true_time_of_reading(node, track.expires_at + margin)
        if epsilon is not None:  # ε grew meanwhile (assumed drift): judge it where the window ends
            view = read_view(node, mode, at=until, uncertainty=consistency.uncertainty(node, at=until))
            until = clock.true_time_of_reading(node, track.expires_at + (view.t_node - view.expiry))
        latest = max(latest, (until - VIRTUAL_START) // timedelta(microseconds=1))
    return latest


def trial_run(
    trial: Trial,
    workload: Workload,
    customers: Sequence[Customer],
    ranking: Sequence[int],
    store: FastStore | RuleStore,
    *,
    nodes: Sequence[str],
    seed: int = 0,
    trace: list[tuple] | None = None,
) -> TrialResult:
    """Replay ``customers`` in virtual time under ``trial``, deciding through ``store``
    (``nodes``: every node of the cluster, whose clocks judge the holds).

    Events are processed in (virtual instant, scheduling order) from a heap, so the run is a
    pure function of the workload, the offsets, the mode and the rule.  An attempt on a seat
    whose lock a commit wait still holds starts when the wait ends (it queues, as behind the
    real rule's ``SELECT … FOR UPDATE``); the customer hears the answer after the wait, and
    what they do next counts from there.  ``trace`` receives one ``(instant µs, operation,
    customer, seat, node, outcome, answer µs)`` per attempt (the engines' test).
    """
    result = TrialResult(trial=trial, seed=seed, customers=len(customers))
    holding = trial.workload == "hold"
    mode = trial.mode
    attempts = workload.retries + 1
    ttl_us = workload.hold_ttl * 1_000_000
    taken: set[int] = set()  # what the map shows: sold seats, and seats under a truly live hold
    sold: set[int] = set()
    live: dict[int, int] = {}  # seat -> holds truly live on it
    tracks: list[_HoldTrack] = []
    by_seat: dict[int, list[_HoldTrack]] = {}
    clock_nodes = trial_nodes(nodes, trial.offsets, VIRTUAL_START, sync_error=workload.sync_error)
    lock_until: dict[int, int] = {}  # seat -> the instant (µs) its lock is released: a commit wait holds it
    resync_us = _us(workload.resync)
    next_sync_us = resync_us or None

    def start(seat: int, now_us: int) -> tuple[int, datetime]:
        """When an attempt on ``seat`` due at ``now_us`` gets the seat lock: (µs, instant)."""
        at_us = max(now_us, lock_until.get(seat, 0))
        result.lock_wait_us += at_us - now_us
        return at_us, VIRTUAL_START + timedelta(microseconds=at_us)

    def answered(seat: int, at_us: int, at: datetime, decision: Decision) -> int:
        """The answer's instant (µs): the lock is held until then; a write's wait is counted."""
        answer_us = at_us
        if decision.answered_at != at:  # a commit wait: the seat stays locked until its end
            answer_us += (decision.answered_at - at) // _MICROSECOND
            lock_until[seat] = max(lock_until.get(seat, 0), answer_us)
        if decision.code == OK:
            result.writes += 1
            result.commit_wait_us += answer_us - at_us
        return answer_us

    queue: list[tuple[int, int, int, int, int, int]] = [
        (c.arrival_us, i, _ARRIVE, i, 0, -1) for i, c in enumerate(customers)
    ]
    heapq.heapify(queue)
    order = itertools.count(len(customers))

    def push(at_us: int, kind: int, index: int, attempt: int, arg: int) -> None:
        heapq.heappush(queue, (at_us, next(order), kind, index, attempt, arg))

    def look(index: int, attempt: int, now_us: int) -> None:
        if attempt >= attempts:
            result.gave_up += 1
            return
        customer = customers[index]
        seat = customer.choices[attempt].pick(taken, ranking)
        if seat is None:
            result.sold_out += 1
            return
        push(now_us + customer.thinks_us[attempt], _SUBMIT, index, attempt, seat)

    def unhold(track: _HoldTrack, now_us: int) -> None:
        """A hold ends (confirmed, released): off the map if it was still truly live."""
        if not track.active:
            return
        track.active = False
        if now_us < track.true_end_us:
            live[track.seat] -= 1
            if not live[track.seat] and track.seat not in sold:
                taken.discard(track.seat)
        elif track.zombie_until_us is not None:
            track.cut_us = min(track.cut_us or now_us, now_us)

    def sell(seat: int, conflict: bool, unfair: bool, now_us: int) -> None:
        result.accepted += 1
        sold.add(seat)
        taken.add(seat)
        result.conflicts += conflict
        result.unfair += unfair
        for track in by_seat.get(seat, ()):  # a sold seat is blocked anyway: zombie windows end here
            if track.zombie_until_us is not None and track.cut_us is None and now_us >= track.true_end_us:
                track.cut_us = now_us

    store.begin(trial.offsets, VIRTUAL_START, sync_error=workload.sync_error)
    try:
        while queue:
            now_us, _, kind, index, attempt, arg = heapq.heappop(queue)
            if next_sync_us is not None and now_us >= next_sync_us:
                # Every node synced again at the last multiple of ``resync`` (nothing reads ε
                # between events, so applying it now is the same): ε back to ``sync_error``.
                synced_us = now_us // resync_us * resync_us
                synced = VIRTUAL_START + timedelta(microseconds=synced_us)
                store.resync(synced)
                for node in clock_nodes:
                    node.last_sync = synced
                next_sync_us = synced_us + resync_us
            if kind == _ARRIVE:
                look(index, 0, now_us)
                continue
            customer = customers[index]
            name = f"Customer {index + 1:06d}"
            if kind == _SUBMIT:
                seat, node = arg, customer.nodes[attempt]
                result.attempts += 1
                at_us, at = start(seat, now_us)
                if holding:
                    decision = store.hold(seat=seat, name=name, node=node, mode=mode, at=at, ttl=workload.hold_ttl)
                else:
                    decision = store.reserve(seat=seat, name=name, node=node, mode=mode, at=at)
                answer_us = answered(seat, at_us, at, decision)
                if trace is not None:
                    trace.append((at_us, "hold" if holding else "reserve", index, seat, node, decision.code, answer_us))
                if decision.code == OK and holding:
                    result.holds += 1
                    assert decision.expires_at is not None
                    track = _HoldTrack(seat, decision.hold, decision.expires_at, at_us + ttl_us)
                    tracks.append(track)
                    by_seat.setdefault(seat, []).append(track)
                    live[seat] = live.get(seat, 0) + 1
                    taken.add(seat)
                    push(track.true_end_us, _EXPIRE, index, attempt, len(tracks) - 1)
                    plan = customer.hold
                    assert plan is not None
                    if not plan.abandons[attempt]:
                        push(answer_us + plan.pays_us[attempt], _CONFIRM, index, attempt, len(tracks) - 1)
                    elif plan.releases[attempt]:
                        push(answer_us + plan.pays_us[attempt], _RELEASE, index, attempt, len(tracks) - 1)
                elif decision.code == OK:
                    sell(seat, decision.conflict, decision.unfair, now_us)
                elif decision.code == FENCED:
                    result.refused_fenced += 1
                    if attempt + 1 < attempts:  # the same seat, again, through a node drawn afresh
                        push(answer_us + customer.thinks_us[attempt + 1], _SUBMIT, index, attempt + 1, seat)
                    else:
                        result.gave_up += 1
                else:  # seen reserved or held: back to the map
                    if decision.code == HELD:
                        result.refused_held += 1
                    else:
                        result.refused_seen += 1
                    look(index, attempt + 1, answer_us)
            elif kind == _CONFIRM:
                track = tracks[arg]
                plan = customer.hold
                assert plan is not None
                node = plan.confirm_nodes[attempt]
                result.attempts += 1
                at_us, at = start(track.seat, now_us)
                decision = store.confirm(hold=track.handle, node=node, mode=mode, at=at)
                answer_us = answered(track.seat, at_us, at, decision)
                if trace is not None:
                    trace.append((at_us, "confirm", index, track.seat, node, decision.code, answer_us))
                if decision.code == OK:
                    result.confirmed += 1
                    unhold(track, now_us)
                    sell(track.seat, decision.conflict, decision.unfair, now_us)
                elif decision.code == FENCED:  # the same hold, again, through the next node drawn
                    result.refused_fenced += 1
                    if attempt + 1 < attempts:
                        push(answer_us + customer.thinks_us[attempt + 1], _CONFIRM, index, attempt + 1, arg)
                    else:
                        result.gave_up += 1  # the hold is left to expire
                else:
                    if decision.code == EXPIRED:
                        result.expired_confirms += 1
                    else:
                        result.stolen_confirms += 1
                    look(index, attempt + 1, answer_us)
            elif kind == _RELEASE:
                track = tracks[arg]
                at_us, at = start(track.seat, now_us)
                store.release(hold=track.handle, at=at)
                if trace is not None:
                    trace.append((at_us, "release", index, track.seat, "", OK, at_us))
                result.released += 1
                unhold(track, now_us)
            elif kind == _EXPIRE:
                track = tracks[arg]
                if track.active:  # its true end: off the map; some nodes may still hold it
                    live[track.seat] -= 1
                    if not live[track.seat] and track.seat not in sold:
                        taken.discard(track.seat)
                    until = _zombie_until(track, mode, clock_nodes)
                    if until > track.true_end_us and track.seat not in sold:  # a sold seat is blocked anyway
                        track.zombie_until_us = until
        result.double_booked_seats, result.seats_sold = store.seats_sold()
        verdict = checker.check(store.history())
    finally:
        store.end()
    counts = verdict.counts()
    result.double_sales = counts[checker.DOUBLE_SALE]
    result.inversions = counts[checker.INVERSION]
    result.stale_acceptances = counts[checker.STALE_ACCEPTANCE]
    result.stale_refusals = counts[checker.STALE_REFUSAL]
    result.stolen_holds = len(verdict.stolen_holds())
    result.zombie_seconds = (
        sum(
            min(t.zombie_until_us, t.cut_us if t.cut_us is not None else t.zombie_until_us) - t.true_end_us
            for t in tracks
            if t.zombie_until_us is not None
        )
        / 1_000_000
    )
    return result


# --- A whole experiment -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentConfig:
    workload: Workload
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    modes: tuple[str, ...] = MODES
    workloads: tuple[str, ...] = WORKLOADS
    scenarios: tuple[str, ...] | None = None  # None: every stored scenario
    skews: tuple[float, ...] = DEFAULT_SKEWS
    skew_node: str | None = None  # None: the second node (server-2, the spec's lagging node)
    engine: str = "fast"
    store: str = "auto"  # the rule engine's private database
    jobs: int = 0  # processes; 0: one per core (at most one per seed)


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    engine: str
    store: str
    vendor: str
    node_ids: list[str]
    skew_node: str | None
    scenarios: dict[str, dict[str, tuple[float, float]]]
    customers: dict[int, int]  # per seed
    jobs: int = 1
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
    unknown_workloads = [w for w in config.workloads if w not in WORKLOADS]
    if unknown_workloads or not config.workloads:
        raise ExperimentInputError(
            f"unknown workload(s): {', '.join(unknown_workloads) or 'none'} (choose from {', '.join(WORKLOADS)})"
        )
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise ExperimentInputError("seeds must be a non-empty list of distinct integers")
    if config.engine not in ENGINES:
        raise ExperimentInputError(f"unknown engine {config.engine!r} (choose from {', '.join(ENGINES)})")
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
    """Per workload: scenarios × modes, then skews × modes, in a fixed order."""
    trials: list[Trial] = []
    for workload in config.workloads:
        trials += [
            Trial(sweep="scenario", label=name, mode=mode, offsets=offsets, workload=workload)
            for name, offsets in scenarios.items()
            for mode in config.modes
        ]
        if skew_node is not None:
            trials += [
                Trial(
                    sweep="skew",
                    label=skew_node,
                    mode=mode,
                    offsets={skew_node: (-lag, 0.0)},
                    skew=lag,
                    workload=workload,
                )
                for lag in config.skews
                for mode in config.modes
            ]
    return trials


@dataclass(frozen=True)
class _Unit:
    """One seed's share of the work: every trial, on that seed's customers."""

    config: ExperimentConfig
    node_ids: tuple[str, ...]
    trials: tuple[Trial, ...]
    seed: int


def _run_unit(unit: _Unit) -> tuple[int, int, list[TrialResult]]:
    """Every trial of one seed (in a worker process, or inline): (seed, customers, results)."""
    workload = unit.config.workload
    customers = workload_draw(workload, seed=unit.seed, nodes=unit.node_ids)
    ranking = seat_ranking(workload, seed=unit.seed)
    if unit.config.engine == "fast":
        store = FastStore(unit.node_ids, workload.seats)
        results = [
            trial_run(t, workload, customers, ranking, store, nodes=unit.node_ids, seed=unit.seed) for t in unit.trials
        ]
    else:
        with private_store(unit.config.store, node_ids=unit.node_ids, seats=workload.seats) as seat_ids:
            rule = RuleStore(seat_ids)
            results = [
                trial_run(t, workload, customers, ranking, rule, nodes=unit.node_ids, seed=unit.seed)
                for t in unit.trials
            ]
    return unit.seed, len(customers), results


def jobs_for(config: ExperimentConfig) -> int:
    """Processes to use: ``config.jobs``, or one per core; never more than seeds.  The rule
    engine runs in this process: its private database lives on this process's connection."""
    if config.engine == "rule":
        return 1
    wanted = config.jobs or os.cpu_count() or 1
    return max(1, min(wanted, len(config.seeds)))


def experiment_run(
    config: ExperimentConfig,
    *,
    on_start: Callable[[int], None] | None = None,
    on_seed: Callable[[int], None] | None = None,
) -> ExperimentResult:
    """Run every trial of ``config`` for each seed; the user's data is only read.

    Seeds are shared out among ``jobs`` processes (forked: each inherits the loaded project and
    works on its own rows in memory); results are gathered in seed order, so the output does not
    depend on the number of processes.  ``on_start(n)`` is
    told the number of seeds, ``on_seed(seed)`` each one done (progress bars).
    """
    node_ids, scenarios, skew_node = experiment_plan(config)
    store = store_resolve(config.store) if config.engine == "rule" else "memory"
    trials = experiment_trials(config, scenarios, skew_node)
    jobs = jobs_for(config)
    experiment = ExperimentResult(
        config=config,
        engine=config.engine,
        store=store,
        vendor=connections[DEFAULT_DB_ALIAS].vendor,
        node_ids=node_ids,
        skew_node=skew_node,
        scenarios=scenarios,
        customers={},
        jobs=jobs,
    )
    if on_start is not None:
        on_start(len(config.seeds))
    units = [_Unit(config, tuple(node_ids), tuple(trials), seed) for seed in config.seeds]
    started = clock.monotonic()
    by_seed: dict[int, list[TrialResult]] = {}
    if jobs == 1:
        outputs = map(_run_unit, units)
        for seed, customers, results in outputs:
            experiment.customers[seed], by_seed[seed] = customers, results
            if on_seed is not None:
                on_seed(seed)
    else:
        # Forked workers inherit this process's database connection but never use it: the fast
        # engine keeps its rows in memory (and a worker leaves through os._exit, closing nothing).
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for seed, customers, results in pool.imap_unordered(_run_unit, units):
                experiment.customers[seed], by_seed[seed] = customers, results
                if on_seed is not None:
                    on_seed(seed)
    experiment.results = [r for seed in config.seeds for r in by_seed[seed]]
    experiment.wall_seconds = clock.monotonic() - started
    return experiment
