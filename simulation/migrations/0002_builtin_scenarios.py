from django.db import migrations

# The spec's three scenarios (api-spec-fr.md, GET /api/simulation/scenarios).
BUILTIN = {
    "minor_drift": ("Dérive temporelle mineure", {"server-1": 0.0, "server-2": -1.0, "server-3": 0.5}),
    "major_drift": (
        "Dérive temporelle majeure",
        {"server-1": 0.0, "server-2": -10.0, "server-3": 5.0, "server-4": -3.0},
    ),
    "extreme_drift": (
        "Dérive temporelle extrême",
        {"server-1": 0.0, "server-2": -30.0, "server-3": 15.0, "server-4": -8.0, "server-5": 12.0},
    ),
}


def create_scenarios(apps, schema_editor):
    Scenario = apps.get_model("simulation", "Scenario")
    ScenarioOffset = apps.get_model("simulation", "ScenarioOffset")
    ServerNode = apps.get_model("timesync", "ServerNode")
    for name, (description, offsets) in BUILTIN.items():
        scenario, _ = Scenario.objects.get_or_create(name=name, defaults={"description": description, "builtin": True})
        for server_id, offset in offsets.items():
            node, _ = ServerNode.objects.get_or_create(server_id=server_id)
            ScenarioOffset.objects.update_or_create(scenario=scenario, node=node, defaults={"offset_seconds": offset})


def delete_scenarios(apps, schema_editor):
    Scenario = apps.get_model("simulation", "Scenario")
    Scenario.objects.filter(name__in=BUILTIN, builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("simulation", "0001_initial"),
        ("timesync", "0002_default_nodes"),
    ]
    operations = [migrations.RunPython(create_scenarios, delete_scenarios)]
