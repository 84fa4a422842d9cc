from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from reservation_site.api_fields import QueryIntegerField, StrictCharField, StrictIntegerField


class ReservationCreateSerializer(serializers.Serializer):
    """The spec's ReservationCreate."""

    seat_id = StrictIntegerField()
    customer_name = StrictCharField(
        min_length=2,
        max_length=100,
        trim_whitespace=True,
        error_messages={
            "blank": _("Must not be blank."),
            "min_length": _("Must be 2 to 100 characters long."),
            "max_length": _("Must be 2 to 100 characters long."),
        },
    )
    server_id = StrictCharField(required=False, default="server-1", max_length=32)


class ReservationSerializer(serializers.Serializer):
    """The spec's Reservation."""

    id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    customer_name = serializers.CharField()
    server_id = serializers.CharField(source="node_id")
    created_at = serializers.DateTimeField(help_text="The node's clock when it wrote the reservation.")


class ReservationCreatedSerializer(ReservationSerializer):
    conflict_detected = serializers.BooleanField(
        help_text="True when the seat already had an active reservation this node could not see."
    )


class ReservationListSerializer(serializers.Serializer):
    reservations = ReservationSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class ReservationFilterSerializer(serializers.Serializer):
    seat_id = QueryIntegerField(required=False, min_value=1, max_value=2**63 - 1)
    server_id = StrictCharField(required=False, max_length=32)


class ConflictReservationSerializer(ReservationSerializer):
    recorded_at = serializers.DateTimeField(help_text="True (host) time when it was written.")


class ConflictSerializer(serializers.Serializer):
    seat_id = serializers.IntegerField()
    reservations = ConflictReservationSerializer(many=True)
    conflict_count = serializers.SerializerMethodField()
    winner_id = serializers.SerializerMethodField(help_text="Holder by timestamp (earliest created_at).")
    true_first_id = serializers.SerializerMethodField(help_text="Truly first (earliest recorded_at).")
    fair = serializers.BooleanField(help_text="winner_id == true_first_id.")

    def get_conflict_count(self, conflict) -> int:
        return len(conflict.reservations)

    def get_winner_id(self, conflict) -> int:
        return conflict.winner.pk

    def get_true_first_id(self, conflict) -> int:
        return conflict.true_first.pk


class ConflictListSerializer(serializers.Serializer):
    conflicts = ConflictSerializer(many=True)
    total_conflicts = serializers.IntegerField()
