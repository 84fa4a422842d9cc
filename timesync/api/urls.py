from django.urls import re_path

from .views import ServerListView, TimeStatusView, TimeSyncView

urlpatterns = [
    re_path(r"^api/time/status/?$", TimeStatusView.as_view(), name="time-status"),
    re_path(r"^api/time/servers/?$", ServerListView.as_view(), name="time-servers"),
    re_path(r"^api/time/sync/?$", TimeSyncView.as_view(), name="time-sync"),
]
