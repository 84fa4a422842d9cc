"""Applying drift scenarios."""

from __future__ import annotations

from django.db import transaction

from timesync.services import node_offsets_set_many

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
