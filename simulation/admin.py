from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from history.actors import Actor

from .models import Scenario, ScenarioOffset
from .services import scenario_apply


class ScenarioOffsetInline(admin.TabularInline):
    model = ScenarioOffset
    fields = ["node", "offset_seconds", "drift_ppm"]
    extra = 1


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "builtin", "offsets_summary"]
    list_filter = ["builtin"]
    search_fields = ["name", "description"]
    readonly_fields = ["builtin"]
    inlines = [ScenarioOffsetInline]
    actions = ["apply"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("offsets")

    @admin.display(description=_("offsets"))
    def offsets_summary(self, scenario) -> str:
        parts = []
        for o in scenario.offsets.all():
            drift = f" {o.drift_ppm:+g}ppm" if o.drift_ppm else ""
            parts.append(f"{o.node_id} {o.offset_seconds:+g}s{drift}")
        return ", ".join(parts) or "-"

    @admin.action(description=_("Apply the selected scenario to the nodes"))
    def apply(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one scenario to apply."), messages.ERROR)
            return
        try:
            scenario, applied = scenario_apply(name=queryset.get().name, actor=Actor.of_user(request.user))
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        summary = ", ".join(f"{k} {v:+g}s" for k, v in applied.items()) or "-"
        self.message_user(
            request,
            _("Scenario %(name)s applied: %(offsets)s; other nodes back to 0.")
            % {"name": scenario.name, "offsets": summary},
            messages.SUCCESS,
        )
