import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.idempotency import HEADER as IDEMPOTENCY_KEY
from core.idempotency import idempotent
from core.pagination import Page, PageQuery, query_values
from core.permissions import OperatorPermission, audience_of, may_cancel_without_token
from core.schema import VALIDATION, error_response
from core.timefmt import iso_utc
from core.views import ApiView
from history.actors import actor_of
from reservations import shapes
from reservations.metrics import observe_reservation
from reservations.selectors import (
    conflict_count,
    conflict_list,
    hold_list,
    holds_seen,
    reservation_get,
    reservation_list,
    seat_get_with_holder,
    seat_rows,
)
from reservations.services import (
    ReservationOutcome,
    conflict_resolve,
    hold_confirm,
    hold_create,
    hold_release,
    reservation_cancel,
    reservation_create,
)

from .serializers import (
    ConflictListSerializer,
    ConflictResolveSerializer,
    HoldConfirmSerializer,
    HoldCreatedSerializer,
    HoldCreateSerializer,
    HoldFilterSerializer,
    HoldListSerializer,
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


class SeatListView(ApiView):
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


class SeatDetailView(ApiView):
    @extend_schema(
        tags=["seats"],
        summary="One seat",
        parameters=[SEAT_ID],
        responses={200: SeatSerializer, 404: error_response("Seat not found", "SEAT_NOT_FOUND")},
    )
    def get(self, request, seat_id: str):
        return Response(shapes.seat(seat_get_with_holder(seat_id), audience=audience_of(request.user)))


class ReservationListView(ApiView):
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
                "The node sees the seat as reserved, or held by another customer; or a request with the same "
                "Idempotency-Key is running",
                "SEAT_ALREADY_RESERVED",
                "SEAT_HELD",
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
        outcome = reservation_create(**data.validated_data, actor=actor_of(request))
        return _created(outcome, request)


def _created(outcome: ReservationOutcome, request: Request) -> Response:
    """The 201 of a sale, by reservation or by confirming a hold: the reservation, whether it is
    in conflict, and its cancel token (shown this once)."""
    body = shapes.reservation_created(
        outcome.reservation,
        conflict_detected=outcome.conflict_detected,
        cancel_token=outcome.cancel_token,
        audience=audience_of(request.user),
    )
    return Response(body, status=201)


class ReservationDetailView(ApiView):
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
            actor=actor_of(request),
        )
        return Response(status=204)


class ConflictListView(ApiView):
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


class ConflictResolveView(ApiView):
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
        resolution = conflict_resolve(seat_id=seat_id, **data.validated_data, actor=actor_of(request))
        audience = audience_of(request.user)
        body = {
            "seat_id": resolution.seat_id,
            "policy": resolution.policy,
            "kept": shapes.resolved_reservation(resolution.kept, audience=audience),
            "bumped": [shapes.resolved_reservation(r, audience=audience) for r in resolution.bumped],
            "fair": resolution.fair,
        }
        return Response(body)


# --- Holds (DESIGN §7) ----------------------------------------------------------------------------

HOLD_TOKEN = OpenApiParameter(
    "token",
    str,
    OpenApiParameter.PATH,
    description="The hold_token of the 201 of POST /api/holds.",
    examples=[OpenApiExample("token", value="Zk3q0cXl9o8bYw1pR2sT4uV6wX8yZ0aB")],
)
HOLD_NOT_FOUND = error_response("No active hold has this token (unknown, confirmed or released)", "HOLD_NOT_FOUND")
FENCED = error_response(
    "bounded mode: the node's clock is too far from the median (fenced); nothing written", "TIME_DRIFT_DETECTED"
)


