"""Reserving, cancelling and settling seats: the clock-skew rule of DESIGN §2 lives here, once.

Everything that reserves (API, page, admin, load generator, experiments) calls
:func:`reservation_create`.  Every write to a seat's reservations takes the seat's row lock
first (:func:`seats.locks.seat_lock`), so the seat lock alone orders them.  Services return
outcomes and publish domain events (:mod:`reservations.events`); rendering is
:mod:`reservations.shapes`' job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext as _

from core import events, tokens
from core.errors import ValidationFailed
from core.ids import parse_id
from core.timefmt import iso_utc
from history.actors import Actor
from history.recording import OperationRecorder, operation
from seats.locks import seat_lock, seats_lock
from seats.services import venue_seed
from timesync import clock
from timesync.consistency import Mode

from .access import SeatState, row_insert, seat_state_lock, seat_transaction
from .errors import (
    HoldExpired,
    HoldNotFound,
    InvalidCancelToken,
    NoConflict,
    ReservationNotFound,
    SeatAlreadyReserved,
    SeatHeld,
)
from .events import (
    ConflictDetected,
    ConflictResolved,
    HoldConfirmed,
    HoldCreated,
    HoldReleased,
    HoldsCleared,
    ReservationCancelled,
    ReservationCreated,
    ReservationsCleared,
)
from .models import Hold, Reservation, holder_of
from .selectors import Conflict, hold_get, hold_get_by_token, reservation_get
from .visibility import HoldStamps, NodeView, Stamped, acknowledge, node_view


@dataclass(frozen=True)
class ReservationOutcome:
    reservation: Reservation
    conflict_detected: bool
    # The seat's other active reservations, which the node could not see (stamped in its future).
    hidden: tuple[Reservation, ...] = ()
    # Shown to the customer once (DESIGN §6); only its digest is stored.
    cancel_token: str = ""


def reservation_create(
    *,
    seat_id: int,
    customer_name: str,
    server_id: str = "server-1",
    mode: str | None = None,
    actor: Actor | None = None,
) -> ReservationOutcome:
    """Reserve ``seat_id`` through node ``server_id`` as that node's clock sees the world.

    In one transaction with the seat row locked: read the node's clock once under the
    consistency ``mode`` (default: the cluster's current mode; DESIGN §2b,
    :func:`reservations.visibility.node_view`); the node sees the seat's active reservations and
    holds as the mode says.  If it sees a reservation: ``SeatAlreadyReserved`` (409); a hold live
    on its clock: ``SeatHeld`` (409).  A node the mode refuses (``bounded``: fenced;
    ``commit_wait``: ε unbounded or too large) raises ``TimeDriftDetected`` (503), nothing
    written.  Otherwise insert with ``created_at`` = the node's stamp and ``recorded_at`` = true
    time; if the seat has active reservations the node could not see, the new one is in
    conflict.  In ``commit_wait`` the answer (and the seat lock) waits until the node's clock
    minus ε has passed the stamp.  The outcome carries the reservation's cancel token
    (only its digest is stored).  Appended to the history (``reserve``) by ``actor``, refusals
    included.

    Raises ``SeatNotFound`` (404), ``InvalidServerId`` (400), ``LockTimeout`` (409).
    """
    args = {"seat_id": seat_id, "customer_name": customer_name, "server_id": server_id}
    with operation("reserve", clock.reference_now, actor=actor, args=args) as op, seat_transaction():
        state = seat_state_lock(seat_id, server_id)
        view = _decide(op, state, mode)
        active = state.active
        seat_refuse_if_taken(state.seat.pk, view, active, state.holds, server_id=state.node.pk)

        cancel_token, cancel_token_digest = tokens.new_token()
        reservation = Reservation(
            seat=state.seat,
            node=state.node,
            customer_name=customer_name,
            created_at=view.stamp,
            recorded_at=view.t_true,
            node_offset=view.offset,
            conflict_detected=bool(active),
            cancel_token_digest=cancel_token_digest,
        )
        # The wait first: the history's completed_at is read when its row is written.
        acknowledge(view)
        row_insert(reservation, op, sale_value(reservation, active), id_key="reservation_id")
        events.publish(ReservationCreated(reservation, hidden=tuple(active)))
        if active:
            events.publish(ConflictDetected.of([*active, reservation]))
    return ReservationOutcome(
        reservation=reservation, conflict_detected=bool(active), hidden=tuple(active), cancel_token=cancel_token
    )


def _decide(op: OperationRecorder, state: SeatState, mode: str | None) -> NodeView:
    """Read the node's clock once under ``mode`` (default: the cluster's, read with the seat
    lock) — refusing a fenced or uncertain node — and tell the history what it read."""
    chosen = state.mode if mode is None else Mode(mode)
    t_true = clock.reference_now()
    op.decided(node=state.node.pk, node_time=clock.node_now(state.node, at=t_true), mode=chosen, seat_id=state.seat.pk)
    return node_view(state.node, chosen, at=t_true)


def seat_refuse_if_taken(
    seat_id: int,
    view: NodeView,
    active: Sequence[Stamped],
    holds: Sequence[HoldStamps],
    *,
    server_id: str,
    own_hold: int | None = None,
) -> None:
    """The rule's refusals, once for every way of taking a seat (reserve, hold, confirm): the
    node sees one of the seat's ``active`` reservations (earliest stamp first) —
    ``SeatAlreadyReserved``; or one of its ``holds`` live on its clock (other than
    ``own_hold``, the one being confirmed) — ``SeatHeld``."""
    holder = view.seen_holder(active)
    if holder is not None:
        name = getattr(holder, "customer_name", "")
        raise SeatAlreadyReserved(seat_id=seat_id, existing_id=holder.pk, existing_name=name)
    held = view.seen_hold(holds, other_than=own_hold)
    if held is not None:
        seen = {
            "id": held.pk,
            "server_id": getattr(held, "node_id", None),
            "created_at": iso_utc(held.created_at),
            "expires_at": iso_utc(held.expires_at),
        }
        raise SeatHeld(seat_id=seat_id, hold=seen, server_id=server_id, node_time=iso_utc(view.t_node))


def sale_value(reservation: Reservation, hidden: list[Reservation]) -> dict[str, object]:
    """What the history keeps of a sale: the reservation, its stamps, the ones it could not see."""
    return {
        "reservation_id": reservation.pk,
        "created_at": reservation.created_at,
        "recorded_at": reservation.recorded_at,
        "conflict": bool(hidden),
        "hidden_ids": [r.pk for r in hidden],
    }


def reservation_cancel(
    *,
    reservation_id: int | str,
    cancel_token: str | None = None,
    token_required: bool = False,
    actor: Actor | None = None,
) -> Reservation:
    """Cancel an active reservation (soft delete: status ``cancelled``, ``cancelled_at`` set).

    With ``token_required`` (production, not staff: ``core.permissions.may_cancel_without_token``)
    ``cancel_token`` must be the reservation's (DESIGN §6, pretix's order secret); a token
    given where none is required must be the right one too.

    Raises ``ReservationNotFound`` (404) for an unknown, cancelled or bumped reservation and
    ``InvalidCancelToken`` (403) for a missing or wrong token; nothing changes then.  Appended to
    the history (``cancel``) by ``actor``, a refused token included.
    """
    args = {"reservation_id": reservation_id}
    with operation("cancel", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        found = reservation_get(reservation_id)
        op.decided(seat_id=found.seat_id)
        if (token_required or cancel_token is not None) and not tokens.matches(cancel_token, found.cancel_token_digest):
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
        op.ok(reservation_id=reservation.pk)
        holder = holder_of(r for r in seat_active if r.pk != reservation.pk)
        events.publish(ReservationCancelled(reservation, holder=holder))
    return reservation


@dataclass(frozen=True)
class Clearing:
    """What :func:`reservations_clear` (or :func:`holds_clear`) did: ``count`` rows ended at true time ``at``."""

    count: int
    at: datetime


def reservations_clear(*, actor: Actor | None = None) -> Clearing:
    """Cancel every active reservation (soft delete, as :func:`reservation_cancel`): the seats
    stay, with their ids, and the rows stay for the audit trail.

    Takes the seat lock of every seat holding one, in id order, like any write deciding who holds
    a seat; a reservation committed meanwhile on another seat is ordered after the clearing and
    stays.  Announces ``reservations_cleared`` (one event, not one per reservation).  Appended to
    the history as one ``cancel`` per reservation (the checker must see each sale end).
    """
    with operation("cancel", clock.reference_now, actor=actor, args={"all": True}) as op, transaction.atomic():
        seat_ids = list(Reservation.objects.active().order_by().values_list("seat_id", flat=True).distinct())
        seats_lock(seat_ids)
        now = clock.reference_now()
        cleared = list(Reservation.objects.active().filter(seat_id__in=seat_ids).values_list("pk", "seat_id"))
        count = (
            Reservation.objects.active()
            .filter(seat_id__in=seat_ids)
            .update(status=Reservation.Status.CANCELLED, cancelled_at=now)
        )
        op.ok_per_seat((seat_id, {"reservation_id": pk}) for pk, seat_id in cleared)
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


def conflict_resolve(
    *, seat_id: int | str, policy: str, reservation_id: int | str | None = None, actor: Actor | None = None
) -> Resolution:
    """Settle a double-booked seat: keep one active reservation, *bump* the others.

    In one transaction with the seat row locked.  ``policy``: ``earliest_timestamp`` keeps the
    timestamp winner, ``true_order`` the truly first (``recorded_at``), ``keep`` the given
    ``reservation_id``.  Unknown seat: ``SeatNotFound``; fewer than two active reservations:
    ``NoConflict``; bad policy or a ``reservation_id`` that is not one of the seat's conflicting
    reservations: ``ValidationFailed``.  Nothing changes on error.  Announces
    ``conflict_resolved`` on the conflicts topic; appended to the history (``bump``) by ``actor``.
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
    args = {"seat_id": seat_id, "policy": policy, "reservation_id": reservation_id}
    with operation("bump", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        seat = seat_lock(seat_id)
        op.decided(seat_id=seat.pk)
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
        op.ok(policy=policy, kept_id=kept.pk, bumped_ids=[r.pk for r in bumped], fair=fair)
        events.publish(ConflictResolved(seat.pk, policy, kept, tuple(bumped), fair))
    return Resolution(seat_id=seat.pk, policy=policy, kept=kept, bumped=bumped, fair=fair)


@transaction.atomic
def venue_replace(*, rows: int, seats_per_row: int, force: bool = False) -> int:
    """Replace the venue with ``rows`` × ``seats_per_row`` seats.

    Refuses (``VenueHasReservations``, 409) while reservations exist, unless ``force``: then they
    are deleted first, with every hold (the only hard delete of reservations and holds).
    Returns the number of seats.
    """
    if force:
        Hold.objects.all().delete()
        Reservation.objects.all().delete()
    return venue_seed(rows=rows, seats_per_row=seats_per_row)


# --- Holds (DESIGN §7) ----------------------------------------------------------------------------

#: seats.io's hold tokens: 15 min by default, 2 h at most; DESIGN §7: 600 s by default.
HOLD_TTL_DEFAULT, HOLD_TTL_MAX = 600, 7200


@dataclass(frozen=True)
class HoldOutcome:
    hold: Hold
    token: str  # shown once (the 201); only its hash is stored


def _validate_ttl(ttl_seconds: object) -> int:
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= HOLD_TTL_MAX:
        message = _("Must be a whole number of seconds from 1 to %(max)d.") % {"max": HOLD_TTL_MAX}
        raise ValidationFailed(details={"ttl_seconds": [message]})
    return ttl_seconds


def hold_create(
    *,
    seat_id: int,
    customer_name: str,
    server_id: str = "server-1",
    ttl_seconds: int = HOLD_TTL_DEFAULT,
    mode: str | None = None,
    actor: Actor | None = None,
) -> HoldOutcome:
    """Hold ``seat_id`` for ``ttl_seconds`` through node ``server_id`` (DESIGN §7).

    The same rule as :func:`reservation_create`, under the seat lock: the node refuses a seat
    on which it sees a reservation (``SeatAlreadyReserved``) or a hold live on its clock
    (``SeatHeld``); a node the mode refuses raises ``TimeDriftDetected`` (503).  Otherwise the
    hold is stamped by the node's clock (its stamp: ``t_node``, ``t_node + ε`` in
    ``commit_wait``): ``created_at = stamp``, ``expires_at = stamp + ttl``; true time is kept too
    (``recorded_at``, ``true_expires_at``); in ``commit_wait`` the answer waits out ε.  Returns
    the hold and its token (shown once, stored as a digest: ``core.tokens``).  Appended to the
    history (``hold``).

    Raises ``ValidationFailed`` (ttl outside 1 … 7200 s), ``SeatNotFound``, ``InvalidServerId``.
    """
    ttl = _validate_ttl(ttl_seconds)
    args = {"seat_id": seat_id, "customer_name": customer_name, "server_id": server_id, "ttl_seconds": ttl}
    with operation("hold", clock.reference_now, actor=actor, args=args) as op, seat_transaction():
        state = seat_state_lock(seat_id, server_id)
        view = _decide(op, state, mode)
        seat_refuse_if_taken(state.seat.pk, view, state.active, state.holds, server_id=state.node.pk)

        token, token_digest = tokens.new_token()
        hold = Hold(
            seat=state.seat,
            node=state.node,
            customer_name=customer_name,
            token_hash=token_digest,
            ttl_seconds=ttl,
            created_at=view.stamp,
            expires_at=view.stamp + timedelta(seconds=ttl),
            recorded_at=view.t_true,
            true_expires_at=view.t_true + timedelta(seconds=ttl),
            node_offset=view.offset,
        )
        acknowledge(view)
        value = {
            "created_at": hold.created_at,
            "expires_at": hold.expires_at,
            "recorded_at": hold.recorded_at,
            "true_expires_at": hold.true_expires_at,
        }
        row_insert(hold, op, value, id_key="hold_id")
        events.publish(HoldCreated(hold))
    return HoldOutcome(hold=hold, token=token)


def hold_confirm(
    *, token: str, server_id: str = "server-1", mode: str | None = None, actor: Actor | None = None
) -> ReservationOutcome:
    """Turn a hold into a reservation through node ``server_id`` (DESIGN §7).

    Under the seat lock: the node judges the hold by its own clock — expired
    (``expires_at`` at or before its clock; the mode's :class:`~reservations.visibility.NodeView`
    decides): ``HoldExpired`` (409).  Then the rule of :func:`reservation_create`, the hold
    itself aside: a reservation the node sees (``SeatAlreadyReserved``: the hold was stolen)
    or another live hold (``SeatHeld``) refuses it.  Otherwise a reservation stamped by the
    confirming node's clock, possibly in conflict with reservations it could not see, with its
    cancel token (as ``reservation_create``'s); the hold becomes ``confirmed``.  Appended to the
    history (``confirm``).

    Raises ``HoldNotFound`` (404: unknown token, or the hold already confirmed or released),
    ``InvalidServerId``, ``NodeFenced`` (503, bounded).
    """
    found = hold_get_by_token(token)
    args = {"hold_id": found.pk, "server_id": server_id}
    with operation("confirm", clock.reference_now, actor=actor, args=args) as op, transaction.atomic():
        state = seat_state_lock(found.seat_id, server_id)
        seat, node, holds = state.seat, state.node, state.holds
        hold = next((h for h in holds if h.pk == found.pk), None)
        if hold is None:  # confirmed or released meanwhile (under the lock, the status is settled)
            chosen = state.mode if mode is None else Mode(mode)
            op.decided(node=node.pk, node_time=clock.node_now(node), mode=chosen, seat_id=seat.pk)
            raise HoldNotFound(status=Hold.objects.filter(pk=found.pk).values_list("status", flat=True).first())
        view = _decide(op, state, mode)
        if view.hold_expired(hold):
            raise HoldExpired(
                hold_id=hold.pk,
                seat_id=seat.pk,
                expires_at=iso_utc(hold.expires_at),
                server_id=node.pk,
                node_time=iso_utc(view.t_node),
            )
        active = state.active
        seat_refuse_if_taken(seat.pk, view, active, holds, server_id=node.pk, own_hold=hold.pk)

        cancel_token, cancel_token_digest = tokens.new_token()
        reservation = Reservation.objects.create(
            seat=seat,
            node=node,
            customer_name=hold.customer_name,
            created_at=view.stamp,
            recorded_at=view.t_true,
            node_offset=view.offset,
            conflict_detected=bool(active),
            cancel_token_digest=cancel_token_digest,
        )
        hold.status, hold.confirmed_at, hold.reservation = Hold.Status.CONFIRMED, view.t_true, reservation
        hold.save(update_fields=["status", "confirmed_at", "reservation"])
        acknowledge(view)
        op.ok(hold_id=hold.pk, **sale_value(reservation, active))
        events.publish(HoldConfirmed(hold, reservation))
        events.publish(ReservationCreated(reservation, hidden=tuple(active)))
        if active:
            events.publish(ConflictDetected.of([*active, reservation]))
    return ReservationOutcome(
        reservation=reservation, conflict_detected=bool(active), hidden=tuple(active), cancel_token=cancel_token
    )


def hold_release(*, token: str | None = None, hold_id: int | None = None, actor: Actor | None = None) -> Hold:
    """Release an active hold, by its token (the holder) or its id (an operator, the admin).

    Whatever the clocks say: a hold is released even if some node already judges it expired.
    Raises ``HoldNotFound`` (404) for an unknown token or a hold no longer active.  Appended to
    the history (``release``).
    """
    found = hold_get_by_token(token) if token is not None else hold_get(hold_id)
    with (
        operation("release", clock.reference_now, actor=actor, args={"hold_id": found.pk}) as op,
        transaction.atomic(),
    ):
        seat = seat_lock(found.seat_id)
        op.decided(seat_id=seat.pk)
        hold = Hold.objects.active().filter(pk=found.pk).first()
        if hold is None:
            raise HoldNotFound(status=Hold.objects.filter(pk=found.pk).values_list("status", flat=True).first())
        hold.status, hold.released_at = Hold.Status.RELEASED, clock.reference_now()
        hold.save(update_fields=["status", "released_at"])
        op.ok(hold_id=hold.pk)
        events.publish(HoldReleased(hold))
    return hold


def holds_clear(*, actor: Actor | None = None) -> Clearing:
    """Release every active hold (the demo's reset), under the seat locks of the seats they hold,
    in id order.  Announces ``holds_cleared`` (one event, when there was any hold); appended to
    the history as one ``release`` per hold."""
    with operation("release", clock.reference_now, actor=actor, args={"all": True}) as op, transaction.atomic():
        seat_ids = list(Hold.objects.active().order_by().values_list("seat_id", flat=True).distinct())
        seats_lock(seat_ids)
        now = clock.reference_now()
        released = list(Hold.objects.active().filter(seat_id__in=seat_ids).values_list("pk", "seat_id"))
        count = Hold.objects.active().filter(seat_id__in=seat_ids).update(status=Hold.Status.RELEASED, released_at=now)
        op.ok_per_seat((seat_id, {"hold_id": pk}) for pk, seat_id in released)
        if count:  # nothing to tell the page when no seat was held
            events.publish(HoldsCleared(count=count, at=now))
    return Clearing(count=count, at=now)
