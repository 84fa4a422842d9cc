from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response

from core.permissions import ClockControlPermission
from core.schema import VALIDATION, error_response
from core.timefmt import iso_utc
from core.views import ApiView
from history.actors import actor_of
from simulation.selectors import scenario_list
from simulation.services import demo_reset, scenario_apply
from timesync.consistency import consistency_get
from timesync.selectors import node_offsets
from timesync.services import consistency_mode_set, node_offset_remove, node_offset_set, node_offsets_clear

from .serializers import (
    ApplyScenarioResponseSerializer,
    ApplyScenarioSerializer,
    ConsistencySerializer,
    ConsistencySetSerializer,
    OffsetsSerializer,
    RemoveOffsetResponseSerializer,
    ResetResponseSerializer,
    ScenarioListSerializer,
    SetOffsetResponseSerializer,
    SetOffsetSerializer,
    SuccessSerializer,
)

INVALID_SERVER = error_response("Unknown server id", "INVALID_SERVER_ID", "VALIDATION_ERROR")


class SetOffsetView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["simulation"],
        summary="Inject a clock offset (and optional drift) into a node",
        request=SetOffsetSerializer,
        examples=[
            OpenApiExample("Set offset", value={"server_id": "server-2", "offset_seconds": -5.0}, request_only=True)
        ],
        responses={200: SetOffsetResponseSerializer, 400: INVALID_SERVER},
    )
    def post(self, request):
        data = SetOffsetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        node = node_offset_set(**data.validated_data, actor=actor_of(request))
        body = {
            "success": True,
            "server_id": node.server_id,
            "offset_seconds": node.offset_seconds,
            "message": _("Time offset set successfully"),
        }
        if node.drift_ppm:
            body["drift_ppm"] = node.drift_ppm
        return Response(body)


class RemoveOffsetView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["simulation"],
        summary="Put a node back on true time",
        parameters=[
            OpenApiParameter(
                "server_id", str, OpenApiParameter.PATH, examples=[OpenApiExample("server_id", value="server-1")]
            )
        ],
        responses={200: RemoveOffsetResponseSerializer, 400: INVALID_SERVER},
    )
    def delete(self, request, server_id: str):
        node = node_offset_remove(server_id=server_id, actor=actor_of(request))
        return Response({"success": True, "server_id": node.server_id, "message": _("Time offset removed")})


class OffsetsView(ApiView):
    @extend_schema(tags=["simulation"], summary="Every node's current offset", responses={200: OffsetsSerializer})
    def get(self, request):
        return Response({"offsets": node_offsets()})


class ClearOffsetsView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["simulation"], summary="Every node back on true time", request=None, responses={200: SuccessSerializer}
    )
    def post(self, request):
        node_offsets_clear(actor=actor_of(request))
        return Response({"success": True, "message": _("All time offsets cleared")})


class ResetView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["simulation"],
        summary="Reset the demo: cancel every reservation, every node back on true time",
        description=(
            "One transaction: every active reservation is cancelled (a soft delete; the venue and its "
            "seat ids stay), every active hold is released, and every node's offset and drift go back to 0. "
            "The consistency mode stays. Announced live as `reservations_cleared` and `holds_cleared` (topic "
            "`reservations`) and `offsets_changed`; appended to the operations history."
        ),
        request=None,
        responses={200: ResetResponseSerializer, 409: error_response("A seat stayed locked", "LOCK_TIMEOUT")},
    )
    def post(self, request):
        reset = demo_reset(actor=actor_of(request))
        count = reset.reservations.count
        body = {
            "success": True,
            "reservations_cancelled": count,
            "cancelled_at": iso_utc(reset.reservations.at),
            "holds_released": reset.holds.count,
            "nodes_reset": len(reset.nodes),
            "message": _("Demo reset: %(count)d reservation(s) cancelled, every clock back on true time")
            % {"count": count},
        }
        return Response(body)


class ScenarioListView(ApiView):
    @extend_schema(tags=["simulation"], summary="Stored drift scenarios", responses={200: ScenarioListSerializer})
    def get(self, request):
        scenarios = {}
        for scenario in scenario_list():
            offsets = scenario.offsets.all()
            entry = {"description": scenario.description, "servers": {o.node_id: o.offset_seconds for o in offsets}}
            drifts = {o.node_id: o.drift_ppm for o in offsets if o.drift_ppm}
            if drifts:  # additive: the spec's shape stays exact for scenarios without drift
                entry["drift_ppm"] = drifts
            scenarios[scenario.name] = entry
        return Response({"scenarios": scenarios})


class ApplyScenarioView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["simulation"],
        summary="Set every node to a scenario's offsets (unlisted nodes to 0)",
        request=ApplyScenarioSerializer,
        examples=[OpenApiExample("Apply", value={"scenario_name": "major_drift"}, request_only=True)],
        responses={
            200: ApplyScenarioResponseSerializer,
            **VALIDATION,
            404: error_response("Unknown scenario", "SCENARIO_NOT_FOUND"),
        },
    )
    def post(self, request):
        data = ApplyScenarioSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scenario, applied = scenario_apply(name=data.validated_data["scenario_name"], actor=actor_of(request))
        body = {
            "success": True,
            "scenario_name": scenario.name,
            "applied_offsets": applied,
            "message": _("Scenario applied successfully"),
        }
        return Response(body)


class ConsistencyView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["simulation"],
        summary="The consistency mode every node reserves under",
        description=(
            "`naive`: a node sees reservations stamped at or before its own clock. `bounded`: it also "
            "sees those stamped up to `max_clock_offset_seconds` past its clock, and a node further than "
            "`fence_limit_seconds` from the median offset is fenced (503 `TIME_DRIFT_DETECTED` on write). "
            "`serializable`: timestamps are ignored, every active reservation is visible. `commit_wait` "
            "(Spanner's TrueTime): a write is stamped at its node's clock + ε and acknowledged once the clock "
            "- ε has passed that stamp (about 2ε); a node sees reservations stamped up to its clock + ε, and "
            "refuses writes (503 `TIME_DRIFT_DETECTED`) while its ε is unbounded (never synced) or above "
            "`max_clock_offset_seconds`. Each node's ε: `GET /api/time/servers`."
        ),
        responses={200: ConsistencySerializer},
    )
    def get(self, request):
        return Response(ConsistencySerializer(consistency_get()).data)

    @extend_schema(
        tags=["simulation"],
        summary="Switch the consistency mode (every node, at once)",
        description="Announced live as `consistency_mode_changed` on the `time_sync` topic.",
        request=ConsistencySetSerializer,
        responses={
            200: ConsistencySerializer,
            **VALIDATION,
            403: error_response("Production mode: staff only", "PERMISSION_DENIED", "NOT_AUTHENTICATED"),
        },
    )
    def post(self, request):
        data = ConsistencySetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consistency_mode_set(data.validated_data["mode"], actor=actor_of(request))
        return Response(ConsistencySerializer(consistency_get()).data)
