"""The operations history (DESIGN §8): one row per operation on a seat or a clock.

Written by the services themselves (``reservations.services``, ``timesync.services``) through
:func:`history.recording.operation`, in the same transaction as the write it describes, so the
history is exactly as durable as the data.  A refusal (409, 503, a failed NTP exchange) is
appended after its transaction rolled back.  Read by the admin (the audit trail: who cancelled,
who moved a clock), the JSON-lines export (``manage.py export_history``, a Jepsen-like shape)
and the checker (``lab.checker``, ``manage.py check_history``).

Seats, nodes, reservations and holds are referenced by plain values, not foreign keys: the
history outlives what it describes (a node may be renamed, a venue replaced) and appending
costs one INSERT with no foreign-key checks.
"""

from __future__ import annotations

from django.db import models


class Operation(models.Model):
    """One operation: what was asked (``f``, ``args``), by whom (``actor_*``, ``run``), through
    which node and what its clock read (``node``, ``node_time``, ``mode``), when in true time
    (``invoked_at`` … ``completed_at``) and what came of it (``outcome``, ``error``, ``value``).

    ``invoked_at`` is read when the service starts, before any lock; ``completed_at`` just
    before the row is inserted, i.e. before the transaction commits, while the seat's lock is
    still held (so no operation that waited for that lock can have been invoked earlier and
    completed later than this one without the lock ordering them).
    """

    class F(models.TextChoices):
        RESERVE = "reserve", "reserve"
        CANCEL = "cancel", "cancel"
        BUMP = "bump", "bump"
        HOLD = "hold", "hold"
        CONFIRM = "confirm", "confirm"
        RELEASE = "release", "release"
        SET_OFFSET = "set_offset", "set offset"
        SYNC = "sync", "sync"
        SET_MODE = "set_mode", "set mode"

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        FAIL = "fail", "fail"  # refused: nothing changed (the error code says why)
        INFO = "info", "info"  # indeterminate: an unexpected error after the decision

    class ActorKind(models.TextChoices):
        ANONYMOUS = "anonymous", "anonymous"
        USER = "user", "user"  # an authenticated user (session: the admin, the page in production)
        TOKEN = "token", "token"  # an API token (Authorization: Token …)
        SYSTEM = "system", "system"  # a command, the load generator, the experiment engine

    f = models.CharField("operation", max_length=12, choices=F.choices)
    outcome = models.CharField(max_length=4, choices=Outcome.choices)
    error = models.CharField(max_length=40, blank=True, default="", help_text="The error code of a refusal.")
    invoked_at = models.DateTimeField(help_text="True time the service was called.")
    completed_at = models.DateTimeField(help_text="True time it decided (before commit; seat lock still held).")
    node = models.CharField(max_length=32, blank=True, default="", help_text="The node that decided (server id).")
    node_time = models.DateTimeField(null=True, blank=True, help_text="What the node's clock read when it decided.")
    mode = models.CharField(max_length=16, blank=True, default="", help_text="The consistency mode it decided under.")
    seat_id = models.BigIntegerField(null=True, blank=True)
    actor_kind = models.CharField(max_length=9, choices=ActorKind.choices)
    actor_name = models.CharField(max_length=150, blank=True, default="", help_text="User name or command.")
    run = models.CharField(max_length=64, blank=True, default="", help_text="Tag of a load run (simulate).")
    args = models.JSONField(default=dict, help_text="What was asked (never a secret such as a hold token).")
    value = models.JSONField(default=dict, help_text="What came of it: ids, stamps; the error's details.")

    class Meta:
        ordering = ["id"]
        indexes = [
            # A seat's history (the checker, the admin's filter).
            models.Index(fields=["seat_id", "id"], name="history_seat_id"),
            # A run's operations (simulate's verdict); most rows have no run.
            models.Index(fields=["run", "id"], name="history_run_id", condition=~models.Q(run="")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(completed_at__gte=models.F("invoked_at")), name="history_completed_after_invoked"
            ),
        ]

    def __str__(self) -> str:
        where = f" seat {self.seat_id}" if self.seat_id is not None else ""
        via = f" via {self.node}" if self.node else ""
        return f"#{self.pk} {self.f}{where}{via}: {self.outcome}{' ' + self.error if self.error else ''}"

    @property
    def actor(self) -> str:
        """``anonymous``, ``user alice``, ``token bob``, ``system simulate``."""
        return f"{self.actor_kind} {self.actor_name}".strip()

    @property
    def latency_seconds(self) -> float:
        return (self.completed_at - self.invoked_at).total_seconds()
