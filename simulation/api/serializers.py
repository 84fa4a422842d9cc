from rest_framework import serializers

from core.fields import BoundedFloatField, InputSerializer, StrictCharField, StrictChoiceField
from timesync.models import ConsistencySettings


class SetOffsetSerializer(InputSerializer):
    """The spec's TimeOffsetRequest, plus an optional drift rate."""

    server_id = StrictCharField(max_length=64)
    offset_seconds = BoundedFloatField(bound_setting="SEATCLOCK_MAX_INJECTED_OFFSET")
    drift_ppm = BoundedFloatField(
        bound_setting="SEATCLOCK_MAX_DRIFT_PPM", required=False, default=0.0, help_text="Drift in parts per million."
    )


class SetOffsetResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    server_id = serializers.CharField()
    offset_seconds = serializers.FloatField()
    drift_ppm = serializers.FloatField(required=False, help_text="Present when a drift was set.")
    message = serializers.CharField()


class RemoveOffsetResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    server_id = serializers.CharField()
    message = serializers.CharField()


class OffsetsSerializer(serializers.Serializer):
    offsets = serializers.DictField(child=serializers.FloatField(), help_text="Current offset of every node.")


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


class ResetResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    reservations_cancelled = serializers.IntegerField(help_text="Active reservations cancelled (soft delete).")
    cancelled_at = serializers.DateTimeField(help_text="True time of the reset.")
    holds_released = serializers.IntegerField(help_text="Active seat holds released.")
    nodes_reset = serializers.IntegerField(help_text="Nodes put back on true time (offset and drift 0).")
    message = serializers.CharField()


class ScenarioSerializer(serializers.Serializer):
    description = serializers.CharField()
    servers = serializers.DictField(child=serializers.FloatField(), help_text="Offset per node, seconds.")
    drift_ppm = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="Drift per node, ppm (only when some node drifts)."
    )


class ScenarioListSerializer(serializers.Serializer):
    scenarios = serializers.DictField(child=ScenarioSerializer())


class ApplyScenarioSerializer(InputSerializer):
    scenario_name = StrictCharField(max_length=64)


class ApplyScenarioResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    scenario_name = serializers.CharField()
    applied_offsets = serializers.DictField(child=serializers.FloatField())
    message = serializers.CharField()


class ConsistencySerializer(serializers.Serializer):
    """The cluster's consistency mode (``timesync.consistency.ConsistencyState``)."""

    mode = serializers.ChoiceField(choices=ConsistencySettings.Mode.choices, help_text="The current mode.")
    max_clock_offset_seconds = serializers.FloatField(
        help_text="MAX_CLOCK_OFFSET: the skew bound `bounded` trusts (its uncertainty interval), seconds."
    )
    fence_limit_seconds = serializers.FloatField(
        help_text="`bounded` fences a node further than this from the median offset (half the bound, so any "
        "two unfenced nodes are within it)."
    )
    cockroachdb_fence_limit_seconds = serializers.FloatField(
        help_text="CockroachDB's fence, 80 % of the bound: shown for comparison, not enforced."
    )
    assumed_drift_ppm = serializers.FloatField(
        help_text="`commit_wait`: the drift assumed since a node's last sync (its ε grows by this), ppm."
    )
    modes = serializers.ListField(child=serializers.CharField(), help_text="Every mode, for a switcher.")


class ConsistencySetSerializer(InputSerializer):
    mode = StrictChoiceField(choices=ConsistencySettings.Mode.choices)
