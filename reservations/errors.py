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
