from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from reservation_site.errors import DomainError

from .models import Reservation
from .services import reservation_cancel


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    """The audit trail of reservations: read-only; the one write is "cancel" (a soft delete).

    Reservations are created only through ``reservation_create`` (API, page, load
    generator), never here, and never hard-deleted, so the metrics only grow.
    """

    list_display = [
        "id",
        "seat",
        "customer_name",
        "node",
        "created_at",
        "recorded_at",
        "skew",
        "status",
        "conflict_detected",
    ]
    list_filter = [("seat", admin.RelatedOnlyFieldListFilter), "node", "status", "conflict_detected"]
    search_fields = ["customer_name", "=id", "node__server_id"]
    list_select_related = ["seat", "node"]
    readonly_fields = [
        "seat",
        "node",
        "customer_name",
        "created_at",
        "recorded_at",
        "skew",
        "node_offset",
        "conflict_detected",
        "status",
        "cancelled_at",
    ]
    fields = readonly_fields
    actions = ["cancel"]
    date_hierarchy = "recorded_at"

    @admin.display(description=_("skew (s)"))
    def skew(self, reservation) -> str:
        """Node time minus true time: how far this node's stamp was from the truth."""
        return f"{reservation.skew_seconds:+.3f}"

    @admin.action(description=_("Cancel selected reservations"))
    def cancel(self, request, queryset):
        cancelled = 0
        for reservation in queryset.filter(status=Reservation.Status.ACTIVE).order_by("id"):
            try:
                reservation_cancel(reservation_id=reservation.pk)
            except DomainError as exc:  # cancelled meanwhile by someone else
                self.message_user(request, exc.message, messages.WARNING)
            else:
                cancelled += 1
        self.message_user(
            request,
            ngettext("%(n)d reservation cancelled.", "%(n)d reservations cancelled.", cancelled) % {"n": cancelled},
            messages.SUCCESS,
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
