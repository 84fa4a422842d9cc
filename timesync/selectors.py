"""Reads of node clock state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from . import clock
from .errors import InvalidServerId
from .models import ServerNode


def node_list() -> QuerySet[ServerNode]:
    """Every node, ordered by id."""
    return ServerNode.objects.order_by("server_id")


def node_get(server_id: object) -> ServerNode:
    """The node called ``server_id``, or ``InvalidServerId``."""
    if not isinstance(server_id, str):
        raise InvalidServerId(server_id)
    node = ServerNode.objects.filter(pk=server_id).first()
    if node is None:
        raise InvalidServerId(server_id)
    return node


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
