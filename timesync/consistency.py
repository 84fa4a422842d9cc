"""Consistency modes: the cluster's clock discipline (the mode, fencing; what a node sees under
each mode is the rule's business: :mod:`reservations.visibility`).

- ``naive``: DESIGN §2 — a node sees what is stamped at or before its own clock.
- ``bounded``: the uncertainty interval of Spanner/CockroachDB — a node also sees what is
  stamped up to ``MAX_CLOCK_OFFSET`` past its clock, and a node whose offset from the median
  of all nodes exceeds ``FENCE_FRACTION × MAX_CLOCK_OFFSET`` refuses writes (it is *fenced*)
  until it is synced.
- ``serializable``: timestamps ignored, every active reservation is visible (one database's
  serial order; the baseline).

The mode is stored in the database (one row) so that every process switches together.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db.models import Model, QuerySet, Subquery

from timesync import clock
from timesync.models import ServerNode
from timesync.selectors import NodeTime, node_list, node_time

from .errors import NodeFenced
from .models import ConsistencySettings

#: Fenced when |offset − median| exceeds this fraction of MAX_CLOCK_OFFSET (CockroachDB: 80 %).
FENCE_FRACTION = 0.8


Mode = ConsistencySettings.Mode


def max_clock_offset() -> float:
    """The bound on clock skew the ``bounded`` mode trusts, in seconds."""
    return float(settings.SEATCLOCK_MAX_CLOCK_OFFSET)


def fence_limit() -> float:
    """How far from the median offset a node may be before ``bounded`` fences it, in seconds."""
    return FENCE_FRACTION * max_clock_offset()


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
    """What ``GET /api/simulation/consistency`` and ``manage.py consistency_mode`` report."""

    mode: str
    max_clock_offset_seconds: float
    fence_limit_seconds: float
    modes: tuple[str, ...] = tuple(Mode.values)


def consistency_get() -> ConsistencyState:
    """The current mode with the bound it trusts and the fence limit (one query)."""
    return ConsistencyState(
        mode=mode_get(), max_clock_offset_seconds=max_clock_offset(), fence_limit_seconds=fence_limit()
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


@dataclass(frozen=True)
class NodeClock:
    """A node's clock at one instant, judged against the others (``/api/time/servers``)."""

    time: NodeTime
    fence: Fence


@dataclass(frozen=True)
class ClusterClocks:
    true_time: datetime
    mode: str
    fence_limit_seconds: float
    median_offset_seconds: float | None
    servers: list[NodeClock]


def cluster_clocks(*, at: datetime | None = None) -> ClusterClocks:
    """Every node's clock and fence read at one true instant, with the mode (two queries).

    ``fenced`` is computed in every mode, so a client sees who *would* be refused; only
    ``bounded`` enforces it.
    """
    t = clock.reference_now() if at is None else at
    nodes = list(node_list())
    fences = node_fences(nodes, at=t)
    servers = [NodeClock(time=node_time(node, at=t), fence=fences[node.server_id]) for node in nodes]
    return ClusterClocks(
        true_time=t,
        mode=mode_get(),
        fence_limit_seconds=fence_limit(),
        median_offset_seconds=servers[0].fence.median_seconds if servers else None,
        servers=servers,
    )
