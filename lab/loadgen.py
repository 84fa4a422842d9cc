"""The load generator: concurrent customers reserving popular seats through several nodes.

Two transports share one engine:

- in-process (default): worker threads call :func:`reservations.services.reservation_create`
  directly, so the run exercises exactly the rule the API uses, without HTTP;
- HTTP (``url``): worker threads POST ``/api/reservations`` on a running server.

Seats are drawn with Zipf-like weights (the k-th most popular seat has weight ``1/k**s``),
so a few seats draw most of the traffic and clock skew turns into double bookings there.
The report counts what the run saw (attempts, 201s, 409s, errors, latencies) and what the
database holds at the end (conflicts, unfair conflicts, conflicts per node pair).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from timesync import clock

ZIPF_EXPONENT = 1.1

# Outcomes of one attempt.
ACCEPTED, CONFLICT, REJECTED, RATE_LIMITED, ERROR = "accepted", "conflict", "rejected", "rate_limited", "error"


@dataclass(frozen=True)
class LoadConfig:
    customers: int = 100
    seats: int = 20
    concurrency: int = 8
    count: int | None = 200
    duration: float | None = None
    nodes: tuple[str, ...] = ()
    seed: int | None = None
    zipf_exponent: float = ZIPF_EXPONENT


@dataclass(frozen=True)
class Attempt:
    seat_id: int
    customer_name: str
    server_id: str


@dataclass
class Tally:
    """What the workers saw; updated under a lock."""

    outcomes: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: str, latency: float, error: str | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.latencies.append(latency)
            if error and len(self.error_samples) < 5:
                self.error_samples.append(error)


def zipf_weights(n: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    """Weight of the k-th most popular of ``n`` items: ``1 / k**exponent`` (k from 1)."""
    return [1.0 / (k**exponent) for k in range(1, n + 1)]


class Plan:
    """Draws attempts from a seeded generator: popular seats by Zipf weight, random nodes.

    With ``count`` the sequence of attempts depends only on the seed (the order in which the
    threads run them does not).  Thread-safe.
    """

    def __init__(self, config: LoadConfig, seat_ids: list[int], nodes: list[str]) -> None:
        if not seat_ids:
            raise ValueError("the venue has no seats (run `manage.py seed_venue`)")
        if not nodes:
            raise ValueError("no nodes to send the load through")
        self.rng = random.Random(config.seed)
        targets = min(config.seats, len(seat_ids))
        # Which seats are popular is drawn once; then the popular ones get the Zipf weights.
        self.seats = self.rng.sample(sorted(seat_ids), targets)
        self.weights = list(itertools.accumulate(zipf_weights(targets, config.zipf_exponent)))
        self.nodes = list(nodes)
        self.customers = [f"Customer {i:04d}" for i in range(1, config.customers + 1)]
        self.lock = threading.Lock()

    def next(self) -> Attempt:
        with self.lock:
            seat = self.rng.choices(self.seats, cum_weights=self.weights)[0]
            return Attempt(seat, self.rng.choice(self.customers), self.rng.choice(self.nodes))


Transport = Callable[[Attempt], tuple[str, str | None]]


def run_tag() -> str:
    """A fresh tag for a load run: every operation of the run carries it in the history."""
    import secrets

    return f"simulate-{secrets.token_hex(4)}"


class InProcessTransport:
    """Reserve through the service, as the API does, as the load generator (``system simulate``)
    of run ``run``."""

    def __init__(self, run: str) -> None:
        from history.actors import Actor

        self.actor = Actor.system("simulate", run=run)

    def __call__(self, attempt: Attempt) -> tuple[str, str | None]:
        from core.errors import DomainError
        from reservations.errors import SeatAlreadyReserved, SeatHeld
        from reservations.services import reservation_create

        try:
            outcome = reservation_create(
                seat_id=attempt.seat_id,
                customer_name=attempt.customer_name,
                server_id=attempt.server_id,
                actor=self.actor,
            )
        except (SeatAlreadyReserved, SeatHeld):
            return REJECTED, None
        except DomainError as exc:
            return ERROR, f"{exc.code}: {exc.message}"
        except Exception as exc:  # a load test reports failures instead of dying on the first one
            return ERROR, f"{exc.__class__.__name__}: {exc}"
        return (CONFLICT if outcome.conflict_detected else ACCEPTED), None


class HttpClient:
    """Tiny JSON client on urllib (no extra dependency)."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0, run: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.run = run  # sent as X-Seatclock-Run: the server tags the run's operations with it

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        if self.run:
            req.add_header("X-Seatclock-Run", self.run)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def transport(self, attempt: Attempt) -> tuple[str, str | None]:
        body = {"seat_id": attempt.seat_id, "customer_name": attempt.customer_name, "server_id": attempt.server_id}
        try:
            status, payload = self.request("POST", "/api/reservations", body)
        except (OSError, urllib.error.URLError) as exc:
            return ERROR, f"{exc.__class__.__name__}: {exc}"
        if status == 201:
            return (CONFLICT if payload and payload.get("conflict_detected") else ACCEPTED), None
        if status == 409:
            return REJECTED, None
        if status == 429:
            return RATE_LIMITED, None
        code = (payload or {}).get("error", {}).get("code", "") if isinstance(payload, dict) else ""
        return ERROR, f"HTTP {status} {code}".strip()

    def get_all(self, path: str, key: str) -> list[dict]:
        """Every item of a paginated list endpoint."""
        items: list[dict] = []
        while True:
            sep = "&" if "?" in path else "?"
            status, payload = self.request("GET", f"{path}{sep}limit=1000&offset={len(items)}")
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {payload}")
            page = payload[key]
            items.extend(page)
            if len(page) < 1000:
                return items


