from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response

from core.pagination import query_values
from core.permissions import ClockControlPermission
from core.schema import error_response
from core.timefmt import iso_utc
from core.views import ApiView
from history.actors import actor_of
from timesync import shapes
from timesync.consistency import cluster_clocks
from timesync.selectors import node_get, node_time
from timesync.services import node_sync

from .serializers import (
    ServerListSerializer,
    ServerStatusSerializer,
    SyncRequestSerializer,
    SyncResponseSerializer,
    TimeStatusQuerySerializer,
)

INVALID_SERVER = {400: error_response("Unknown server id", "INVALID_SERVER_ID", "VALIDATION_ERROR")}


class TimeStatusView(ApiView):
    @extend_schema(
        tags=["time"],
        summary="One node's clock",
        description=(
            "The spec's TimeStatus, plus (additively) the node's drift rate and the figures of "
            "its last successful NTP sync."
        ),
        parameters=[TimeStatusQuerySerializer],
        responses={200: ServerStatusSerializer, **INVALID_SERVER},
    )
    def get(self, request):
        query = TimeStatusQuerySerializer(data=query_values(request.query_params, ("server_id",)))
        query.is_valid(raise_exception=True)
        return Response(shapes.node_status(node_time(node_get(query.validated_data["server_id"]))))


class ServerListView(ApiView):
    @extend_schema(
        tags=["time"],
        summary="Every node's clock, read at one instant",
        description=(
            "Each node's TimeStatus plus (additively) its deviation from the median offset and whether "
            "it is fenced, and the cluster's consistency mode: fencing is enforced only in `bounded`."
        ),
        responses={200: ServerListSerializer},
    )
    def get(self, request):
        return Response(shapes.cluster_clocks(cluster_clocks()))


class TimeSyncView(ApiView):
    permission_classes = [ClockControlPermission]

    @extend_schema(
        tags=["time"],
        summary="Synchronise a node with a real NTP exchange",
        description=(
            "Queries `ntp_server` (default: the SEATCLOCK_NTP_SERVER setting, Seatclock's own server) with "
            "several samples, keeps the one with the smallest delay, and steps the node by "
            "theta_node = theta_host - offset(node)."
        ),
        request=SyncRequestSerializer,
        examples=[
            OpenApiExample("Sync", value={"server_id": "server-1", "ntp_server": "pool.ntp.org"}, request_only=True)
        ],
        responses={
            200: SyncResponseSerializer,
            **INVALID_SERVER,
            502: error_response("The NTP exchange failed; the node is unchanged", "NTP_SYNC_FAILED"),
        },
    )
    def post(self, request):
        data = SyncRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = node_sync(**data.validated_data, actor=actor_of(request))
        body = {
            "success": True,
            "server_id": outcome.node.server_id,
            "offset_seconds": outcome.correction,
            "delay_seconds": outcome.result.delay,
            "stratum": outcome.result.stratum,
            "error_bound_seconds": outcome.result.error_bound,
            "ntp_server": outcome.result.server,
            "message": _("NTP sync completed"),
            "sync_time": iso_utc(outcome.sync_time),
        }
        return Response(body)
