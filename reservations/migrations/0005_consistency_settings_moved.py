"""The consistency mode now lives in ``timesync`` (copied there by ``timesync.0003``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0004_reservation_bumped"),
        ("timesync", "0003_consistencysettings"),
    ]

    operations = [migrations.DeleteModel(name="ConsistencySettings")]
