from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from core.schema import OfflineRedocView
from ops import health, metrics

admin.site.site_header = _("Seatclock administration")
admin.site.site_title = _("Seatclock admin")
admin.site.index_title = _("Clocks, reservations and scenarios")
# The changelists need the width: with Django's navigation sidebar open, the reservations' and
# nodes' columns were cut off at 1440 px.  The breadcrumbs and the index still lead everywhere.
admin.site.enable_nav_sidebar = False

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
    re_path(r"^redoc/?$", OfflineRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    # Pages: the seat map at /, the latest experiment report at /experiments.
    path("", include("pages.urls")),
    path("", include("lab.urls")),
    re_path(r"^metrics/?$", metrics.metrics_view, name="prometheus-django-metrics"),
]