def run_load(
    config: LoadConfig,
    plan: Plan,
    transport: Transport,
    *,
    on_attempt: Callable[[], None] | None = None,
    close_connection: bool = True,
) -> tuple[Tally, float]:
    """Fire the plan's attempts from ``config.concurrency`` threads; returns the tally and the
    elapsed seconds.  Stops after ``count`` attempts or ``duration`` seconds."""
    tally = Tally()
    counter = itertools.count()
    started = clock.monotonic()
    deadline = started + config.duration if config.duration is not None else None

    def more() -> bool:
        if deadline is not None and clock.monotonic() >= deadline:
            return False
        return config.count is None or next(counter) < config.count

    def worker() -> None:
        try:
            while more():
                attempt = plan.next()
                t0 = clock.monotonic()
                outcome, error = transport(attempt)
                tally.record(outcome, clock.monotonic() - t0, error)
                if on_attempt is not None:
                    on_attempt()
        finally:
            if close_connection:
                # Each thread has its own database connection; leave none open behind us.
                from django.db import connection

                connection.close()

    threads = [threading.Thread(target=worker, name=f"loadgen-{i}") for i in range(config.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, clock.monotonic() - started


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class ConflictView:
    """A conflict reduced to what the report needs: the nodes involved and its fairness."""

    seat_id: int
    server_ids: tuple[str, ...]
    fair: bool


def run_sales(ops: list[Any]) -> set[int]:
    """Ids of the reservations a run's operations made (``lab.checker.Op``)."""
    return {int(op.value["reservation_id"]) for op in ops if op.ok and op.f in ("reserve", "confirm")}


def conflicts_from_db(own: set[int]) -> list[ConflictView]:
    """Seats where at least two of the run's own reservations (``own``) are active now."""
    from reservations.models import Reservation
    from reservations.selectors import seat_conflict

    by_seat: dict[int, list[Reservation]] = {}
    for reservation in Reservation.objects.active().filter(pk__in=own):
        by_seat.setdefault(reservation.seat_id, []).append(reservation)
    conflicts = [seat_conflict(rows) for rows in by_seat.values() if len(rows) > 1]
    return [
        ConflictView(c.seat_id, tuple(r.node_id for r in c.reservations), c.fair)
        for c in sorted(conflicts, key=lambda c: c.seat_id)
    ]


def conflicts_from_api(client: HttpClient, own: set[int]) -> list[ConflictView]:
    """The same, from ``/api/reservations/conflicts``, keeping the run's own reservations."""
    out = []
    for c in client.get_all("/api/reservations/conflicts", "conflicts"):
        mine = [r for r in c["reservations"] if r["id"] in own]
        if len(mine) < 2:
            continue
        if len(mine) == len(c["reservations"]):
            fair = bool(c.get("fair", True))
        else:  # judged among the run's own: the earliest stamp against the earliest true instant
            fair = (
                min(mine, key=lambda r: (r["created_at"], r["id"]))["id"]
                == min(mine, key=lambda r: (r.get("recorded_at", r["created_at"]), r["id"]))["id"]
            )
        out.append(ConflictView(c["seat_id"], tuple(r["server_id"] for r in mine), fair))
    return out


def history_from_db(run: str) -> list[Any]:
    """The run's operations, from the history (``lab.checker.Op``)."""
    from history.selectors import operation_list

    from .checker import ops_from_rows

    return ops_from_rows(operation_list(run=run))


def history_from_api(client: HttpClient, run: str) -> list[Any]:
    """The run's operations, from ``GET /api/history?run=…`` (staff only in production)."""
    from .checker import ops_from_records

    return ops_from_records(client.get_all(f"/api/history?run={run}", "operations"))


def history_verdict(ops: list[Any], run: str) -> dict[str, Any]:
    """The checker's verdict on a run's own operations, for the report."""
    from .checker import check, first_of_each_kind

    verdict = check(ops)
    return {
        "run": run,
        "operations": verdict.operations,
        "valid": verdict.valid,
        "summary": verdict.summary(),
        "counts": verdict.counts(),
        "examples": [a.lines() for a in first_of_each_kind(verdict.anomalies)],
    }


def node_pairs(conflicts: list[ConflictView]) -> dict[str, int]:
    """How many conflicts involve each pair of nodes (``"server-1/server-2"``)."""
    pairs: Counter = Counter()
    for conflict in conflicts:
        for a, b in itertools.combinations(sorted(conflict.server_ids), 2):
            pairs[f"{a}/{b}"] += 1
    return dict(sorted(pairs.items()))


def build_report(
    config: LoadConfig,
    plan: Plan,
    tally: Tally,
    elapsed: float,
    conflicts: list[ConflictView],
    *,
    mode: str,
    history: dict[str, Any] | None = None,
) -> dict[str, Any]:
    o = tally.outcomes
    attempts = sum(o.values())

    def ms(q: float) -> float | None:
        value = percentile(tally.latencies, q)
        return None if value is None else round(value * 1000, 3)

    return {
        "mode": mode,
        "seed": config.seed,
        "nodes": plan.nodes,
        "target_seats": len(plan.seats),
        "customers": config.customers,
        "concurrency": config.concurrency,
        "attempts": attempts,
        "accepted": o[ACCEPTED] + o[CONFLICT],
        "accepted_in_conflict": o[CONFLICT],
        "rejected_409": o[REJECTED],
        "rate_limited_429": o[RATE_LIMITED],
        "errors": o[ERROR],
        "error_samples": tally.error_samples,
        # Seats where at least two of this run's own reservations are active at the end (the
        # run's operations are tagged in the history; earlier runs do not count).
        "conflicts": len(conflicts),
        "unfair_conflicts": sum(1 for c in conflicts if not c.fair),
        "conflicts_per_node_pair": node_pairs(conflicts),
        "elapsed_seconds": round(elapsed, 3),
        "throughput_per_second": round(attempts / elapsed, 2) if elapsed > 0 else None,
        "latency_ms": {"p50": ms(50), "p95": ms(95), "p99": ms(99)},
        "history": history,
    }


def format_report(report: dict[str, Any]) -> Iterator[str]:
    lat = report["latency_ms"]
    yield f"Mode:              {report['mode']} via {', '.join(report['nodes'])}"
    yield f"Attempts:          {report['attempts']}"
    yield f"Accepted (201):    {report['accepted']}  (of which in conflict: {report['accepted_in_conflict']})"
    yield f"Rejected (409):    {report['rejected_409']}"
    if report["rate_limited_429"]:
        yield f"Rate-limited (429): {report['rate_limited_429']}"
    yield f"Errors:            {report['errors']}"
    for sample in report["error_samples"]:
        yield f"  e.g. {sample}"
    yield (
        f"Conflicts:         {report['conflicts']} seats double-booked by this run, {report['unfair_conflicts']} unfair"
    )
    for pair, n in report["conflicts_per_node_pair"].items():
        yield f"  {pair:<24} {n}"
    yield f"Elapsed:           {report['elapsed_seconds']} s, {report['throughput_per_second']} attempts/s"
    yield f"Latency (ms):      p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}"
    history = report.get("history")
    if history is not None:
        if "error" in history:
            yield f"History:           not checked: {history['error']}"
        else:
            yield f"History (run {history['run']}): {history['summary']}"
            for example in history["examples"]:
                for line in example:
                    yield f"  {line}"
