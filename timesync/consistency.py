"""Consistency modes: the cluster's clock discipline (the mode, fencing, each node's uncertainty
and the commit wait; what a node sees under each mode is the rule's business:
:mod:`reservations.visibility`).  DESIGN §2b.

- ``naive``: DESIGN §2 — a node sees what is stamped at or before its own clock.
- ``bounded``: CockroachDB's uncertainty interval — a node also sees what is stamped up to
  ``MAX_CLOCK_OFFSET`` past its clock.  Guarantee: no double booking provided every pair of
  writing nodes is within ``MAX_CLOCK_OFFSET`` of each other.  Fencing enforces it: a node
  whose offset is more than ``MAX_CLOCK_OFFSET / 2`` from the median of all nodes refuses
  writes (it is *fenced*) until it is synced, so any two unfenced nodes are within the bound.
  (CockroachDB fences at 80 % of the bound from a majority and accepts the residual risk: two
  nodes on opposite sides may be 1.6 × the bound apart.  That figure is shown, not enforced.)
- ``serializable``: timestamps ignored, every active reservation is visible (one database's
  serial order; the baseline).
- ``commit_wait``: Spanner's TrueTime — each node has an uncertainty ε (:func:`uncertainty`);
  a write is stamped ``t_node + ε`` and acknowledged only once ``t_node − ε`` has passed the
  stamp (:func:`commit_wait`, about 2ε, seat lock held); a node sees every reservation stamped
  up to ``t_node + ε``.  Guarantee: external consistency (no double booking, timestamp order
  = true order) provided each node's true error stays within its ε.

The mode is stored in the database (one row) so that every process switches together.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db.models import Model, QuerySet, Subquery

from timesync import clock
from timesync.models import ServerNode
from timesync.selectors import NodeTime, node_list, node_time

from .errors import NodeFenced, NodeUncertain
from .models import ConsistencySettings

#: ``bounded`` fences a node when |offset − median| exceeds this fraction of MAX_CLOCK_OFFSET:
#: at half the bound, any two unfenced nodes are within the bound of each other (DESIGN §2b).
FENCE_FRACTION = 0.5
#: CockroachDB's figure (a node further than 80 % of max-offset from a majority of the others
#: shuts itself down), shown beside ours for comparison; never enforced here.
COCKROACHDB_FENCE_FRACTION = 0.8


Mode = ConsistencySettings.Mode


def max_clock_offset() -> float:
    """The bound on clock skew the ``bounded`` mode trusts, in seconds."""
    return float(settings.SEATCLOCK_MAX_CLOCK_OFFSET)


def fence_limit() -> float:
    """How far from the median offset a node may be before ``bounded`` fences it, in seconds
    (``FENCE_FRACTION`` × MAX_CLOCK_OFFSET)."""
    return FENCE_FRACTION * max_clock_offset()


def cockroachdb_fence_limit() -> float:
    """CockroachDB's fence (80 % of MAX_CLOCK_OFFSET), seconds: shown for comparison only."""
    return COCKROACHDB_FENCE_FRACTION * max_clock_offset()


def assumed_drift_ppm() -> float:
    """The drift ``commit_wait`` assumes a node's clock may have since its last sync, in ppm
    (``SEATCLOCK_ASSUMED_DRIFT_PPM``; Spanner assumes 200 ppm)."""
    return float(settings.SEATCLOCK_ASSUMED_DRIFT_PPM)


def mode_get() -> Mode:
    """The cluster's current mode (``naive`` until someone switches it)."""
    mode = ConsistencySettings.objects.filter(pk=1).values_list("mode", flat=True).first()
    return Mode(mode or Mode.NAIVE)


M = TypeVar("M", bound=Model)


