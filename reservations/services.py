"""Reserving and cancelling seats: the clock-skew rule of DESIGN §2 lives here, once.

Everything that reserves (API, page, admin, load generator, experiments) calls
:func:`reservation_create`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from reservation_site.api_fields import iso_utc
from reservation_site.errors import ValidationFailed
from seats.errors import SeatNotFound
from seats.models import Seat
from seats.selectors import parse_id
from timesync import clock
from timesync.errors import TimeDriftDetected
from timesync.models import ServerNode
from timesync.selectors import node_get

from . import consistency, events
from .consistency import Mode
from .errors import InvalidConsistencyMode, NoConflict, ReservationNotFound, SeatAlreadyReserved
from .models import ConsistencySettings, Reservation
from .selectors import Conflict


@dataclass(frozen=True)
class ReservationOutcome:
    reservation: Reservation
    conflict_detected: bool
    # The seat's other active reservations, which the node could not see (stamped in its future).
    hidden: tuple[Reservation, ...] = ()


def reservation_create(
    *, seat_id: int, customer_name: str, server_id: str = "server-1", mode: str | None = None
) -> ReservationOutcome:
    """Reserve ``seat_id`` through node ``server_id`` as that node's clock sees the world.

    In one transaction with the seat row locked: read the node's clock once (``t_node``) and
    true time (``t_true``); the node sees the seat's active reservations stamped up to the
    horizon of the consistency ``mode`` (default: the cluster's current mode) — ``t_node``
    in ``naive``, ``t_node + MAX_CLOCK_OFFSET`` in ``bounded``, everything in
    ``serializable``.  If it sees one: ``SeatAlreadyReserved``.  In ``bounded`` a node too
    far from the median clock is fenced: ``TimeDriftDetected`` (503), nothing written.
    Otherwise insert with ``created_at = t_node`` and ``recorded_at = t_true``; if the seat
    has active reservations the node could not see, the new one is in conflict.
    """
    with transaction.atomic():
        pk = parse_id(seat_id)
        locking = Seat.objects.select_for_update().filter(pk=pk)
        seat = consistency.with_cluster_mode(locking).first() if pk is not None else None
        if seat is None:
            raise SeatNotFound(seat_id)
        node = node_get(server_id)
        mode = consistency.mode_of(seat) if mode is None else Mode(mode)

        t_true = clock.reference_now()
        if mode == Mode.BOUNDED:
            fence = consistency.node_fences(ServerNode.objects.all(), at=t_true)[node.pk]
            if fence.fenced:
                raise node_fenced_error(fence)
        offset = clock.offset_at(node, t_true)
        t_node = clock.node_now(node, at=t_true)

        active = list(
            Reservation.objects.filter(seat=seat, status=Reservation.Status.ACTIVE).order_by("created_at", "id")
        )
        horizon = consistency.visibility_horizon(mode, t_node)
        visible = [r for r in active if horizon is None or r.created_at <= horizon]
        if visible:
            holder = visible[0]
            raise SeatAlreadyReserved(seat_id=seat.pk, existing_id=holder.pk, existing_name=holder.customer_name)

        reservation = Reservation.objects.create(
            seat=seat,
            node=node,
            customer_name=customer_name,
            created_at=t_node,
            recorded_at=t_true,
            node_offset=offset,
            conflict_detected=bool(active),
        )
        _announce_created(reservation, active)
    return ReservationOutcome(reservation=reservation, conflict_detected=bool(active), hidden=tuple(active))


def node_fenced_error(fence: consistency.Fence) -> TimeDriftDetected:
    return TimeDriftDetected(
        _(
            "%(server_id)s is fenced: its clock is %(deviation).3f s from the median of the nodes, "
            "beyond the %(limit).3f s allowed; sync it to write again"
        )
        % {"server_id": fence.server_id, "deviation": fence.deviation_seconds, "limit": fence.limit_seconds},
        details={
            "server_id": fence.server_id,
            "offset_seconds": fence.offset_seconds,
            "median_offset_seconds": fence.median_seconds,
            "deviation_seconds": fence.deviation_seconds,
            "limit_seconds": fence.limit_seconds,
        },
    )


@transaction.atomic
def consistency_mode_set(mode: str) -> str:
    """Switch every node to consistency ``mode``; announces ``consistency_mode_changed``.

    An unknown mode raises ``InvalidConsistencyMode`` (400 ``VALIDATION_ERROR``), nothing written.
    """
    if not isinstance(mode, str) or mode not in Mode.values:
        raise InvalidConsistencyMode(mode, Mode.values)
    mode = Mode(mode)
    ConsistencySettings.objects.update_or_create(pk=1, defaults={"mode": mode, "updated_at": clock.reference_now()})
    events.publish(
        "time_sync",
        "consistency_mode_changed",
        {
            "mode": mode.value,
            "max_clock_offset_seconds": consistency.max_clock_offset(),
            "fence_limit_seconds": consistency.fence_limit(),
        },
    )
    return mode.value


def _announce_created(reservation: Reservation, hidden: list[Reservation]) -> None:
    events.publish("reservations", "reservation_created", reservation_event_data(reservation))
    if hidden:
        everyone = sorted([*hidden, reservation], key=lambda r: (r.created_at, r.pk))
        events.publish("conflicts", "conflict_detected", conflict_event_data(Conflict(reservation.seat_id, everyone)))


def conflict_event_data(conflict: Conflict) -> dict:
    """The spec's ``conflict_detected`` data (``seat_id``, ``reservations [{id, customer_name}]``) plus,
    additively, each reservation's stamps and reason, ``fair`` and the ``explanation`` lines.

    Broadcast to every subscriber, so written in the site's default language.
    """
    with translation.override(settings.LANGUAGE_CODE):
        reasons = conflict.reasons
        explanation = conflict.explanation
    return {
        "seat_id": conflict.seat_id,
        "reservations": [
            {**reservation_stamps(r), "node_offset_seconds": r.node_offset, "reason": reasons[r.pk]}
            for r in conflict.reservations
        ],
        "winner_id": conflict.winner.pk,
        "true_first_id": conflict.true_first.pk,
        "fair": conflict.fair,
        "explanation": explanation,
    }


def reservation_stamps(reservation: Reservation) -> dict:
    """A reservation as live events and the page show it: the spec's fields (no seat) plus,
    additively, ``recorded_at`` (true time)."""
    return {
        "id": reservation.pk,
        "customer_name": reservation.customer_name,
        "server_id": reservation.node_id,
        "created_at": iso_utc(reservation.created_at),
        "recorded_at": iso_utc(reservation.recorded_at),
    }


def reservation_event_data(reservation: Reservation) -> dict:
    """The spec's reservation shape for live events, plus ``recorded_at`` (true time, additive)."""
    return {**reservation_stamps(reservation), "seat_id": reservation.seat_id}


@transaction.atomic
def reservation_cancel(*, reservation_id: int | str) -> Reservation:
    """Cancel an active reservation (soft delete: status ``cancelled``, ``cancelled_at`` set)."""
    pk = parse_id(reservation_id)
    reservation = (
        Reservation.objects.select_for_update().filter(pk=pk, status=Reservation.Status.ACTIVE).first()
        if pk is not None
        else None
    )
    if reservation is None:
        raise ReservationNotFound(reservation_id)
    reservation.status = Reservation.Status.CANCELLED
    reservation.cancelled_at = clock.reference_now()
    reservation.save(update_fields=["status", "cancelled_at"])
    events.publish(
        "reservations",
        "reservation_cancelled",
        {"id": reservation.pk, "seat_id": reservation.seat_id, "server_id": reservation.node_id},
    )
    return reservation


class Policy:
    """How :func:`conflict_resolve` picks the reservation that keeps the seat."""

    EARLIEST_TIMESTAMP = "earliest_timestamp"  # min (created_at, id): what the seat map shows as holder
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
        pk = parse_id(seat_id)
        seat = Seat.objects.select_for_update().filter(pk=pk).first() if pk is not None else None
        if seat is None:
            raise SeatNotFound(seat_id)
        active = list(
            Reservation.objects.select_for_update()
            .filter(seat=seat, status=Reservation.Status.ACTIVE)
            .order_by("created_at", "id")
        )
        if len(active) < 2:
            raise NoConflict(seat_id=seat.pk, active=len(active))
        conflict = Conflict(seat.pk, active)
        if policy == Policy.EARLIEST_TIMESTAMP:
            kept = conflict.winner
        elif policy == Policy.TRUE_ORDER:
            kept = conflict.true_first
        else:
            wanted = parse_id(reservation_id)
            kept = next((r for r in active if r.pk == wanted), None)
            if kept is None:
                message = _(
                    "Reservation %(id)s is not one of seat %(seat_id)s's conflicting reservations (%(ids)s)."
                ) % {
                    "id": reservation_id,
                    "seat_id": seat.pk,
                    "ids": ", ".join(str(r.pk) for r in active),
                }
                raise ValidationFailed(details={"reservation_id": [message]})
        fair = kept.pk == conflict.true_first.pk
        bumped = [r for r in active if r.pk != kept.pk]
        now = clock.reference_now()
        for r in bumped:
            r.status, r.bumped_at = Reservation.Status.BUMPED, now
        Reservation.objects.bulk_update(bumped, ["status", "bumped_at"])
        events.publish(
            "conflicts",
            "conflict_resolved",
            {
                "seat_id": seat.pk,
                "policy": policy,
                "kept_id": kept.pk,
                "bumped_ids": [r.pk for r in bumped],
                "fair": fair,
            },
        )
    return Resolution(seat_id=seat.pk, policy=policy, kept=kept, bumped=bumped, fair=fair)
