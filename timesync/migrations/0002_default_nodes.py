from django.db import migrations

DEFAULT_NODES = ["server-1", "server-2", "server-3", "server-4", "server-5"]


def create_nodes(apps, schema_editor):
    ServerNode = apps.get_model("timesync", "ServerNode")
    for server_id in DEFAULT_NODES:
        ServerNode.objects.get_or_create(server_id=server_id)


def delete_nodes(apps, schema_editor):
    ServerNode = apps.get_model("timesync", "ServerNode")
    ServerNode.objects.filter(server_id__in=DEFAULT_NODES, reservations__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("timesync", "0001_initial")]
    operations = [migrations.RunPython(create_nodes, delete_nodes)]
