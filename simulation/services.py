"""The simulation's own writes: applying drift scenarios, resetting the demo."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from history.actors import Actor
from reservations.services import Clearing, holds_clear, reservations_clear
from timesync.models import ServerNode
from timesync.services import node_offsets_clear, node_offsets_set_many

from .models import Scenario
from .selectors import scenario_get


@transaction.atomic
def scenario_apply(*, name: str, actor: Actor | None = None) -> tuple[Scenario, dict[str, float]]:
    """Set every node to exactly the scenario's offsets; nodes it does not list go back to 0.

    Returns the scenario and the offsets it lists (what the API reports as applied).
    """
    scenario = scenario_get(name)
    offsets = {o.node_id: (o.offset_seconds, o.drift_ppm) for o in scenario.offsets.all()}
    node_offsets_set_many(offsets, actor=actor, reason=f"scenario {scenario.name}")
    return scenario, {server_id: offset for server_id, (offset, _drift) in offsets.items()}


@dataclass(frozen=True)
class Reset:
    """What :func:`demo_reset` did."""

    reservations: Clearing
    holds: Clearing
    nodes: list[ServerNode]


@transaction.atomic
def demo_reset(*, actor: Actor | None = None) -> Reset:
    """Start the demo again, in one transaction: every active reservation cancelled
    (:func:`reservations.services.reservations_clear`; the venue and its seat ids stay), every
    active hold released (:func:`reservations.services.holds_clear`) and every node back on true
    time (:func:`timesync.services.node_offsets_clear`).  The consistency mode is the presenter's
    choice and stays.  Each part announces itself live (``reservations_cleared``,
    ``holds_cleared``, ``offsets_changed``) after commit, and is appended to the history by
    ``actor``.  Raises ``core.locks.LockTimeout`` (409) when a seat stays locked too long.
    """
    cleared = reservations_clear(actor=actor)
    released = holds_clear(actor=actor)
    nodes = node_offsets_clear(actor=actor)
    return Reset(reservations=cleared, holds=released, nodes=nodes)
