from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reservation_site.api_fields import Page, PageQuery, query_values
from reservation_site.metrics import observe_reservation
from reservation_site.permissions import OperatorPermission
from reservation_site.schema import VALIDATION, error_response
from reservations.selectors import conflict_count, conflict_list, reservation_get, reservation_list
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
)

RESERVATION_ID = OpenApiParameter(
    "reservation_id", int, OpenApiParameter.PATH, examples=[OpenApiExample("reservation_id", value=1)]
)
SEAT_ID = OpenApiParameter("seat_id", int, OpenApiParameter.PATH, examples=[OpenApiExample("seat_id", value=1)])


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
            "reservations": ReservationSerializer(items, many=True).data,
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
            "In `bounded` mode a fenced node refuses the write: 503 `TIME_DRIFT_DETECTED`."
        ),
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
            409: error_response("The node sees the seat as reserved", "SEAT_ALREADY_RESERVED"),
            503: error_response(
                "bounded mode: the node's clock is too far from the median (fenced); nothing written. "
                "details: server_id, offset_seconds, median_offset_seconds, deviation_seconds, limit_seconds",
                "TIME_DRIFT_DETECTED",
            ),
        },
    )
    @observe_reservation
    def post(self, request):
        data = ReservationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = reservation_create(**data.validated_data)
        body = dict(ReservationSerializer(outcome.reservation).data, conflict_detected=outcome.conflict_detected)
        return Response(body, status=201)


class ReservationDetailView(APIView):
    @extend_schema(
        tags=["reservations"],
        summary="One active reservation",
        parameters=[RESERVATION_ID],
        responses={200: ReservationSerializer, 404: error_response("Not found", "RESERVATION_NOT_FOUND")},
    )
    def get(self, request, reservation_id: str):
        return Response(ReservationSerializer(reservation_get(reservation_id)).data)

    @extend_schema(
        tags=["reservations"],
        summary="Cancel a reservation (soft delete)",
        parameters=[RESERVATION_ID],
        responses={
            204: OpenApiResponse(description="Cancelled"),
            404: error_response("Not found or already cancelled", "RESERVATION_NOT_FOUND"),
        },
    )
    def delete(self, request, reservation_id: str):
        reservation_cancel(reservation_id=reservation_id)
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
        body = ConflictListSerializer({"conflicts": conflicts, "total_conflicts": total}).data
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
        return Response(ResolutionSerializer(resolution).data)
