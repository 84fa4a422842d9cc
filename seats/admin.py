from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from reservations.models import Reservation

from .models import Seat


def _active_reservations():
    return Reservation.objects.filter(seat=OuterRef("pk"), status=Reservation.Status.ACTIVE)


class AvailabilityFilter(admin.SimpleListFilter):
    title = _("availability")
    parameter_name = "available"

    def lookups(self, request, model_admin):
        return [("yes", _("Available")), ("no", _("Reserved"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(is_reserved=False)
        if self.value() == "no":
            return queryset.filter(is_reserved=True)
        return queryset


@admin.register(Seat)
class SeatAdmin(admin.ModelAdmin):
    """The venue.  Seats are created by ``manage.py seed_venue``; the admin only looks."""

    list_display = ["__str__", "row", "number", "is_available"]
    list_filter = ["row", AvailabilityFilter]
    search_fields = ["row"]
    readonly_fields = ["row", "number"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(is_reserved=Exists(_active_reservations()))

    @admin.display(boolean=True, description=_("available"), ordering="is_reserved")
    def is_available(self, seat) -> bool:
        return not seat.is_reserved

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