class HoldListView(ApiView):
    throttle_scope = "reservations"  # POST counts against the reservation rate limit

    @extend_schema(
        tags=["holds"],
        summary="Active holds, as every node judges them now",
        description=(
            "Each hold with, per node, whether that node sees it live and the seconds left on that node's "
            "clock (a node running ahead lets a hold expire early: a stolen hold; a lagging one keeps it "
            "alive past its true end: a zombie hold). By default only holds some node still judges live, "
            "or truly live."
        ),
        parameters=[HoldFilterSerializer, PageQuery],
        responses={200: HoldListSerializer, **VALIDATION},
    )
    def get(self, request):
        filters = HoldFilterSerializer(
            data=query_values(request.query_params, ("seat_id", "server_id", "include_expired"))
        )
        filters.is_valid(raise_exception=True)
        page = Page.from_query(request.query_params)
        wanted = dict(filters.validated_data)
        include_expired = wanted.pop("include_expired", "false") == "true"
        seen = holds_seen()
        qs = hold_list(**wanted, seen=None if include_expired else seen)
        total = qs.count()
        items = list(qs[page.offset : page.offset + page.limit])
        audience = audience_of(request.user)
        body = {
            "holds": [shapes.hold_seen(h, seen, audience=audience) for h in items],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
            "true_time": iso_utc(seen.t_true),
            "consistency_mode": seen.mode,
        }
        return Response(body, headers=page.headers(total))

    @extend_schema(
        tags=["holds"],
        summary="Hold a seat through one node for ttl_seconds",
        description=(
            "The node decides at its own clock time, as for a reservation: 409 `SEAT_ALREADY_RESERVED` if it "
            "sees a reservation, 409 `SEAT_HELD` if it sees another hold not yet expired on its clock. "
            "Otherwise 201: the hold is stamped by the node's clock (`created_at`, `expires_at` = created_at + "
            "ttl) and its `hold_token` is shown once. In `bounded` mode a fenced node refuses: 503."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=HoldCreateSerializer,
        examples=[
            OpenApiExample(
                "Hold",
                value={"seat_id": 1, "customer_name": "Jean Dupont", "server_id": "server-1", "ttl_seconds": 600},
                request_only=True,
            )
        ],
        responses={
            201: HoldCreatedSerializer,
            **VALIDATION,
            404: error_response("Seat not found", "SEAT_NOT_FOUND"),
            409: error_response(
                "The node sees the seat reserved, or held by another customer; or a request with the same "
                "Idempotency-Key is running",
                "SEAT_ALREADY_RESERVED",
                "SEAT_HELD",
                "IDEMPOTENCY_KEY_IN_USE",
            ),
            422: error_response("The Idempotency-Key was used for a different request", "IDEMPOTENCY_KEY_REUSED"),
            503: FENCED,
        },
    )
    @idempotent("holds")
    def post(self, request):
        data = HoldCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = hold_create(**data.validated_data, actor=actor_of(request))
        body = shapes.hold_created(outcome.hold, outcome.token, audience=audience_of(request.user))
        return Response(body, status=201)


class HoldConfirmView(ApiView):
    throttle_scope = "reservations"

    @extend_schema(
        tags=["holds"],
        summary="Confirm a hold into a reservation, through one node",
        description=(
            "The confirming node judges the hold on its own clock: expired (its clock at or past `expires_at`) → "
            "409 `HOLD_EXPIRED`. Then the reservation rule, the hold aside: a reservation it sees (the hold was "
            "stolen by a node that let it expire early) → 409 `SEAT_ALREADY_RESERVED`; another live hold → 409 "
            "`SEAT_HELD`. Otherwise 201 with the reservation, as `POST /api/reservations` answers."
        ),
        parameters=[HOLD_TOKEN, IDEMPOTENCY_KEY_PARAMETER],
        request=HoldConfirmSerializer,
        responses={
            201: ReservationCreatedSerializer,
            **VALIDATION,
            404: HOLD_NOT_FOUND,
            409: error_response(
                "Expired on the confirming node's clock, or the seat taken meanwhile; or a request with the same "
                "Idempotency-Key is running",
                "HOLD_EXPIRED",
                "SEAT_ALREADY_RESERVED",
                "SEAT_HELD",
                "IDEMPOTENCY_KEY_IN_USE",
            ),
            422: error_response("The Idempotency-Key was used for a different request", "IDEMPOTENCY_KEY_REUSED"),
            503: FENCED,
        },
    )
    @idempotent("hold-confirm")
    def post(self, request, token: str):
        data = HoldConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = hold_confirm(token=token, **data.validated_data, actor=actor_of(request))
        return _created(outcome, request)


class HoldDetailView(ApiView):
    @extend_schema(
        tags=["holds"],
        summary="Release a hold",
        parameters=[HOLD_TOKEN],
        responses={204: OpenApiResponse(description="Released"), 404: HOLD_NOT_FOUND},
    )
    def delete(self, request, token: str):
        hold_release(token=token, actor=actor_of(request))
        return Response(status=204)
