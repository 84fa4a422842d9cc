"""Reads of stored scenarios."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .errors import ScenarioNotFound
from .models import Scenario, ScenarioOffset


def scenario_list() -> QuerySet[Scenario]:
    """Every scenario with its per-node offsets (two queries)."""
    return Scenario.objects.order_by("id").prefetch_related(
        Prefetch("offsets", queryset=ScenarioOffset.objects.order_by("node_id"))
    )


def scenario_names() -> list[str]:
    """Every stored scenario's name, in id order (built-in ones first)."""
    return list(Scenario.objects.order_by("id").values_list("name", flat=True))


def scenario_get(name: object) -> Scenario:
    if not isinstance(name, str):
        raise ScenarioNotFound(name)
    scenario = scenario_list().filter(name=name).first()
    if scenario is None:
        raise ScenarioNotFound(name)
    return scenario
