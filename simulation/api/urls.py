from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^api/simulation/set-offset/?$", views.SetOffsetView.as_view(), name="sim-set-offset"),
    re_path(
        r"^api/simulation/remove-offset/(?P<server_id>[^/]+)/?$",
        views.RemoveOffsetView.as_view(),
        name="sim-remove-offset",
    ),
    re_path(r"^api/simulation/offsets/?$", views.OffsetsView.as_view(), name="sim-offsets"),
    re_path(r"^api/simulation/clear-offsets/?$", views.ClearOffsetsView.as_view(), name="sim-clear-offsets"),
    re_path(r"^api/simulation/reset/?$", views.ResetView.as_view(), name="sim-reset"),
    re_path(r"^api/simulation/scenarios/?$", views.ScenarioListView.as_view(), name="sim-scenarios"),
    re_path(r"^api/simulation/apply-scenario/?$", views.ApplyScenarioView.as_view(), name="sim-apply-scenario"),
    re_path(r"^api/simulation/consistency/?$", views.ConsistencyView.as_view(), name="sim-consistency"),
]
