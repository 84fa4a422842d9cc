"""Pages (not the API): the seat map at ``/``."""

from django.urls import path

from .views import seat_map

urlpatterns = [
    path("", seat_map, name="seat-map"),
]
