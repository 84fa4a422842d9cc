from rest_framework import serializers

from core.fields import InputSerializer, StrictCharField


class TimeStatusSerializer(serializers.Serializer):
    """The spec's TimeStatus, read from a ``timesync.selectors.NodeTime``."""

    server_id = serializers.CharField(source="node.server_id")
    current_time = serializers.DateTimeField(help_text="What the node's clock reads now.")
    ntp_synced = serializers.BooleanField(source="node.ntp_synced")
    offset_seconds = serializers.FloatField(help_text="The node's current offset from true time (drift included).")
    last_sync = serializers.DateTimeField(source="node.last_sync", allow_null=True)


class ServerStatusSerializer(TimeStatusSerializer):
    """TimeStatus plus the drift rate and the figures of the last NTP sync."""

    drift_ppm = serializers.FloatField(source="node.drift_ppm")
    offset_since = serializers.DateTimeField(
        source="node.offset_since",
        allow_null=True,
        help_text="True time the offset and drift were last set (operator, scenario or sync); null if never.",
    )
    last_sync_offset_seconds = serializers.FloatField(source="node.last_sync_offset", allow_null=True)
    last_sync_delay_seconds = serializers.FloatField(source="node.last_sync_delay", allow_null=True)
    last_sync_stratum = serializers.IntegerField(source="node.last_sync_stratum", allow_null=True)
    last_sync_error_bound_seconds = serializers.FloatField(source="node.last_sync_error_bound", allow_null=True)
    last_sync_ntp_server = serializers.SerializerMethodField(help_text="NTP server of the last sync, or null.")

    def get_last_sync_ntp_server(self, obj) -> str | None:
        return obj.node.last_sync_server or None


class ServerFenceStatusSerializer(ServerStatusSerializer):
    """A node in ``/api/time/servers``: its status plus how far it is from the other clocks."""

    deviation_seconds = serializers.FloatField(help_text="offset_seconds minus the median offset of all nodes.")
    fenced = serializers.BooleanField(
        help_text="|deviation_seconds| > fence_limit_seconds. Computed in every mode; enforced (writes refused "
        "with 503 TIME_DRIFT_DETECTED) only when consistency_mode is bounded."
    )
    uncertainty_seconds = serializers.FloatField(
        allow_null=True,
        help_text="ε: the last sync's error bound plus assumed_drift_ppm × the time since it (commit_wait, "
        "Spanner's TrueTime). Null: never synced, unbounded.",
    )
    commit_wait_seconds = serializers.FloatField(
        allow_null=True, help_text="2ε: how long a write through this node waits in commit_wait mode."
    )
    uncertainty_exceeded = serializers.BooleanField(
        help_text="ε unbounded or above uncertainty_limit_seconds: commit_wait refuses this node's writes (503)."
    )


class ServerListSerializer(serializers.Serializer):
    true_time = serializers.DateTimeField(help_text="Host (reference) time the clocks were read at.")
    consistency_mode = serializers.CharField(source="mode", help_text="naive, bounded, serializable or commit_wait.")
    fence_limit_seconds = serializers.FloatField(help_text="MAX_CLOCK_OFFSET / 2: bounded's fence (enforced).")
    cockroachdb_fence_limit_seconds = serializers.FloatField(
        help_text="80 % of MAX_CLOCK_OFFSET, CockroachDB's fence: shown for comparison, not enforced."
    )
    median_offset_seconds = serializers.FloatField(allow_null=True, help_text="Median offset of all nodes.")
    uncertainty_limit_seconds = serializers.FloatField(help_text="The largest ε commit_wait accepts: MAX_CLOCK_OFFSET.")
    assumed_drift_ppm = serializers.FloatField(help_text="The drift commit_wait assumes since a node's last sync.")
    servers = ServerFenceStatusSerializer(many=True)


class TimeStatusQuerySerializer(serializers.Serializer):
    server_id = StrictCharField(required=False, default="server-1", max_length=64)


class SyncRequestSerializer(InputSerializer):
    server_id = StrictCharField(max_length=64)
    ntp_server = StrictCharField(
        required=False, max_length=255, help_text="host or host:port; default SEATCLOCK_NTP_SERVER."
    )


class SyncResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    server_id = serializers.CharField()
    offset_seconds = serializers.FloatField(help_text="theta_node: the correction applied to the node, seconds.")
    delay_seconds = serializers.FloatField(help_text="Round-trip delay of the kept sample.")
    stratum = serializers.IntegerField()
    error_bound_seconds = serializers.FloatField(help_text="|offset| + root dispersion + delay/2.")
    ntp_server = serializers.CharField()
    message = serializers.CharField()
    sync_time = serializers.DateTimeField()
