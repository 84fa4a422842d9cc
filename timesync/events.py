"""Live events about clocks (topic ``time_sync``), published by :mod:`timesync.services`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from core.permissions import Audience

from . import shapes
from .consistency import ConsistencyState
from .models import ServerNode
from .selectors import node_time


@dataclass(frozen=True)
class ClocksChanged:
    """``offsets_changed``: the new state of the nodes whose clocks moved, read at ``at``."""

    nodes: tuple[ServerNode, ...]
    at: datetime
    topic: ClassVar[str] = "time_sync"
    type: ClassVar[str] = "offsets_changed"

    def data(self, audience: Audience) -> dict[str, Any]:
        return {"servers": [shapes.node_status(node_time(node, at=self.at)) for node in self.nodes]}


@dataclass(frozen=True)
class NodeSynced:
    """The spec's ``time_sync_update``: a node was stepped by ``correction`` seconds after an
    NTP exchange of round-trip ``delay`` seconds (``delay_seconds`` is additive)."""

    node: ServerNode
    correction: float
    delay: float
    topic: ClassVar[str] = "time_sync"
    type: ClassVar[str] = "time_sync_update"

    def data(self, audience: Audience) -> dict[str, Any]:
        return {
            "server_id": self.node.server_id,
            "offset_seconds": self.correction,
            "synced": self.node.ntp_synced,
            "delay_seconds": self.delay,
        }


@dataclass(frozen=True)
class ModeChanged:
    """``consistency_mode_changed``: every node now reserves under ``state.mode``."""

    state: ConsistencyState
    topic: ClassVar[str] = "time_sync"
    type: ClassVar[str] = "consistency_mode_changed"

    def data(self, audience: Audience) -> dict[str, Any]:
        return shapes.consistency(self.state)
