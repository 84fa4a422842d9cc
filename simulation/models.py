from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models


class Scenario(models.Model):
    """A named set of clock offsets (and drifts) to apply to the nodes in one go."""

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9_][a-z0-9_-]*$", "Lowercase letters, digits, '_' and '-'.")],
    )
    description = models.CharField(max_length=255, blank=True, default="")
    builtin = models.BooleanField(default=False, help_text="One of the spec's three scenarios.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ScenarioOffset(models.Model):
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="offsets")
    node = models.ForeignKey("timesync.ServerNode", on_delete=models.CASCADE, related_name="+")
    offset_seconds = models.FloatField(default=0.0)
    drift_ppm = models.FloatField(default=0.0)

    class Meta:
        ordering = ["node_id"]
        constraints = [models.UniqueConstraint(fields=["scenario", "node"], name="scenario_node_unique")]

    def __str__(self) -> str:
        return f"{self.scenario.name}: {self.node_id} {self.offset_seconds:+g}s"
