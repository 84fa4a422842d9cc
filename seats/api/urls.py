from django.urls import re_path

from .views import SeatDetailView, SeatListView

urlpatterns = [
    re_path(r"^api/seats/?$", SeatListView.as_view(), name="seat-list"),
    re_path(r"^api/seats/(?P<seat_id>[^/]+)/?$", SeatDetailView.as_view(), name="seat-detail"),
]
