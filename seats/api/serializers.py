from rest_framework import serializers

from seats.selectors import seat_holder


class HolderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer_name = serializers.CharField()
    server_id = serializers.CharField(source="node_id")
    created_at = serializers.DateTimeField()


class SeatSerializer(serializers.Serializer):
    """The spec's Seat: ``reservation`` is the holder (earliest ``created_at``) or null."""

    id = serializers.IntegerField()
    row = serializers.CharField()
    number = serializers.IntegerField()
    is_available = serializers.SerializerMethodField()
    reservation = serializers.SerializerMethodField()

    def get_is_available(self, seat) -> bool:
        return seat_holder(seat) is None

    def get_reservation(self, seat) -> HolderSerializer(allow_null=True):  # type: ignore[valid-type]
        holder = seat_holder(seat)
        return HolderSerializer(holder).data if holder is not None else None
