from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from core.errors import DomainError
from core.ids import id_detail, shown
from core.permissions import Audience


class SeatAlreadyReserved(DomainError):
    """409: the node sees the seat taken; ``details.existing_reservation`` names the holder, as
    the reader's audience may see the name (``reservations.shapes.customer_name``)."""

    code, status = "SEAT_ALREADY_RESERVED", 409

    def __init__(self, *, seat_id: int, existing_id: int, existing_name: str) -> None:
        self.existing_name = existing_name
        super().__init__(
            _("Seat %(seat_id)s is already reserved") % {"seat_id": seat_id},
            details={
                "seat_id": seat_id,
                "existing_reservation": {"id": existing_id, "customer_name": existing_name},
            },
        )

    def details_for(self, audience: Audience) -> dict[str, Any]:
        from .shapes import customer_name  # shapes import the selectors, which import this module

        holder = {**self.details["existing_reservation"], "customer_name": customer_name(self.existing_name, audience)}
        return {**self.details, "existing_reservation": holder}


class InvalidCancelToken(DomainError):
    """403: cancelling needs the reservation's cancel token (``X-Cancel-Token``) or a staff user."""

    code, status = "INVALID_CANCEL_TOKEN", 403

    def __init__(self, reservation_id: int) -> None:
        super().__init__(
            _(
                "Cancelling reservation %(id)s needs the cancel token returned when it was made "
                "(header X-Cancel-Token) or a staff user"
            )
            % {"id": reservation_id},
            details={"reservation_id": reservation_id},
        )


class ReservationNotFound(DomainError):
    code, status = "RESERVATION_NOT_FOUND", 404

    def __init__(self, reservation_id: object) -> None:
        super().__init__(
            _("Reservation %(id)s not found") % {"id": shown(reservation_id)},
            details={"reservation_id": id_detail(reservation_id)},
        )


class NoConflict(DomainError):
    """Resolving a seat that is not double-booked (409 ``NO_CONFLICT``)."""

    code, status = "NO_CONFLICT", 409

    def __init__(self, *, seat_id: int, active: int) -> None:
        super().__init__(
            _("Seat %(seat_id)s has no conflict to resolve (%(n)s active reservation(s))")
            % {"seat_id": seat_id, "n": active},
            details={"seat_id": seat_id, "active_reservations": active},
        )


class SeatHeld(DomainError):
    """The node sees a live hold on the seat (409 ``SEAT_HELD``, DESIGN §7): another customer's,
    not expired on this node's clock."""

    code, status = "SEAT_HELD", 409

    def __init__(self, *, seat_id: int, hold: dict[str, object], server_id: str, node_time: str) -> None:
        super().__init__(
            _("Seat %(seat_id)s is held by another customer") % {"seat_id": seat_id},
            details={"seat_id": seat_id, "hold": hold, "server_id": server_id, "node_time": node_time},
        )


class HoldExpired(DomainError):
    """The confirming node judges the hold expired (409 ``HOLD_EXPIRED``): its clock is at or past
    the hold's ``expires_at`` (which the holding node stamped)."""

    code, status = "HOLD_EXPIRED", 409

    def __init__(self, *, hold_id: int, seat_id: int, expires_at: str, server_id: str, node_time: str) -> None:
        super().__init__(
            _("The hold on seat %(seat_id)s has expired on %(server_id)s's clock")
            % {"seat_id": seat_id, "server_id": server_id},
            details={
                "hold_id": hold_id,
                "seat_id": seat_id,
                "expires_at": expires_at,
                "server_id": server_id,
                "node_time": node_time,
            },
        )


class HoldNotFound(DomainError):
    """No active hold has this token: unknown, already confirmed or released (404)."""

    code, status = "HOLD_NOT_FOUND", 404

    def __init__(self, *, status: str | None = None) -> None:
        message = (
            _("This hold is no longer active (%(status)s)") % {"status": status}
            if status
            else _("No hold has this token")
        )
        super().__init__(message, details={"status": status} if status else {})
