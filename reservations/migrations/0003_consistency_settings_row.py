from django.db import migrations


def create_row(apps, schema_editor):
    """The one settings row (pk 1), so the admin always has the mode to edit."""
    ConsistencySettings = apps.get_model("reservations", "ConsistencySettings")
    ConsistencySettings.objects.get_or_create(pk=1, defaults={"mode": "naive"})


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0002_consistency_settings"),
    ]

    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
