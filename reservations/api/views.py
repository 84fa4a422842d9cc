import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.idempotency import HEADER as IDEMPOTENCY_KEY
from core.idempotency import idempotent
from core.pagination import Page, PageQuery, query_values
from core.permissions import OperatorPermission, audience_of, may_cancel_without_token
from core.schema import VALIDATION, error_response
from reservations import shapes
from reservations.metrics import observe_reservation
from reservations.selectors import (
    conflict_count,
    conflict_list,
    reservation_get,
    reservation_list,
    seat_get_with_holder,
    seat_rows,
)
from reservations.services import conflict_resolve, reservation_cancel, reservation_create

from .serializers import (
    ConflictListSerializer,
    ConflictResolveSerializer,
    ReservationCreatedSerializer,
    ReservationCreateSerializer,
    ReservationFilterSerializer,
    ReservationListSerializer,
    ReservationSerializer,
    ResolutionSerializer,
    SeatSerializer,
)

RESERVATION_ID = OpenApiParameter(
    "reservation_id", int, OpenApiParameter.PATH, examples=[OpenApiExample("reservation_id", value=1)]
)
SEAT_ID = OpenApiParameter("seat_id", int, OpenApiParameter.PATH, examples=[OpenApiExample("seat_id", value=1)])
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY,
    {"type": "string", "pattern": "^[!-~]{8,255}$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional, 8-255 visible ASCII characters (e.g. a UUID). A retry with the same key gets the first "
        "answer (header Idempotent-Replayed: true) and never makes a second reservation, even when the first "
        "answer was lost after the reservation was stored. The same key with another body: 422."
    ),
)
CANCEL_TOKEN_PARAMETER = OpenApiParameter(
    "X-Cancel-Token",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The cancel_token of the reservation's 201. Needed in production mode unless the caller is staff.",
)


def render_json(data) -> bytes:
    """``JSONRenderer().render(data)`` for plain data, faster: compact UTF-8 JSON with U+2028
    and U+2029 escaped as DRF does (both refuse lone surrogates)."""
    body = orjson.dumps(data)
    return body.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")


class SeatListView(APIView):
    @extend_schema(
        tags=["seats"],
        summary="Every seat of the venue with its holder",
        operation_id="seats_list",
        responses={200: SeatSerializer(many=True)},
    )
    def get(self, request):
        # Plain tuples rendered by orjson: the same bytes as DRF's JSONRenderer
        # (test_seat_list_is_byte_for_byte_drfs), 10x faster on 10,000 seats.
        body = shapes.seat_rows(seat_rows(), audience=audience_of(request.user))
        return HttpResponse(render_json(body), content_type="application/json")


class SeatDetailView(APIView):
    @extend_schema(
        tags=["seats"],
        summary="One seat",
        parameters=[SEAT_ID],
        responses={200: SeatSerializer, 404: error_response("Seat not found", "SEAT_NOT_FOUND")},
    )
    def get(self, request, seat_id: str):
        return Response(shapes.seat(seat_get_with_holder(seat_id), audience=audience_of(request.user)))


