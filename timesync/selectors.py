"""Reads of node clock state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from core.ids import get_or_raise

from . import clock
from .errors import InvalidServerId
from .models import ServerNode, server_id_pattern


def node_list() -> QuerySet[ServerNode]:
    """Every node, ordered by id."""
    return ServerNode.objects.order_by("server_id")


def node_ids() -> list[str]:
    """Every node's id, in order (what a bad id is told it could have been)."""
    return list(node_list().values_list("server_id", flat=True))


def parse_server_id(value: object) -> str | None:
    """``value`` if it can be a node id (1-32 of ``a-z 0-9 - _``), else ``None``: a NUL byte or a
    10,000-character path segment never reaches the database."""
    return value if isinstance(value, str) and server_id_pattern.fullmatch(value) else None


def node_get(server_id: object) -> ServerNode:
    """The node called ``server_id``, or ``InvalidServerId``."""
    return get_or_raise(ServerNode.objects.all(), server_id, InvalidServerId, parse=parse_server_id)


@dataclass(frozen=True)
class NodeTime:
    """A node's clock read at one true instant (what /api/time/status reports)."""

    node: ServerNode
    true_time: datetime
    current_time: datetime
    offset_seconds: float


def node_time(node: ServerNode, *, at: datetime | None = None) -> NodeTime:
    """Read ``node``'s clock at true time ``at`` (default: now)."""
    t = clock.reference_now() if at is None else at
    offset = clock.offset_at(node, t)
    return NodeTime(node=node, true_time=t, current_time=clock.node_now(node, at=t), offset_seconds=offset)


def node_offsets(*, at: datetime | None = None) -> dict[str, float]:
    """Every node's current offset in seconds, by server id."""
    t = clock.reference_now() if at is None else at
    return {node.server_id: clock.offset_at(node, t) for node in node_list()}
