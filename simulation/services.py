"""The simulation's own writes: applying drift scenarios, resetting the demo."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from reservations.services import Clearing, reservations_clear
from timesync.models import ServerNode
from timesync.services import node_offsets_clear, node_offsets_set_many

from .models import Scenario
from .selectors import scenario_get


@transaction.atomic
def scenario_apply(*, name: str) -> tuple[Scenario, dict[str, float]]:
    """Set every node to exactly the scenario's offsets; nodes it does not list go back to 0.

    Returns the scenario and the offsets it lists (what the API reports as applied).
    """
    scenario = scenario_get(name)
    offsets = {o.node_id: (o.offset_seconds, o.drift_ppm) for o in scenario.offsets.all()}
    node_offsets_set_many(offsets)
    return scenario, {server_id: offset for server_id, (offset, _drift) in offsets.items()}


@dataclass(frozen=True)
class Reset:
    """What :func:`demo_reset` did."""

    reservations: Clearing
    nodes: list[ServerNode]


@transaction.atomic
def demo_reset() -> Reset:
    """Start the demo again, in one transaction: every active reservation cancelled
    (:func:`reservations.services.reservations_clear`; the venue and its seat ids stay) and
    every node back on true time (:func:`timesync.services.node_offsets_clear`).  The
    consistency mode is the presenter's choice and stays.  Each part announces itself live
    (``reservations_cleared``, ``offsets_changed``) after commit.

    (Seat holds, DESIGN §7, join here when they land: one more call, to their own clearing
    service.)  Raises ``core.locks.LockTimeout`` (409) when a seat stays locked too long.
    """
    cleared = reservations_clear()
    nodes = node_offsets_clear()
    return Reset(reservations=cleared, nodes=nodes)
