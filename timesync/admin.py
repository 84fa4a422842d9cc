from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, error_text
from core.timefmt import shown_instant, shown_seconds
from history.actors import Actor

from . import clock, consistency
from .models import ConsistencySettings, ServerNode
from .selectors import parse_server_id
from .services import (
    consistency_mode_set,
    drift_bound_message,
    node_offset_remove,
    node_offset_set,
    node_sync,
    offset_bound_message,
    offset_errors,
)


class SetOffsetForm(forms.Form):
    """The offset and drift to inject, refused for the same reasons and in the same words as the
    API (``timesync.services``: finite, within the bounds) rather than "Enter a number."."""

    offset_seconds = forms.FloatField(label=_("Offset (seconds)"), help_text=_("Negative: the node's clock lags."))
    drift_ppm = forms.FloatField(
        label=_("Drift (ppm)"), initial=0.0, required=False, help_text=_("Parts per million; 0 for none.")
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        offset, drift = offset_bound_message(), drift_bound_message()
        self.fields["offset_seconds"].error_messages.update({"invalid": offset, "required": offset})
        self.fields["drift_ppm"].error_messages.update({"invalid": drift})

    def clean(self):
        data = super().clean()
        if "offset_seconds" in data:
            for field, messages in offset_errors(data["offset_seconds"], data.get("drift_ppm") or 0.0).items():
                self.add_error(field, messages)
        return data


@admin.register(ServerNode)
class ServerNodeAdmin(admin.ModelAdmin):
    """The simulated servers.  Clock state is read-only here: it changes only through the
    actions below, which call ``timesync.services`` like the API does."""

    clock_fields = [
        "node_time",
        "current_offset",
        "injected_offset",
        "drift",
        "offset_since",
        "ntp_synced",
        "last_sync",
    ]
    # The list keeps what an operator scans (fits 1440 px); the injected offset is on the page.
    list_display = ["server_id", *(f for f in clock_fields if f != "injected_offset")]
    list_filter = ["ntp_synced"]
    search_fields = ["server_id"]
    actions = ["set_offset", "remove_offset", "sync_now"]
    audit_fields = [
        *clock_fields,
        "last_sync_correction",
        "last_sync_round_trip",
        "last_sync_stratum",
        "last_sync_bound",
        "last_sync_server",
    ]

    def get_fields(self, request, obj=None):
        return ["server_id", *self.audit_fields] if obj else ["server_id"]

    def get_readonly_fields(self, request, obj=None):
        return ["server_id", *self.audit_fields] if obj else []

    def has_delete_permission(self, request, obj=None):
        # Reservations and scenarios point at nodes; removing one would break the audit trail.
        return False

    def get_object(self, request, object_id, from_field=None):
        """The node of a change/history page, or ``None`` (the admin's "does not exist"): the id
        from the URL is checked before it reaches the database (a NUL byte would be a 500)."""
        if from_field is None and parse_server_id(object_id) is None:
            return None
        return super().get_object(request, object_id, from_field)

    @admin.display(description=_("node time (UTC)"))
    def node_time(self, node) -> str:
        return shown_instant(clock.node_now(node))

    @admin.display(description=_("current offset (s)"))
    def current_offset(self, node) -> str:
        return shown_seconds(clock.offset_at(node, clock.reference_now()))

    @admin.display(description=_("injected offset (s)"), ordering="offset_seconds")
    def injected_offset(self, node) -> str:
        """The offset set at ``offset_since`` (the drift adds to it since)."""
        return shown_seconds(node.offset_seconds)

    @admin.display(description=_("drift (ppm)"), ordering="drift_ppm")
    def drift(self, node) -> str:
        return f"{node.drift_ppm:+.3f}"

    @admin.display(description=_("last sync: step (s)"))
    def last_sync_correction(self, node) -> str:
        return shown_seconds(node.last_sync_offset)

    @admin.display(description=_("last sync: round trip (s)"))
    def last_sync_round_trip(self, node) -> str:
        return shown_seconds(node.last_sync_delay, signed=False)

    @admin.display(description=_("last sync: error bound (s)"))
    def last_sync_bound(self, node) -> str:
        return shown_seconds(node.last_sync_error_bound, signed=False)

    def _run(self, request, queryset, service, done_message) -> None:
        done = []
        for node in queryset.order_by("server_id"):
            try:
                service(node)
            except DomainError as exc:
                self.message_user(request, f"{node.server_id}: {error_text(exc)}", messages.ERROR)
            else:
                done.append(node.server_id)
        if done:
            self.message_user(request, done_message % {"nodes": ", ".join(done)}, messages.SUCCESS)

    @admin.action(description=_("Remove offset (back to true time)"))
    def remove_offset(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda node: node_offset_remove(server_id=node.server_id, actor=Actor.of_user(request.user)),
            _("Offset removed: %(nodes)s."),
        )

    @admin.action(description=_("Sync now (NTP)"))
    def sync_now(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda node: node_sync(server_id=node.server_id, actor=Actor.of_user(request.user)),
            _("Synchronised with %(server)s: %%(nodes)s.") % {"server": settings.SEATCLOCK_NTP_SERVER},
        )

    @admin.action(description=_("Set offset…"))
    def set_offset(self, request, queryset):
        """Intermediate page: ask for the offset and drift, then apply them to every selected node."""
        form = SetOffsetForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            offset = form.cleaned_data["offset_seconds"]
            drift = form.cleaned_data.get("drift_ppm") or 0.0
            self._run(
                request,
                queryset,
                lambda node: node_offset_set(
                    server_id=node.server_id, offset_seconds=offset, drift_ppm=drift, actor=Actor.of_user(request.user)
                ),
                _("Offset %(offset)+g s set: %%(nodes)s.") % {"offset": offset},
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Set a clock offset"),
            "opts": self.model._meta,
            "nodes": queryset.order_by("server_id"),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/timesync/servernode/set_offset.html", context)


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
            return redirect(reverse("admin:timesync_consistencysettings_change", args=[1]))
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        consistency_mode_set(obj.mode, actor=Actor.of_user(request.user))
        obj.refresh_from_db()
        self.message_user(
            request, _("Every node now reserves in %(mode)s mode.") % {"mode": obj.mode}, messages.SUCCESS
        )

    def has_add_permission(self, request):
        return not ConsistencySettings.objects.filter(pk=1).exists()

    def has_delete_permission(self, request, obj=None):
        return False
