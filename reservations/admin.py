from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import DomainError
from core.timefmt import shown_instant, shown_seconds
from history.actors import Actor
from seats.models import Seat

from .models import Hold, Reservation
from .selectors import holds_seen
from .services import Policy, conflict_resolve, hold_release, reservation_cancel


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
        "seat_history",
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

    @admin.display(description=_("history of its seat"))
    def seat_history(self, reservation):
        """The audit trail of the seat: who reserved, cancelled, held, bumped it, and when."""
        url = reverse("admin:history_operation_changelist") + f"?q={reservation.seat_id}"
        return format_html('<a href="{}">{}</a>', url, _("operations on seat %(seat)s") % {"seat": reservation.seat})

    @admin.action(description=_("Cancel selected reservations"))
    def cancel(self, request, queryset):
        cancelled = 0
        for reservation in queryset.active().order_by("id"):
            try:
                reservation_cancel(reservation_id=reservation.pk, actor=Actor.of_user(request.user))
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
                    seat_id=seat_id,
                    policy=policy,
                    reservation_id=keep.get(seat_id) if keep else None,
                    actor=Actor.of_user(request.user),
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


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin):
    """Seat holds (DESIGN §7): read-only; the one write is "release", through ``hold_release``.
    ``live on`` lists the nodes whose clocks still judge the hold live right now — a hold live on
    some nodes only, or after its true end, is what skew does to holds."""

    list_display = [
        "id",
        "seat",
        "customer_name",
        "node",
        "created_at",
        "expires_at",
        "true_expires_at",
        "status",
        "live_on",
    ]
    list_filter = ["status", "node", ("seat", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["customer_name", "=id", "node__server_id"]
    list_select_related = ["seat", "node"]
    readonly_fields = [
        "seat",
        "node",
        "customer_name",
        "ttl_seconds",
        "created_at",
        "expires_at",
        "recorded_at",
        "true_expires_at",
        "node_offset",
        "status",
        "confirmed_at",
        "released_at",
        "reservation",
        "live_on",
    ]
    fields = readonly_fields
    actions = ["release"]
    date_hierarchy = "recorded_at"

    def changelist_view(self, request, extra_context=None):
        self._seen = holds_seen()  # every node's clock read once for the whole page
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("live on (now)"))
    def live_on(self, hold) -> str:
        if hold.status != Hold.Status.ACTIVE:
            return "—"
        seen = getattr(self, "_seen", None) or holds_seen()
        nodes = [server_id for server_id, view in seen.views.items() if view.hold_live(hold)]
        return ", ".join(nodes) or _("no node")

    @admin.action(description=_("Release selected holds"))
    def release(self, request, queryset):
        released = 0
        for hold in queryset.filter(status=Hold.Status.ACTIVE).order_by("id"):
            try:
                hold_release(hold_id=hold.pk, actor=Actor.of_user(request.user))
            except DomainError as exc:  # confirmed or released meanwhile
                self.message_user(request, exc.message, messages.WARNING)
            else:
                released += 1
        self.message_user(
            request,
            ngettext("%(n)d hold released.", "%(n)d holds released.", released) % {"n": released},
            messages.SUCCESS,
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
