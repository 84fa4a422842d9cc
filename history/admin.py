import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import Operation


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    """The audit trail: every operation on a seat or a clock, who asked for it (actor), through
    which node, what that node's clock read, and what came of it.  Read-only: the history is
    appended by the services and never edited ("who cancelled": filter on cancel; "who moved a
    clock": filter on set offset / sync)."""

    list_display = [
        "id",
        "invoked_at",
        "f",
        "outcome",
        "error",
        "seat_id",
        "node",
        "node_time",
        "actor_kind",
        "actor_name",
        "run",
        "latency_ms",
    ]
    list_filter = ["f", "outcome", "actor_kind", "node", "mode", "error"]
    search_fields = ["=seat_id", "actor_name", "=run", "=node", "=id"]
    date_hierarchy = "invoked_at"
    readonly_fields = [
        "f",
        "outcome",
        "error",
        "invoked_at",
        "completed_at",
        "latency_ms",
        "node",
        "node_time",
        "mode",
        "seat_id",
        "actor_kind",
        "actor_name",
        "run",
        "args_json",
        "value_json",
    ]
    fields = readonly_fields

    @admin.display(description=_("latency (ms)"))
    def latency_ms(self, op) -> str:
        return f"{1000 * op.latency_seconds:.1f}"

    @admin.display(description=_("arguments"))
    def args_json(self, op):
        return format_html("<pre>{}</pre>", json.dumps(op.args, indent=2, ensure_ascii=False))

    @admin.display(description=_("result"))
    def value_json(self, op):
        return format_html("<pre>{}</pre>", json.dumps(op.value, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
