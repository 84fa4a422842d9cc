"""The consistency mode moves from ``reservations`` to ``timesync`` (it is the cluster's clock
discipline: fencing, uncertainty).  The row is copied from the old table when it exists;
``reservations.0005`` then drops the old model."""

from django.db import migrations, models

OLD_TABLE = "reservations_consistencysettings"


def copy_mode(apps, schema_editor):
    ConsistencySettings = apps.get_model("timesync", "ConsistencySettings")
    mode = "naive"
    connection = schema_editor.connection
    if OLD_TABLE in connection.introspection.table_names():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT mode FROM {connection.ops.quote_name(OLD_TABLE)} WHERE id = 1")
            row = cursor.fetchone()
        if row:
            mode = row[0]
    ConsistencySettings.objects.update_or_create(pk=1, defaults={"mode": mode})


class Migration(migrations.Migration):
    dependencies = [
        ("timesync", "0002_default_nodes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConsistencySettings",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                (
                    "mode",
                    models.CharField(
                        choices=[("naive", "naive"), ("bounded", "bounded"), ("serializable", "serializable")],
                        default="naive",
                        max_length=12,
                    ),
                ),
                ("updated_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "consistency mode",
                "verbose_name_plural": "consistency mode",
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="consistency_settings_singleton")
                ],
            },
        ),
        migrations.RunPython(copy_mode, migrations.RunPython.noop),
    ]
