from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from reservation_site.errors import DomainError

from . import consistency
from .models import ConsistencySettings, Reservation
from .services import consistency_mode_set, reservation_cancel


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


@admin.register(ConsistencySettings)
class ConsistencySettingsAdmin(admin.ModelAdmin):
    """The cluster's consistency mode: one row; saving it goes through ``consistency_mode_set``
    (so every process switches and the seat map hears ``consistency_mode_changed``)."""

    list_display = ["mode", "max_clock_offset", "fence_limit", "updated_at"]
    fields = ["mode", "max_clock_offset", "fence_limit", "updated_at"]
    readonly_fields = ["max_clock_offset", "fence_limit", "updated_at"]

    @admin.display(description=_("MAX_CLOCK_OFFSET (s)"))
    def max_clock_offset(self, obj=None) -> str:
        return f"{consistency.max_clock_offset():.3f}"

    @admin.display(description=_("fence limit (s)"))
    def fence_limit(self, obj=None) -> str:
        return f"{consistency.fence_limit():.3f}"

    def changelist_view(self, request, extra_context=None):
        # A singleton: the list is one row, so go straight to it.
        if ConsistencySettings.objects.filter(pk=1).exists():
            return redirect(reverse("admin:reservations_consistencysettings_change", args=[1]))
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        consistency_mode_set(obj.mode)
        obj.refresh_from_db()
        self.message_user(
            request, _("Every node now reserves in %(mode)s mode.") % {"mode": obj.mode}, messages.SUCCESS
        )

    def has_add_permission(self, request):
        return not ConsistencySettings.objects.filter(pk=1).exists()

    def has_delete_permission(self, request, obj=None):
        return False
