from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from seats.models import Seat

#: The holder rule's order (DESIGN §2): first writer wins by timestamp, ties by id.
STAMP_ORDER = ("created_at", "id")


class ReservationQuerySet(models.QuerySet["Reservation"]):
    """The reads every reader of reservations composes (the rule, the API, the page, the admin,
    the experiments): one definition of "active", of "by stamp" and of "a seat's"."""

    def active(self) -> ReservationQuerySet:
        """Reservations that hold their seat (neither cancelled nor bumped)."""
        return self.filter(status=Reservation.Status.ACTIVE)

    def by_stamp(self) -> ReservationQuerySet:
        """Earliest ``created_at`` first (ties by id): the holder is the first row."""
        return self.order_by(*STAMP_ORDER)

    def for_seat(self, seat: Seat | int) -> ReservationQuerySet:
        return self.filter(seat=seat)


def stamp_key(reservation: Reservation) -> tuple[datetime, int]:
    """Sort key of the holder rule, for reservations already in memory."""
    return (reservation.created_at, reservation.pk)


def holder_of(reservations: Iterable[Reservation]) -> Reservation | None:
    """The holder among a seat's active ``reservations``: the earliest stamp (DESIGN §2:
    first writer wins by timestamp).  Under skew this may be who truly came second."""
    return min(reservations, key=stamp_key, default=None)


class Reservation(models.Model):
    """A seat sold by one node.

    ``created_at`` is what the node's (possibly skewed) clock read; ``recorded_at`` is true
    time, kept for analysis.  Cancelling is a soft delete (status + ``cancelled_at``); resolving
    a conflict *bumps* the reservations it does not keep (status + ``bumped_at``).  Only active
    reservations hold seats or appear in the API.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        CANCELLED = "cancelled", "cancelled"
        BUMPED = "bumped", "bumped"

    seat = models.ForeignKey("seats.Seat", on_delete=models.PROTECT, related_name="reservations")
    node = models.ForeignKey(
        "timesync.ServerNode", on_delete=models.PROTECT, related_name="reservations", db_column="server_id"
    )
    customer_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(help_text="The node's clock at write time.")
    recorded_at = models.DateTimeField(help_text="True (host) time at write time.")
    node_offset = models.FloatField(default=0.0, help_text="The node's clock offset at write time, seconds.")
    conflict_detected = models.BooleanField(
        default=False, help_text="Created while the seat had another active reservation the node could not see."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    bumped_at = models.DateTimeField(
        null=True, blank=True, help_text="True time a conflict resolution bumped it (kept another reservation)."
    )
    cancel_token_digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        editable=False,
        help_text="SHA-256 of the cancel token returned once in the 201 (core.tokens); empty before tokens existed.",
    )

    objects = ReservationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # The reservation rule and the seat map: a seat's active reservations by timestamp.
            models.Index(fields=["seat", "status", "created_at"], name="resv_seat_status_created"),
            # Listing filtered by node.
            models.Index(fields=["node", "status"], name="resv_node_status"),
            models.Index(fields=["status", "id"], name="resv_status_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(status="active", cancelled_at__isnull=True, bumped_at__isnull=True)
                    | models.Q(status="cancelled", cancelled_at__isnull=False, bumped_at__isnull=True)
                    | models.Q(status="bumped", cancelled_at__isnull=True, bumped_at__isnull=False)
                ),
                name="resv_status_stamps_match",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer_name} @ {self.seat_id} via {self.node_id}"

    @property
    def skew_seconds(self) -> float:
        """How far the node's stamp was from true time."""
        return (self.created_at - self.recorded_at).total_seconds()


class HoldQuerySet(models.QuerySet["Hold"]):
    def active(self) -> HoldQuerySet:
        """Holds neither confirmed nor released.  Whether one is *live* is each node's judgement
        (its clock against ``expires_at``: :class:`reservations.visibility.NodeView`), not a status."""
        return self.filter(status=Hold.Status.ACTIVE)

    def for_seat(self, seat: Seat | int) -> HoldQuerySet:
        return self.filter(seat=seat)


class Hold(models.Model):
    """A seat held for a customer for ``ttl_seconds`` (DESIGN §7; pretix's cart positions,
    seats.io's hold tokens), then confirmed into a reservation, released, or left to expire.

    ``created_at`` and ``expires_at`` (= ``created_at + ttl``) are the holding node's clock:
    every node judges the hold live while ``expires_at`` is after its *own* clock, so a node
    running ahead lets it expire early (a stolen hold) and a lagging one keeps it alive too long
    (a zombie hold).  ``recorded_at`` and ``true_expires_at`` are true time, for analysis and
    for the ``serializable`` mode (one database, one clock).  The token that confirms or
    releases the hold is shown once and stored hashed (``token_hash``, SHA-256).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        CONFIRMED = "confirmed", "confirmed"
        RELEASED = "released", "released"

    seat = models.ForeignKey("seats.Seat", on_delete=models.PROTECT, related_name="holds")
    node = models.ForeignKey(
        "timesync.ServerNode", on_delete=models.PROTECT, related_name="holds", db_column="server_id"
    )
    customer_name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the hold token (hex).")
    ttl_seconds = models.PositiveIntegerField(help_text="How long the hold lasts, seconds (1 … 7200).")
    created_at = models.DateTimeField(help_text="The holding node's clock at write time.")
    expires_at = models.DateTimeField(help_text="created_at + ttl, on the holding node's clock.")
    recorded_at = models.DateTimeField(help_text="True (host) time at write time.")
    true_expires_at = models.DateTimeField(help_text="recorded_at + ttl: when the hold truly ends.")
    node_offset = models.FloatField(default=0.0, help_text="The node's clock offset at write time, seconds.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="True time it became a reservation.")
    released_at = models.DateTimeField(null=True, blank=True, help_text="True time it was released.")
    reservation = models.OneToOneField(
        Reservation, on_delete=models.PROTECT, null=True, blank=True, related_name="hold"
    )

    objects = HoldQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # The rule: a seat's active holds (read under the seat lock).
            models.Index(fields=["seat", "status"], name="hold_seat_status"),
            models.Index(fields=["status", "id"], name="hold_status_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(status="active", confirmed_at__isnull=True, released_at__isnull=True)
                    & models.Q(reservation__isnull=True)
                    | models.Q(status="confirmed", confirmed_at__isnull=False, released_at__isnull=True)
                    & models.Q(reservation__isnull=False)
                    | models.Q(status="released", released_at__isnull=False, confirmed_at__isnull=True)
                    & models.Q(reservation__isnull=True)
                ),
                name="hold_status_stamps_match",
            ),
            models.CheckConstraint(
                condition=models.Q(ttl_seconds__gte=1) & models.Q(ttl_seconds__lte=7200), name="hold_ttl_range"
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="hold_expires_after"
            ),
        ]

    def __str__(self) -> str:
        return f"hold #{self.pk} {self.customer_name} @ {self.seat_id} via {self.node_id}"