def with_cluster_mode(queryset: QuerySet[M]) -> QuerySet[M]:
    """``queryset`` whose rows also carry ``cluster_mode``: :func:`mode_get` as a subquery of
    a query made anyway (the reservation's seat lock), saving a round trip per reservation."""
    mode = ConsistencySettings.objects.filter(pk=1).values("mode")[:1]
    return queryset.annotate(cluster_mode=Subquery(mode))  # type: ignore[return-value]


def mode_of(row: Model) -> Mode:
    """The mode read by :func:`with_cluster_mode` (``naive`` until someone switches it)."""
    return Mode(getattr(row, "cluster_mode", None) or Mode.NAIVE)


@dataclass(frozen=True)
class ConsistencyState:
    """What ``GET /api/simulation/consistency`` and ``manage.py consistency_mode`` report
    (seconds; the drift in ppm)."""

    mode: str
    max_clock_offset_seconds: float
    fence_limit_seconds: float
    cockroachdb_fence_limit_seconds: float
    assumed_drift_ppm: float
    modes: tuple[str, ...] = tuple(Mode.values)


def consistency_get() -> ConsistencyState:
    """The current mode with the bound it trusts, the fence limit (and CockroachDB's, for
    comparison) and commit_wait's assumed drift (one query)."""
    return ConsistencyState(
        mode=mode_get(),
        max_clock_offset_seconds=max_clock_offset(),
        fence_limit_seconds=fence_limit(),
        cockroachdb_fence_limit_seconds=cockroachdb_fence_limit(),
        assumed_drift_ppm=assumed_drift_ppm(),
    )


@dataclass(frozen=True)
class Fence:
    """A node's clock judged against the others at one true instant."""

    server_id: str
    offset_seconds: float
    median_seconds: float
    limit_seconds: float

    @property
    def deviation_seconds(self) -> float:
        return self.offset_seconds - self.median_seconds

    @property
    def fenced(self) -> bool:
        return abs(self.deviation_seconds) > self.limit_seconds


def node_fences(nodes: Iterable[ServerNode], *, at: datetime) -> dict[str, Fence]:
    """Every node's deviation from the median offset of ``nodes`` at true time ``at``."""
    offsets = {node.server_id: clock.offset_at(node, at) for node in nodes}
    if not offsets:
        return {}
    median = statistics.median(offsets.values())
    limit = fence_limit()
    return {
        server_id: Fence(server_id=server_id, offset_seconds=offset, median_seconds=median, limit_seconds=limit)
        for server_id, offset in offsets.items()
    }


def fence_check(node: ServerNode, *, at: datetime, nodes: Iterable[ServerNode] | None = None) -> None:
    """Raise ``NodeFenced`` if ``node`` is fenced at true time ``at`` among ``nodes`` (default:
    every node, one query; the experiment engine passes its own).  Called by writes in
    ``bounded`` mode, before they read anything else."""
    fence = node_fences(ServerNode.objects.all() if nodes is None else nodes, at=at)[node.pk]
    if fence.fenced:
        raise NodeFenced(
            server_id=fence.server_id,
            offset_seconds=fence.offset_seconds,
            median_seconds=fence.median_seconds,
            limit_seconds=fence.limit_seconds,
        )


# --------------------------------------------------------------------------- commit_wait (TrueTime)


def uncertainty(node: ServerNode, *, at: datetime) -> float | None:
    """The node's uncertainty ε at true time ``at``, in seconds (Spanner's TrueTime interval
    half-width): the error bound of its last successful sync plus ``ASSUMED_DRIFT_PPM`` × the
    time since that sync.  ``None`` for a node that has never synced: nothing bounds its error,
    so its ε is unbounded (``commit_wait`` refuses its writes until it syncs).

    An injected offset does not change ε: it is a clock fault beyond ε, the case the mode
    cannot see (DESIGN §2b: "TrueTime is only as good as ε").
    """
    if node.last_sync is None or node.last_sync_error_bound is None:
        return None
    elapsed = max(0.0, (at - node.last_sync).total_seconds())
    return float(node.last_sync_error_bound) + assumed_drift_ppm() * 1e-6 * elapsed


