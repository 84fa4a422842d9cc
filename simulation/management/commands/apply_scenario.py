from django.core.management.base import CommandParser

from core.commands import ServiceCommand
from core.timefmt import shown_seconds
from history.actors import Actor
from simulation.selectors import scenario_names
from simulation.services import scenario_apply


class Command(ServiceCommand):
    help = "Set every node to a scenario's offsets (nodes it does not list go back to 0). See list_scenarios."
    valid_names = {"SCENARIO_NOT_FOUND": scenario_names}

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME", help="Scenario name, e.g. major_drift.")

    def handle(self, *args, name, **options):
        scenario, applied = scenario_apply(name=name, actor=Actor.system("apply_scenario"))
        self.stdout.write(self.style.SUCCESS(f"Scenario {scenario.name} applied."))
        for server_id, offset in applied.items():
            self.stdout.write(f"  {server_id:<12} {shown_seconds(offset):>14} s")
        self.stdout.write("  (every other node: 0)")