class ReservationListView(APIView):
    throttle_scope = "reservations"  # POST counts against the reservation rate limit

    @extend_schema(
        tags=["reservations"],
        summary="Active reservations, paginated",
        operation_id="reservations_list",
        parameters=[ReservationFilterSerializer, PageQuery],
        responses={200: ReservationListSerializer, **VALIDATION},
    )
    def get(self, request):
        filters = ReservationFilterSerializer(data=query_values(request.query_params, ("seat_id", "server_id")))
        filters.is_valid(raise_exception=True)
        page = Page.from_query(request.query_params)
        qs = reservation_list(**filters.validated_data)
        total = qs.count()
        items = list(qs[page.offset : page.offset + page.limit])
        body = {
            "reservations": [shapes.reservation(r, audience=audience_of(request.user)) for r in items],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
        return Response(body, headers=page.headers(total))

    @extend_schema(
        tags=["reservations"],
        summary="Reserve a seat through one node",
        description=(
            "The node decides at its own clock time: it sees the seat's active reservations stamped "
            "at or before its clock (plus MAX_CLOCK_OFFSET in `bounded` mode; all of them in "
            "`serializable`). 409 if it sees one; otherwise 201, with `conflict_detected` true "
            "when a reservation it could not see (stamped in its future) already holds the seat. "
            "In `bounded` mode a fenced node refuses the write: 503 `TIME_DRIFT_DETECTED`. The 201 carries, "
            "this once, the `cancel_token` that cancelling needs in production mode."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=ReservationCreateSerializer,
        examples=[
            OpenApiExample(
                "Reserve",
                value={"seat_id": 1, "customer_name": "Jean Dupont", "server_id": "server-1"},
                request_only=True,
            )
        ],
        responses={
            201: ReservationCreatedSerializer,
            **VALIDATION,
            404: error_response("Seat not found", "SEAT_NOT_FOUND"),
            409: error_response(
                "The node sees the seat as reserved; or a request with the same Idempotency-Key is running",
                "SEAT_ALREADY_RESERVED",
                "IDEMPOTENCY_KEY_IN_USE",
            ),
            422: error_response("The Idempotency-Key was used for a different request", "IDEMPOTENCY_KEY_REUSED"),
            503: error_response(
                "bounded mode: the node's clock is too far from the median (fenced); nothing written. "
                "details: server_id, offset_seconds, median_offset_seconds, deviation_seconds, limit_seconds",
                "TIME_DRIFT_DETECTED",
            ),
        },
    )
    @idempotent("reservations")
    @observe_reservation
    def post(self, request):
        data = ReservationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = reservation_create(**data.validated_data)
        body = shapes.reservation_created(
            outcome.reservation,
            conflict_detected=outcome.conflict_detected,
            cancel_token=outcome.cancel_token,
            audience=audience_of(request.user),
        )
        return Response(body, status=201)


class ReservationDetailView(APIView):
    @extend_schema(
        tags=["reservations"],
        summary="One active reservation",
        parameters=[RESERVATION_ID],
        responses={200: ReservationSerializer, 404: error_response("Not found", "RESERVATION_NOT_FOUND")},
    )
    def get(self, request, reservation_id: str):
        return Response(shapes.reservation(reservation_get(reservation_id), audience=audience_of(request.user)))

    @extend_schema(
        tags=["reservations"],
        summary="Cancel a reservation (soft delete)",
        description=(
            "In production mode the caller gives the reservation's `cancel_token` (from its 201) in the "
            "`X-Cancel-Token` header, or is staff; in the local demo anyone may cancel."
        ),
        parameters=[RESERVATION_ID, CANCEL_TOKEN_PARAMETER],
        responses={
            204: OpenApiResponse(description="Cancelled"),
            403: error_response("Production mode: missing or wrong cancel token", "INVALID_CANCEL_TOKEN"),
            404: error_response("Not found or already cancelled", "RESERVATION_NOT_FOUND"),
        },
    )
    def delete(self, request, reservation_id: str):
        reservation_cancel(
            reservation_id=reservation_id,
            cancel_token=request.headers.get("X-Cancel-Token"),
            token_required=not may_cancel_without_token(request.user),
        )
        return Response(status=204)


class ConflictListView(APIView):
    @extend_schema(
        tags=["reservations"],
        summary="Seats with several active reservations",
        description=(
            "`winner_id` holds the seat (earliest `created_at`); `true_first_id` truly came first "
            "(earliest `recorded_at`); the conflict is `fair` when they are the same."
        ),
        parameters=[PageQuery],
        responses={200: ConflictListSerializer, **VALIDATION},
    )
    def get(self, request):
        page = Page.from_query(request.query_params)
        total = conflict_count()
        conflicts = conflict_list(limit=page.limit, offset=page.offset)
        audience = audience_of(request.user)
        body = {"conflicts": [shapes.conflict(c, audience=audience) for c in conflicts], "total_conflicts": total}
        return Response(body, headers=page.headers(total))


class ConflictResolveView(APIView):
    permission_classes = [OperatorPermission]

    @extend_schema(
        tags=["reservations"],
        summary="Resolve a double-booked seat: keep one reservation, bump the others",
        description=(
            "`earliest_timestamp` keeps the timestamp winner (what the seat map shows as holder), "
            "`true_order` the reservation that truly came first (earliest `recorded_at`), `keep` the given "
            "`reservation_id`. The others get status `bumped` and leave the active lists (GET/DELETE on them: "
            "404). `fair` tells whether the kept one truly came first. Announced as `conflict_resolved` on "
            "the `conflicts` topic. Open in the demo; staff only in production mode."
        ),
        parameters=[SEAT_ID],
        request=ConflictResolveSerializer,
        responses={
            200: ResolutionSerializer,
            400: error_response(
                "Bad policy, reservation_id missing with keep / given otherwise / not one of the seat's "
                "conflicting reservations (per-field messages in details)",
                "VALIDATION_ERROR",
            ),
            403: error_response("Production mode: staff only", "PERMISSION_DENIED", "NOT_AUTHENTICATED"),
            404: error_response("Seat not found", "SEAT_NOT_FOUND"),
            409: error_response("The seat has fewer than two active reservations", "NO_CONFLICT"),
        },
    )
    def post(self, request, seat_id: str):
        data = ConflictResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        resolution = conflict_resolve(seat_id=seat_id, **data.validated_data)
        audience = audience_of(request.user)
        body = {
            "seat_id": resolution.seat_id,
            "policy": resolution.policy,
            "kept": shapes.resolved_reservation(resolution.kept, audience=audience),
            "bumped": [shapes.resolved_reservation(r, audience=audience) for r in resolution.bumped],
            "fair": resolution.fair,
        }
        return Response(body)
