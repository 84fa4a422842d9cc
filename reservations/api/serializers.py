"""Input validation, and the OpenAPI description of the shapes rendered by
:mod:`reservations.shapes` (responses are rendered there, not here)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.fields import InputSerializer, QueryIntegerField, StrictCharField, StrictChoiceField, StrictIntegerField
from reservations.services import HOLD_TTL_DEFAULT, HOLD_TTL_MAX, Policy


def customer_name_field() -> StrictCharField:
    """A customer's name: 2 to 100 characters once trimmed (reservations and holds alike)."""
    return StrictCharField(
        min_length=2,
        max_length=100,
        trim_whitespace=True,
        error_messages={
            "blank": _("Must not be blank."),
            "min_length": _("Must be 2 to 100 characters long."),
            "max_length": _("Must be 2 to 100 characters long."),
        },
    )


class ReservationCreateSerializer(InputSerializer):
    """The spec's ReservationCreate."""

    seat_id = StrictIntegerField()
    customer_name = customer_name_field()
    server_id = StrictCharField(required=False, default="server-1", max_length=32)


class ReservationSerializer(serializers.Serializer):
    """The spec's Reservation, plus (additively) ``recorded_at``: one shape everywhere."""

    id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    customer_name = serializers.CharField(
        help_text='In production mode, readers who are not staff see initials ("J. D.").'
    )
    server_id = serializers.CharField()
    created_at = serializers.DateTimeField(help_text="The node's clock when it wrote the reservation.")
    recorded_at = serializers.DateTimeField(help_text="True (host) time when it was written.")


class SeatSerializer(serializers.Serializer):
    """The spec's Seat: ``reservation`` is the holder (earliest ``created_at``) or null."""

    id = serializers.IntegerField()
    row = serializers.CharField()
    number = serializers.IntegerField()
    is_available = serializers.BooleanField()
    reservation = ReservationSerializer(allow_null=True, help_text="The holder: earliest created_at, ties by id.")


class ReservationCreatedSerializer(ReservationSerializer):
    conflict_detected = serializers.BooleanField(
        help_text="True when the seat already had an active reservation this node could not see."
    )
    cancel_token = serializers.CharField(
        help_text="Shown only here, once: give it as header X-Cancel-Token to cancel (needed in production mode)."
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
    node_offset_seconds = serializers.FloatField(
        help_text="The writing node's clock offset at write time (created_at - recorded_at)."
    )
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why this node wrote although the seat was taken: which earlier reservations were stamped "
        "in its future, by how much. null for the reservation that found the seat free.",
    )
    hidden_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The reservations this one's node could not see although they were written before it: "
        "stamped after its clock's reading (in its future). Empty when it saw the seat free.",
    )


class ConflictSerializer(serializers.Serializer):
    seat_id = serializers.IntegerField()
    reservations = ConflictReservationSerializer(many=True)
    conflict_count = serializers.IntegerField()
    winner_id = serializers.IntegerField(help_text="Holder by timestamp (earliest created_at).")
    true_first_id = serializers.IntegerField(help_text="Truly first (earliest recorded_at).")
    fair = serializers.BooleanField(help_text="winner_id == true_first_id.")
    explanation = serializers.ListField(
        child=serializers.CharField(),
        help_text='One line per blind write ("#id: reason"), in true-time order, from stored data only.',
    )


class ConflictListSerializer(serializers.Serializer):
    conflicts = ConflictSerializer(many=True)
    total_conflicts = serializers.IntegerField()


class ConflictResolveSerializer(InputSerializer):
    policy = StrictChoiceField(
        choices=Policy.ALL,
        help_text="earliest_timestamp keeps the timestamp winner (winner_id); true_order the truly first "
        "(true_first_id); keep the given reservation_id.",
    )
    reservation_id = StrictIntegerField(
        required=False, help_text="Required with policy keep, refused otherwise (checked by conflict_resolve)."
    )


