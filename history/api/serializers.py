"""Input validation and the OpenAPI description of :func:`history.shapes.operation`."""

from rest_framework import serializers

from core.fields import QueryIntegerField, StrictCharField, StrictChoiceField
from history.models import Operation


class HistoryFilterSerializer(serializers.Serializer):
    run = StrictCharField(required=False, max_length=64, help_text="Only the operations of this load run.")
    seat_id = QueryIntegerField(required=False, min_value=1, max_value=2**63 - 1)
    f = StrictChoiceField(required=False, choices=Operation.F.values, help_text="Only this operation.")


class ActorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Operation.ActorKind.values)
    name = serializers.CharField(help_text="User name (user, token) or command (system); empty when anonymous.")


class OperationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    f = serializers.ChoiceField(choices=Operation.F.values)
    outcome = serializers.ChoiceField(choices=Operation.Outcome.values, help_text="ok, fail (refused) or info.")
    error = serializers.CharField(allow_null=True, help_text="The error code of a refusal, e.g. SEAT_HELD.")
    invoked_at = serializers.DateTimeField(help_text="True time the operation was asked.")
    completed_at = serializers.DateTimeField(help_text="True time it was decided.")
    node = serializers.CharField(allow_null=True, help_text="The node that decided.")
    node_time = serializers.DateTimeField(allow_null=True, help_text="What that node's clock read then.")
    mode = serializers.CharField(allow_null=True, help_text="The consistency mode it decided under.")
    seat_id = serializers.IntegerField(allow_null=True)
    actor = ActorSerializer()
    run = serializers.CharField(allow_null=True, help_text="The load run's tag (X-Seatclock-Run).")
    args = serializers.DictField(help_text="What was asked.")
    value = serializers.DictField(help_text="What came of it (ids, stamps), or the refusal's details.")


class HistoryListSerializer(serializers.Serializer):
    operations = OperationSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
