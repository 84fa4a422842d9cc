from __future__ import annotations

import re

from django.core.validators import RegexValidator
from django.db import models

#: A node id: 1-32 lowercase letters, digits, '-' or '_', starting with a letter or digit.
server_id_pattern = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

server_id_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,31}$",
    "A server id is 1-32 lowercase letters, digits, '-' or '_' (e.g. server-6).",
)


class ServerNode(models.Model):
    """A simulated server: its clock is the host clock plus an injected offset and drift.

    ``offset(t) = offset_seconds + drift_ppm * 1e-6 * (t - offset_since)`` (DESIGN §1).
    """

    server_id = models.CharField(max_length=32, primary_key=True, validators=[server_id_validator])
    offset_seconds = models.FloatField(default=0.0, help_text="Injected offset, seconds, at offset_since.")
    drift_ppm = models.FloatField(default=0.0, help_text="Drift rate in parts per million of true time.")
    offset_since = models.DateTimeField(null=True, blank=True, help_text="True time the offset was set.")
    ntp_synced = models.BooleanField(default=True)
    last_sync = models.DateTimeField(null=True, blank=True, help_text="Time of the last successful NTP sync.")
    # Figures of the last successful NTP sync (for /api/time/status).
    last_sync_offset = models.FloatField(null=True, blank=True)
    last_sync_delay = models.FloatField(null=True, blank=True)
    last_sync_stratum = models.PositiveSmallIntegerField(null=True, blank=True)
    last_sync_error_bound = models.FloatField(null=True, blank=True)
    last_sync_server = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["server_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(offset_seconds__gte=-86_400 * 366) & models.Q(offset_seconds__lte=86_400 * 366),
                name="servernode_offset_bounded",
            ),
        ]

    def __str__(self) -> str:
        return self.server_id


class ConsistencySettings(models.Model):
    """The cluster-wide consistency mode (a single row, pk 1); see ``timesync.consistency``
    and DESIGN §2b: ``naive`` (DESIGN §2), ``bounded`` (CockroachDB's uncertainty interval),
    ``serializable`` (timestamps ignored), ``commit_wait`` (Spanner's TrueTime)."""

    class Mode(models.TextChoices):
        NAIVE = "naive", "naive"
        BOUNDED = "bounded", "bounded"
        SERIALIZABLE = "serializable", "serializable"
        COMMIT_WAIT = "commit_wait", "commit_wait"

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.NAIVE)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "consistency mode"
        verbose_name_plural = "consistency mode"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="consistency_settings_singleton")]

    def __str__(self) -> str:
        return f"consistency mode: {self.mode}"
