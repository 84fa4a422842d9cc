"""The wire shapes of the clocks: one function per entity, used by the API views, the live
events and the seat-map page alike (the serializers in ``api/serializers.py`` validate input
and document these shapes for OpenAPI; the schema tests check that they agree)."""

from __future__ import annotations

from typing import Any

from core.timefmt import iso_utc, iso_utc_or_none

from .consistency import ClusterClocks, ConsistencyState, NodeClock
from .selectors import NodeTime


def node_status(t: NodeTime) -> dict[str, Any]:
    """A node's clock: the spec's TimeStatus (``server_id``, ``current_time``, ``ntp_synced``,
    ``offset_seconds``, ``last_sync``) plus its drift (ppm), the true time its offset and drift
    were last set (``offset_since``: by an operator, a scenario or a sync; null if never) and its
    last sync's figures."""
    node = t.node
    return {
        "server_id": node.server_id,
        "current_time": iso_utc(t.current_time),
        "ntp_synced": node.ntp_synced,
        "offset_seconds": t.offset_seconds,
        "last_sync": iso_utc_or_none(node.last_sync),
        "drift_ppm": node.drift_ppm,
        "offset_since": iso_utc_or_none(node.offset_since),
        "last_sync_offset_seconds": node.last_sync_offset,
        "last_sync_delay_seconds": node.last_sync_delay,
        "last_sync_stratum": node.last_sync_stratum,
        "last_sync_error_bound_seconds": node.last_sync_error_bound,
        "last_sync_ntp_server": node.last_sync_server or None,
    }


def node_clock(c: NodeClock) -> dict[str, Any]:
    """:func:`node_status` plus how far the node is from the others (``bounded``'s fence) and
    its uncertainty ε (``commit_wait``), seconds (``/api/time/servers``).  ``uncertainty_seconds``
    and ``commit_wait_seconds`` (2ε, what a write through it waits) are null for a node that
    never synced."""
    epsilon = c.uncertainty_seconds
    return {
        **node_status(c.time),
        "deviation_seconds": c.fence.deviation_seconds,
        "fenced": c.fence.fenced,
        "uncertainty_seconds": epsilon,
        "commit_wait_seconds": None if epsilon is None else 2 * epsilon,
        "uncertainty_exceeded": c.uncertainty_exceeded,
    }


def cluster_clocks(cluster: ClusterClocks) -> dict[str, Any]:
    """Every node's clock read at one true instant, with the mode (``GET /api/time/servers``)."""
    return {
        "true_time": iso_utc(cluster.true_time),
        "consistency_mode": cluster.mode,
        "fence_limit_seconds": cluster.fence_limit_seconds,
        "cockroachdb_fence_limit_seconds": cluster.cockroachdb_fence_limit_seconds,
        "median_offset_seconds": cluster.median_offset_seconds,
        "uncertainty_limit_seconds": cluster.uncertainty_limit_seconds,
        "assumed_drift_ppm": cluster.assumed_drift_ppm,
        "servers": [node_clock(c) for c in cluster.servers],
    }


def consistency(state: ConsistencyState) -> dict[str, Any]:
    """The consistency mode with its bound, the fence limit (and CockroachDB's, for comparison)
    and commit_wait's assumed drift (API, live event, page)."""
    return {
        "mode": state.mode,
        "max_clock_offset_seconds": state.max_clock_offset_seconds,
        "fence_limit_seconds": state.fence_limit_seconds,
        "cockroachdb_fence_limit_seconds": state.cockroachdb_fence_limit_seconds,
        "assumed_drift_ppm": state.assumed_drift_ppm,
        "modes": list(state.modes),
    }
