from django.urls import re_path

from .views import (
    ConflictListView,
    ConflictResolveView,
    ReservationDetailView,
    ReservationListView,
    SeatDetailView,
    SeatListView,
)

urlpatterns = [
    re_path(r"^api/seats/?$", SeatListView.as_view(), name="seat-list"),
    re_path(r"^api/seats/(?P<seat_id>[^/]+)/?$", SeatDetailView.as_view(), name="seat-detail"),
    re_path(r"^api/reservations/?$", ReservationListView.as_view(), name="reservation-list"),
    re_path(r"^api/reservations/conflicts/?$", ConflictListView.as_view(), name="conflict-list"),
    re_path(
        r"^api/reservations/conflicts/(?P<seat_id>[^/]+)/resolve/?$",
        ConflictResolveView.as_view(),
        name="conflict-resolve",
    ),
    re_path(
        r"^api/reservations/(?P<reservation_id>[^/]+)/?$", ReservationDetailView.as_view(), name="reservation-detail"
    ),
]