class ResolvedReservationSerializer(ReservationSerializer):
    node_offset_seconds = serializers.FloatField()
    status = serializers.CharField(help_text="active for the kept reservation, bumped for the others.")
    bumped_at = serializers.DateTimeField(allow_null=True, help_text="True time it was bumped (null if kept).")


class ResolutionSerializer(serializers.Serializer):
    seat_id = serializers.IntegerField()
    policy = serializers.CharField()
    kept = ResolvedReservationSerializer(help_text="Still active: it holds the seat.")
    bumped = ResolvedReservationSerializer(many=True, help_text="Now bumped: gone from the active lists.")
    fair = serializers.BooleanField(help_text="The kept reservation is the one that truly came first.")


# --- Holds --------------------------------------------------------------------------------------


class HoldCreateSerializer(InputSerializer):
    """``POST /api/holds`` (DESIGN §7)."""

    seat_id = StrictIntegerField()
    customer_name = customer_name_field()
    server_id = StrictCharField(required=False, default="server-1", max_length=32)
    ttl_seconds = StrictIntegerField(
        required=False,
        default=HOLD_TTL_DEFAULT,
        min_value=1,
        max_value=HOLD_TTL_MAX,
        help_text="How long the hold lasts, seconds (default 600, at most 7200 as seats.io's 2 h).",
    )


class HoldConfirmSerializer(InputSerializer):
    server_id = StrictCharField(
        required=False, default="server-1", max_length=32, help_text="The node that judges the hold and reserves."
    )


class HoldSerializer(serializers.Serializer):
    """A hold (never its token)."""

    id = serializers.IntegerField()
    seat_id = serializers.IntegerField()
    customer_name = serializers.CharField(
        help_text='In production mode, readers who are not staff see initials ("J. D.").'
    )
    server_id = serializers.CharField(help_text="The node that granted the hold.")
    ttl_seconds = serializers.IntegerField()
    created_at = serializers.DateTimeField(help_text="The holding node's clock when it granted the hold.")
    expires_at = serializers.DateTimeField(help_text="created_at + ttl_seconds, on the holding node's clock.")
    recorded_at = serializers.DateTimeField(help_text="True time the hold was granted.")
    true_expires_at = serializers.DateTimeField(help_text="recorded_at + ttl_seconds: when it truly ends.")
    status = serializers.ChoiceField(choices=["active", "confirmed", "released"])
    reservation_id = serializers.IntegerField(allow_null=True, help_text="The reservation it became, once confirmed.")


class HoldCreatedSerializer(HoldSerializer):
    hold_token = serializers.CharField(
        help_text="Confirms or releases the hold; shown only in this response (stored hashed)."
    )


class NodeJudgementSerializer(serializers.Serializer):
    live = serializers.BooleanField(help_text="This node sees the hold holding the seat (visible, not expired).")
    visible = serializers.BooleanField(
        help_text="The hold is not stamped in this node's future (a lagging node does not see it yet)."
    )
    remaining_seconds = serializers.FloatField(
        help_text="Seconds until the hold expires on this node's clock; negative: expired that long ago."
    )


class HoldSeenSerializer(HoldSerializer):
    truly_live = serializers.BooleanField(help_text="Live in true time (recorded_at <= now < true_expires_at).")
    nodes = serializers.DictField(child=NodeJudgementSerializer(), help_text="Each node's judgement, by server id.")


class HoldListSerializer(serializers.Serializer):
    holds = HoldSeenSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    true_time = serializers.DateTimeField(help_text="The true instant every node's judgement was read at.")
    consistency_mode = serializers.CharField(help_text="The mode the nodes judge under.")


class HoldFilterSerializer(serializers.Serializer):
    seat_id = QueryIntegerField(required=False, min_value=1, max_value=2**63 - 1)
    server_id = StrictCharField(required=False, max_length=32)
    include_expired = StrictChoiceField(
        required=False,
        choices=["true", "false"],
        help_text="true: every active hold; default false: only those some node still judges live, or truly live.",
    )
