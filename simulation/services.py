"""Applying drift scenarios."""

from __future__ import annotations

from django.db import transaction

from history.actors import Actor
from timesync.services import node_offsets_set_many

from .models import Scenario
from .selectors import scenario_get


@transaction.atomic
def scenario_apply(*, name: str, actor: Actor | None = None) -> tuple[Scenario, dict[str, float]]:
    """Set every node to exactly the scenario's offsets; nodes it does not list go back to 0.

    Returns the scenario and the offsets it lists (what the API reports as applied).  Appended
    to the history as ``set_offset`` per node by ``actor``.
    """
    scenario = scenario_get(name)
    offsets = {o.node_id: (o.offset_seconds, o.drift_ppm) for o in scenario.offsets.all()}
    node_offsets_set_many(offsets, actor=actor, reason=f"scenario {scenario.name}")
    return scenario, {server_id: offset for server_id, (offset, _drift) in offsets.items()}
