from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import DomainError
from core.timefmt import shown_instant, shown_seconds
from seats.models import Seat

from .models import Reservation
from .services import Policy, conflict_resolve, reservation_cancel


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    """The audit trail of reservations: read-only; the writes are "cancel" (a soft delete) and
    the conflict resolutions (bump the others), through the same services as the API.

    Reservations are created only through ``reservation_create`` (API, page, load
    generator), never here, and never hard-deleted, so the metrics only grow.
    """

    list_display = [
        "id",
        "seat",
        "customer_name",
        "node",
        "node_stamp",
        "true_instant",
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
        "node_stamp",
        "true_instant",
        "skew",
        "offset_at_write",
        "conflict_detected",
        "status",
        "cancelled_at",
        "bumped_at",
    ]
    fields = readonly_fields
    actions = ["cancel", "resolve_earliest_timestamp", "resolve_true_order", "resolve_keep_selected"]
    date_hierarchy = "recorded_at"

    @admin.display(description=_("created at (node clock, UTC)"), ordering="created_at")
    def node_stamp(self, reservation) -> str:
        """``created_at``: what the writing node's clock read, to the microsecond."""
        return shown_instant(reservation.created_at)

    @admin.display(description=_("recorded at (true time, UTC)"), ordering="recorded_at")
    def true_instant(self, reservation) -> str:
        """``recorded_at``: true time of the write, to the microsecond."""
        return shown_instant(reservation.recorded_at)

    @admin.display(description=_("skew (s)"))
    def skew(self, reservation) -> str:
        """Node time minus true time: how far this node's stamp was from the truth."""
        return shown_seconds(reservation.skew_seconds)

    @admin.display(description=_("node offset at write (s)"))
    def offset_at_write(self, reservation) -> str:
        return shown_seconds(reservation.node_offset)

    @admin.action(description=_("Cancel selected reservations"))
    def cancel(self, request, queryset):
        cancelled = 0
        for reservation in queryset.active().order_by("id"):
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

    def _resolve(self, request, seat_ids, policy, keep=None) -> None:
        for seat_id in sorted(seat_ids):
            try:
                resolution = conflict_resolve(
                    seat_id=seat_id, policy=policy, reservation_id=keep.get(seat_id) if keep else None
                )
            except DomainError as exc:
                detail = "; ".join(str(m) for msgs in exc.details.values() if isinstance(msgs, list) for m in msgs)
                self.message_user(request, f"{exc.message} {detail}".strip(), messages.WARNING)
                continue
            verdict = _("fair: it truly came first") if resolution.fair else _("UNFAIR: it did not truly come first")
            self.message_user(
                request,
                _("Seat %(seat)s: kept #%(kept)s (%(name)s), bumped %(bumped)s — %(verdict)s.")
                % {
                    "seat": resolution.kept.seat,
                    "kept": resolution.kept.pk,
                    "name": resolution.kept.customer_name,
                    "bumped": ", ".join(f"#{r.pk}" for r in resolution.bumped),
                    "verdict": verdict,
                },
                messages.SUCCESS if resolution.fair else messages.WARNING,
            )

    def _selected_seats(self, queryset) -> set[int]:
        return set(queryset.active().values_list("seat_id", flat=True))

    @admin.action(description=_("Resolve their seats' conflicts keeping the earliest timestamp"))
    def resolve_earliest_timestamp(self, request, queryset):
        self._resolve(request, self._selected_seats(queryset), Policy.EARLIEST_TIMESTAMP)

    @admin.action(description=_("Resolve their seats' conflicts keeping the true order (first written)"))
    def resolve_true_order(self, request, queryset):
        self._resolve(request, self._selected_seats(queryset), Policy.TRUE_ORDER)

    @admin.action(description=_("Resolve their seats' conflicts keeping the selected reservation"))
    def resolve_keep_selected(self, request, queryset):
        chosen: dict[int, list[Reservation]] = {}
        for reservation in queryset.active().select_related("seat").order_by("id"):
            chosen.setdefault(reservation.seat_id, []).append(reservation)
        keep = {}
        for seat_id, picked in chosen.items():
            if len(picked) > 1:
                self.message_user(
                    request,
                    _("Seat %(seat)s: select only one reservation to keep; nothing changed there.")
                    % {"seat": picked[0].seat},
                    messages.ERROR,
                )
            else:
                keep[seat_id] = picked[0].pk
        self._resolve(request, set(keep), Policy.KEEP, keep)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _active_reservations():
    return Reservation.objects.active().filter(seat=OuterRef("pk"))


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
    """The venue, with each seat's availability (registered here: who holds a seat is the
    reservations' business).  Seats are created by ``manage.py seed_venue``; the admin only looks."""

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
