from core.commands import ServiceCommand
from core.timefmt import shown_seconds
from simulation.selectors import scenario_list


class Command(ServiceCommand):
    help = "List the stored drift scenarios with their per-node offsets and drifts."

    def handle(self, *args, **options):
        for scenario in scenario_list():
            builtin = " (built-in)" if scenario.builtin else ""
            self.stdout.write(self.style.MIGRATE_HEADING(f"{scenario.name}{builtin}: {scenario.description}"))
            for o in scenario.offsets.all():
                drift = f"  drift {o.drift_ppm:+g} ppm" if o.drift_ppm else ""
                self.stdout.write(f"  {o.node_id:<12} {shown_seconds(o.offset_seconds):>14} s{drift}")
