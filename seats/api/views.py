from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reservation_site.schema import error_response
from seats.selectors import seat_get_with_holder, seat_list_with_holder

from .serializers import SeatSerializer


class SeatListView(APIView):
    @extend_schema(
        tags=["seats"],
        summary="Every seat of the venue with its holder",
        operation_id="seats_list",
        responses={200: SeatSerializer(many=True)},
    )
    def get(self, request):
        return Response(SeatSerializer(seat_list_with_holder(), many=True).data)


class SeatDetailView(APIView):
    @extend_schema(
        tags=["seats"],
        summary="One seat",
        parameters=[
            OpenApiParameter("seat_id", int, OpenApiParameter.PATH, examples=[OpenApiExample("seat_id", value=1)])
        ],
        responses={200: SeatSerializer, 404: error_response("Seat not found", "SEAT_NOT_FOUND")},
    )
    def get(self, request, seat_id: str):
        return Response(SeatSerializer(seat_get_with_holder(seat_id)).data)
