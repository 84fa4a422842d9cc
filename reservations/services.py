"""Reserving, cancelling and settling seats: the clock-skew rule of DESIGN §2 lives here, once.

Everything that reserves (API, page, admin, load generator, experiments) calls
:func:`reservation_create`.  Every write to a seat's reservations takes the seat's row lock
first (:func:`seats.locks.seat_lock`), so the seat lock alone orders them.  Services return
outcomes and publish domain events (:mod:`reservations.events`); rendering is
:mod:`reservations.shapes`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from core import events, tokens
from core.errors import ValidationFailed
from core.ids import parse_id
from seats.locks import seat_lock, seats_lock
from seats.services import venue_seed
from timesync import clock, consistency
from timesync.selectors import node_get

from .errors import InvalidCancelToken, NoConflict, ReservationNotFound, SeatAlreadyReserved
from .events import ConflictDetected, ConflictResolved, ReservationCancelled, ReservationCreated, ReservationsCleared
from .models import Reservation, holder_of
from .selectors import Conflict, reservation_get
from .visibility import acknowledge, node_view


@dataclass(frozen=True)
class ReservationOutcome:
    reservation: Reservation
    conflict_detected: bool
    # The seat's other active reservations, which the node could not see (stamped in its future).
    hidden: tuple[Reservation, ...] = ()
    # Shown to the customer once (DESIGN §6); only its digest is stored.
    cancel_token: str = ""


def reservation_create(
    *, seat_id: int, customer_name: str, server_id: str = "server-1", mode: str | None = None
) -> ReservationOutcome:
    """Reserve ``seat_id`` through node ``server_id`` as that node's clock sees the world.

    In one transaction with the seat row locked: read the node's clock once under the
    consistency ``mode`` (default: the cluster's current mode; DESIGN §2b,
    :func:`reservations.visibility.node_view`); the node sees the seat's active reservations
    stamped up to the mode's horizon.  If it sees one: ``SeatAlreadyReserved`` (409).  A node
    the mode refuses (``bounded``: fenced; ``commit_wait``: ε unbounded or too large) raises
    ``TimeDriftDetected`` (503), nothing written.  Otherwise insert with ``created_at`` = the
    node's stamp and ``recorded_at`` = true time; if the seat has active reservations the node
    could not see, the new one is in conflict.  In ``commit_wait`` the answer (and the seat
    lock) waits until the node's clock minus ε has passed the stamp.
    The outcome carries the reservation's cancel token (only its digest is stored).

    Raises ``SeatNotFound`` (404), ``InvalidServerId`` (400), ``LockTimeout`` (409).
    """
    with transaction.atomic():
        seat = seat_lock(seat_id, annotate=consistency.with_cluster_mode)
        node = node_get(server_id)
        view = node_view(node, consistency.mode_of(seat) if mode is None else mode)

        active = list(Reservation.objects.active().for_seat(seat).by_stamp())
        visible = [r for r in active if view.sees(r.created_at)]
        if visible:
            holder = visible[0]
            raise SeatAlreadyReserved(seat_id=seat.pk, existing_id=holder.pk, existing_name=holder.customer_name)

        cancel_token, cancel_token_digest = tokens.new_token()
        reservation = Reservation.objects.create(
            seat=seat,
            node=node,
            customer_name=customer_name,
            created_at=view.stamp,
            recorded_at=view.t_true,
            node_offset=view.offset,
            conflict_detected=bool(active),
            cancel_token_digest=cancel_token_digest,
        )
        acknowledge(view)
        events.publish(ReservationCreated(reservation, hidden=tuple(active)))
        if active:
            events.publish(ConflictDetected.of([*active, reservation]))
    return ReservationOutcome(
        reservation=reservation, conflict_detected=bool(active), hidden=tuple(active), cancel_token=cancel_token
    )


@transaction.atomic
def reservation_cancel(
    *, reservation_id: int | str, cancel_token: str | None = None, token_required: bool = False
) -> Reservation:
    """Cancel an active reservation (soft delete: status ``cancelled``, ``cancelled_at`` set).

    With ``token_required`` (production, not staff: ``core.permissions.may_cancel_without_token``)
    ``cancel_token`` must be the reservation's (DESIGN §6, pretix's order secret).

    Raises ``ReservationNotFound`` (404) for an unknown, cancelled or bumped reservation and
    ``InvalidCancelToken`` (403) for a missing or wrong token; nothing changes then.
    """
    found = reservation_get(reservation_id)
    if token_required and not tokens.matches(cancel_token, found.cancel_token_digest):
        raise InvalidCancelToken(found.pk)
    seat = seat_lock(found.seat_id)
    # Re-read under the seat lock: it may have been cancelled or bumped meanwhile.
    seat_active = list(Reservation.objects.active().for_seat(seat))
    reservation = next((r for r in seat_active if r.pk == found.pk), None)
    if reservation is None:
        raise ReservationNotFound(found.pk)
    reservation.status = Reservation.Status.CANCELLED
    reservation.cancelled_at = clock.reference_now()
    reservation.save(update_fields=["status", "cancelled_at"])
    holder = holder_of(r for r in seat_active if r.pk != reservation.pk)
    events.publish(ReservationCancelled(reservation, holder=holder))
    return reservation


@dataclass(frozen=True)
class Clearing:
    """What :func:`reservations_clear` did: ``count`` reservations cancelled at true time ``at``."""

    count: int
    at: datetime


@transaction.atomic
def reservations_clear() -> Clearing:
    """Cancel every active reservation (soft delete, as :func:`reservation_cancel`): the seats
    stay, with their ids, and the rows stay for the audit trail.

    Takes the seat lock of every seat holding one, in id order, like any write deciding who holds
    a seat; a reservation committed meanwhile on another seat is ordered after the clearing and
    stays.  Announces ``reservations_cleared`` (one event, not one per reservation).
    """
    seat_ids = list(Reservation.objects.active().order_by().values_list("seat_id", flat=True).distinct())
    seats_lock(seat_ids)
    now = clock.reference_now()
    count = (
        Reservation.objects.active()
        .filter(seat_id__in=seat_ids)
        .update(status=Reservation.Status.CANCELLED, cancelled_at=now)
    )
    events.publish(ReservationsCleared(count=count, at=now))
    return Clearing(count=count, at=now)


class Policy:
    """How :func:`conflict_resolve` picks the reservation that keeps the seat."""

    EARLIEST_TIMESTAMP = "earliest_timestamp"  # the holder rule: what the seat map shows as holder
    TRUE_ORDER = "true_order"  # min (recorded_at, id): who truly came first
    KEEP = "keep"  # an operator's choice (reservation_id)
    ALL = (EARLIEST_TIMESTAMP, TRUE_ORDER, KEEP)


@dataclass(frozen=True)
class Resolution:
    seat_id: int
    policy: str
    kept: Reservation
    bumped: list[Reservation]
    # The kept reservation is the one that truly came first.
    fair: bool


def conflict_resolve(*, seat_id: int | str, policy: str, reservation_id: int | str | None = None) -> Resolution:
    """Settle a double-booked seat: keep one active reservation, *bump* the others.

    In one transaction with the seat row locked.  ``policy``: ``earliest_timestamp`` keeps the
    timestamp winner, ``true_order`` the truly first (``recorded_at``), ``keep`` the given
    ``reservation_id``.  Unknown seat: ``SeatNotFound``; fewer than two active reservations:
    ``NoConflict``; bad policy or a ``reservation_id`` that is not one of the seat's conflicting
    reservations: ``ValidationFailed``.  Nothing changes on error.  Announces
    ``conflict_resolved`` on the conflicts topic.
    """
    if policy not in Policy.ALL:
        message = _("Unknown policy %(policy)s: use %(choices)s.") % {
            "policy": repr(policy),
            "choices": ", ".join(Policy.ALL),
        }
        raise ValidationFailed(details={"policy": [message]})
    if (policy == Policy.KEEP) != (reservation_id is not None):
        message = _("Required with policy keep.") if policy == Policy.KEEP else _("Only with policy keep.")
        raise ValidationFailed(details={"reservation_id": [message]})
    with transaction.atomic():
        seat = seat_lock(seat_id)
        active = list(Reservation.objects.active().for_seat(seat).by_stamp())
        if len(active) < 2:
            raise NoConflict(seat_id=seat.pk, active=len(active))
        conflict = Conflict(seat.pk, active)
        if policy == Policy.EARLIEST_TIMESTAMP:
            kept = conflict.winner
        elif policy == Policy.TRUE_ORDER:
            kept = conflict.true_first
        else:
            wanted = parse_id(reservation_id)
            chosen = next((r for r in active if r.pk == wanted), None)
            if chosen is None:
                message = _(
                    "Reservation %(id)s is not one of seat %(seat_id)s's conflicting reservations (%(ids)s)."
                ) % {
                    "id": reservation_id,
                    "seat_id": seat.pk,
                    "ids": ", ".join(str(r.pk) for r in active),
                }
                raise ValidationFailed(details={"reservation_id": [message]})
            kept = chosen
        fair = kept.pk == conflict.true_first.pk
        bumped = [r for r in active if r.pk != kept.pk]
        now = clock.reference_now()
        for r in bumped:
            r.status, r.bumped_at = Reservation.Status.BUMPED, now
        Reservation.objects.bulk_update(bumped, ["status", "bumped_at"])
        events.publish(ConflictResolved(seat.pk, policy, kept, tuple(bumped), fair))
    return Resolution(seat_id=seat.pk, policy=policy, kept=kept, bumped=bumped, fair=fair)


@transaction.atomic
def venue_replace(*, rows: int, seats_per_row: int, force: bool = False) -> int:
    """Replace the venue with ``rows`` × ``seats_per_row`` seats.

    Refuses (``VenueHasReservations``, 409) while reservations exist, unless ``force``: then they
    are deleted first (the only hard delete of reservations).  Returns the number of seats.
    """
    if force:
        Reservation.objects.all().delete()
    return venue_seed(rows=rows, seats_per_row=seats_per_row)
