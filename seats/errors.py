from django.utils.translation import gettext as _

from core.errors import DomainError
from core.ids import id_detail, shown


class SeatNotFound(DomainError):
    code, status = "SEAT_NOT_FOUND", 404

    def __init__(self, seat_id: object) -> None:
        super().__init__(
            _("Seat %(seat_id)s not found") % {"seat_id": shown(seat_id)}, details={"seat_id": id_detail(seat_id)}
        )


class VenueHasReservations(DomainError):
    code, status = "VENUE_HAS_RESERVATIONS", 409

    def __init__(self, count: int) -> None:
        super().__init__(
            _("The venue has %(count)d reservations; refusing to replace it") % {"count": count},
            details={"reservations": count},
        )