def uncertainty_limit() -> float:
    """The largest ε ``commit_wait`` accepts, in seconds: MAX_CLOCK_OFFSET, the largest clock
    error the cluster is built to tolerate (it bounds a commit wait to 2 × MAX_CLOCK_OFFSET)."""
    return max_clock_offset()


def uncertainty_check(node: ServerNode, *, at: datetime) -> float:
    """The node's ε at ``at``; raises ``NodeUncertain`` (503 TIME_DRIFT_DETECTED) when it is
    unbounded (never synced) or above :func:`uncertainty_limit`.  Called by writes in
    ``commit_wait`` mode, before they read anything else."""
    epsilon, limit = uncertainty(node, at=at), uncertainty_limit()
    if epsilon is None or epsilon > limit:
        raise NodeUncertain(server_id=node.pk, uncertainty_seconds=epsilon, limit_seconds=limit)
    return epsilon


def commit_wait(node: ServerNode, *, stamp: datetime) -> float:
    """Spanner's commit wait: return once the node's clock minus its ε has passed ``stamp``
    (so every node within its ε reads a later time from then on); the seconds of true time
    waited.  The wait goes through :func:`timesync.clock.sleep`: real under the host clock,
    an advance of the virtual clock under a :class:`~timesync.clock.FrozenClock`.
    """
    started = clock.reference_now()
    previous: datetime | None = None
    while True:
        now = clock.reference_now()
        earliest = clock.node_now(node, at=now) - timedelta(seconds=uncertainty(node, at=now) or 0.0)
        if earliest > stamp:
            return (now - started).total_seconds()
        if now == previous:  # slept, and no time passed: a reference clock that cannot wait
            raise RuntimeError("the reference clock does not advance: a commit wait would never end")
        previous = now
        # + 1 µs: the stamp's resolution, so that "passed" is strict.  A drifting clock (or ε
        # growing) may need a second, shorter round.
        clock.sleep((stamp - earliest).total_seconds() + 1e-6)


@dataclass(frozen=True)
class NodeClock:
    """A node's clock at one instant, judged against the others (``/api/time/servers``)."""

    time: NodeTime
    fence: Fence
    uncertainty_seconds: float | None  # ε (commit_wait); None: never synced, unbounded

    @property
    def uncertainty_exceeded(self) -> bool:
        """Whether ``commit_wait`` would refuse this node's writes (ε unbounded or too large)."""
        return self.uncertainty_seconds is None or self.uncertainty_seconds > uncertainty_limit()


@dataclass(frozen=True)
class ClusterClocks:
    true_time: datetime
    mode: str
    fence_limit_seconds: float
    cockroachdb_fence_limit_seconds: float
    median_offset_seconds: float | None
    uncertainty_limit_seconds: float
    assumed_drift_ppm: float
    servers: list[NodeClock]


def cluster_clocks(*, at: datetime | None = None) -> ClusterClocks:
    """Every node's clock, fence and uncertainty ε read at one true instant, with the mode
    (two queries).

    ``fenced`` and ε are computed in every mode, so a client sees who *would* be refused;
    only ``bounded`` enforces the fence and only ``commit_wait`` uses ε.
    """
    t = clock.reference_now() if at is None else at
    nodes = list(node_list())
    fences = node_fences(nodes, at=t)
    servers = [
        NodeClock(time=node_time(node, at=t), fence=fences[node.server_id], uncertainty_seconds=uncertainty(node, at=t))
        for node in nodes
    ]
    return ClusterClocks(
        true_time=t,
        mode=mode_get(),
        fence_limit_seconds=fence_limit(),
        cockroachdb_fence_limit_seconds=cockroachdb_fence_limit(),
        median_offset_seconds=servers[0].fence.median_seconds if servers else None,
        uncertainty_limit_seconds=uncertainty_limit(),
        assumed_drift_ppm=assumed_drift_ppm(),
        servers=servers,
    )
