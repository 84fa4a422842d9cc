from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView

from ops import health, metrics

urlpatterns = [
    path("", include("reservations.api.urls")),
    path("", include("timesync.api.urls")),
    path("", include("simulation.api.urls")),
    path("", include("history.api.urls")),
    re_path(r"^health/?$", health.health, name="health"),
    re_path(r"^health/detailed/?$", health.health_detailed, name="health-detailed"),
    re_path(r"^health/live/?$", health.health_live, name="health-live"),
    re_path(r"^health/ready/?$", health.health_ready, name="health-ready"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    # Pages: the seat map at /, the latest experiment report at /experiments.
    path("", include("pages.urls")),
    path("", include("lab.urls")),
    re_path(r"^metrics/?$", metrics.metrics_view, name="prometheus-django-metrics"),
]
