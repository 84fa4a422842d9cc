from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from core.pagination import Page, PageQuery, query_values
from core.permissions import AuditPermission
from core.schema import VALIDATION, error_response
from core.views import ApiView
from history import shapes
from history.selectors import operation_list

from .serializers import HistoryFilterSerializer, HistoryListSerializer


class HistoryListView(ApiView):
    permission_classes = [AuditPermission]

    @extend_schema(
        tags=["history"],
        summary="The operations history (audit trail), in append order",
        description=(
            "Every operation on a seat or a clock (reserve, cancel, bump, hold, confirm, release, set_offset, "
            "sync, set_mode) with its true invoke and completion instants, the node that decided and what its "
            "clock read, the actor, and the outcome — refusals included (DESIGN §8). Open in the demo; staff "
            "only in production mode. `manage.py export_history` writes it as Jepsen-like JSON lines and "
            "`manage.py check_history` checks it."
        ),
        parameters=[HistoryFilterSerializer, PageQuery],
        responses={
            200: HistoryListSerializer,
            **VALIDATION,
            403: error_response("Production mode: staff only", "PERMISSION_DENIED", "NOT_AUTHENTICATED"),
        },
    )
    def get(self, request):
        filters = HistoryFilterSerializer(data=query_values(request.query_params, ("run", "seat_id", "f")))
        filters.is_valid(raise_exception=True)
        page = Page.from_query(request.query_params)
        qs = operation_list(**filters.validated_data)
        total = qs.count()
        items = list(qs[page.offset : page.offset + page.limit])
        body = {
            "operations": [shapes.operation(op) for op in items],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
        return Response(body, headers=page.headers(total))
