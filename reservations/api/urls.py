from django.urls import re_path

from .views import (
    ConflictListView,
    ConflictResolveView,
    HoldConfirmView,
    HoldDetailView,
    HoldListView,
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
    re_path(r"^api/holds/?$", HoldListView.as_view(), name="hold-list"),
    re_path(r"^api/holds/(?P<token>[^/]+)/confirm/?$", HoldConfirmView.as_view(), name="hold-confirm"),
    re_path(r"^api/holds/(?P<token>[^/]+)/?$", HoldDetailView.as_view(), name="hold-detail"),
]
