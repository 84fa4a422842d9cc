"""Live events about seats (topics ``reservations`` and ``conflicts``), published by
:mod:`reservations.services` after commit; each renders through :mod:`reservations.shapes`.

Every event that changes who holds a seat carries ``holder_id`` (additive): the holder after the
change, by the one holder rule, so the page never recomputes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from core.permissions import Audience
from core.timefmt import iso_utc

from . import shapes
from .models import Hold, Reservation, holder_of
from .selectors import Conflict, seat_conflict


@dataclass(frozen=True)
class ReservationCreated:
    """``reservation_created``: the spec's reservation (plus ``recorded_at``) and ``holder_id``.
    ``hidden`` are the seat's other active reservations, which the writing node could not see."""

    reservation: Reservation
    hidden: tuple[Reservation, ...] = ()
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "reservation_created"

    def data(self, audience: Audience) -> dict[str, Any]:
        holder = holder_of([*self.hidden, self.reservation])
        return {**shapes.reservation(self.reservation, audience=audience), "holder_id": holder.pk if holder else None}


@dataclass(frozen=True)
class ConflictDetected:
    """``conflict_detected``: the spec's ``seat_id`` and ``reservations`` ({id, customer_name} and,
    additively, the rest of the conflict shape), in the site's default language."""

    conflict: Conflict
    topic: ClassVar[str] = "conflicts"
    type: ClassVar[str] = "conflict_detected"

    @classmethod
    def of(cls, reservations: list[Reservation]) -> ConflictDetected:
        return cls(seat_conflict(reservations))

    def data(self, audience: Audience) -> dict[str, Any]:
        return shapes.conflict_broadcast(self.conflict, audience=audience)


@dataclass(frozen=True)
class ReservationCancelled:
    """``reservation_cancelled``: which reservation left which seat, when (``cancelled_at``, true
    time), and the seat's holder now."""

    reservation: Reservation
    holder: Reservation | None
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "reservation_cancelled"

    def data(self, audience: Audience) -> dict[str, Any]:
        r = self.reservation
        return {
            "id": r.pk,
            "seat_id": r.seat_id,
            "server_id": r.node_id,
            "holder_id": self.holder.pk if self.holder else None,
            "cancelled_at": iso_utc(r.cancelled_at) if r.cancelled_at else None,
        }


@dataclass(frozen=True)
class ReservationsCleared:
    """``reservations_cleared``: every active reservation was cancelled at true time ``at``
    (the demo's reset); readers re-read the venue rather than receive one event per seat."""

    count: int
    at: datetime
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "reservations_cleared"

    def data(self, audience: Audience) -> dict[str, Any]:
        return {"cancelled": self.count, "cancelled_at": iso_utc(self.at)}


@dataclass(frozen=True)
class ConflictResolved:
    """``conflict_resolved``: the seat keeps ``kept`` (its holder now); ``bumped`` lost it, at true
    time ``bumped_at``."""

    seat_id: int
    policy: str
    kept: Reservation
    bumped: tuple[Reservation, ...]
    fair: bool
    topic: ClassVar[str] = "conflicts"
    type: ClassVar[str] = "conflict_resolved"

    def data(self, audience: Audience) -> dict[str, Any]:
        return {
            "seat_id": self.seat_id,
            "policy": self.policy,
            "kept_id": self.kept.pk,
            "bumped_ids": [r.pk for r in self.bumped],
            "fair": self.fair,
            "holder_id": self.kept.pk,
            "bumped_at": iso_utc(self.bumped[0].bumped_at) if self.bumped and self.bumped[0].bumped_at else None,
        }


@dataclass(frozen=True)
class HoldCreated:
    """``hold_created``: the hold (never its token), stamped by the holding node's clock."""

    hold: Hold
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "hold_created"

    def data(self, audience: Audience) -> dict[str, Any]:
        return shapes.hold(self.hold, audience=audience)


@dataclass(frozen=True)
class HoldConfirmed:
    """``hold_confirmed``: the hold (status confirmed) and the reservation it became (also
    announced as ``reservation_created``, with the seat's ``holder_id``)."""

    hold: Hold
    reservation: Reservation
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "hold_confirmed"

    def data(self, audience: Audience) -> dict[str, Any]:
        return {
            **shapes.hold(self.hold, audience=audience),
            "reservation": shapes.reservation(self.reservation, audience=audience),
        }


@dataclass(frozen=True)
class HoldReleased:
    """``hold_released``: the hold (status released) no longer holds its seat on any node."""

    hold: Hold
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "hold_released"

    def data(self, audience: Audience) -> dict[str, Any]:
        return shapes.hold(self.hold, audience=audience)


@dataclass(frozen=True)
class HoldsCleared:
    """``holds_cleared``: every active hold was released at true time ``at`` (the demo's reset)."""

    count: int
    at: datetime
    topic: ClassVar[str] = "reservations"
    type: ClassVar[str] = "holds_cleared"

    def data(self, audience: Audience) -> dict[str, Any]:
        return {"released": self.count, "released_at": iso_utc(self.at)}
