"""Reads of stored scenarios."""

from __future__ import annotations

import re

from django.db.models import Prefetch, QuerySet

from core.ids import get_or_raise

from .errors import ScenarioNotFound
from .models import Scenario, ScenarioOffset

_NAME = re.compile(r"[a-z0-9_][a-z0-9_-]{0,63}")


def scenario_list() -> QuerySet[Scenario]:
    """Every scenario with its per-node offsets (two queries)."""
    return Scenario.objects.order_by("id").prefetch_related(
        Prefetch("offsets", queryset=ScenarioOffset.objects.order_by("node_id"))
    )


def scenario_names() -> list[str]:
    """Every stored scenario's name, in id order (built-in ones first)."""
    return list(Scenario.objects.order_by("id").values_list("name", flat=True))


def parse_scenario_name(value: object) -> str | None:
    """``value`` if it can be a scenario name (the model's validator), else ``None``."""
    return value if isinstance(value, str) and _NAME.fullmatch(value) else None


def scenario_get(name: object) -> Scenario:
    """The scenario called ``name`` with its offsets, or ``ScenarioNotFound`` (404)."""
    return get_or_raise(scenario_list(), name, ScenarioNotFound, parse=parse_scenario_name, field="name")
