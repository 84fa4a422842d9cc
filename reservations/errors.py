from django.utils.translation import gettext as _

from core.errors import DomainError
from core.ids import id_detail, shown


class SeatAlreadyReserved(DomainError):
    code, status = "SEAT_ALREADY_RESERVED", 409

    def __init__(self, *, seat_id: int, existing_id: int, existing_name: str) -> None:
        super().__init__(
            _("Seat %(seat_id)s is already reserved") % {"seat_id": seat_id},
            details={
                "seat_id": seat_id,
                "existing_reservation": {"id": existing_id, "customer_name": existing_name},
            },
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
