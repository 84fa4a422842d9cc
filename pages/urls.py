"""Pages (not the API): the seat map at ``/``, its translations for JavaScript, the language
switch and the favicon."""

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView
from django.views.i18n import JavaScriptCatalog

from .views import hold_anomalies, seat_map

urlpatterns = [
    path("", seat_map, name="seat-map"),
    # The stolen and zombie holds of the recent history, as the checker names them (the timeline).
    path("seat-map/hold-anomalies", hold_anomalies, name="hold-anomalies"),
    # The page's JavaScript strings in the active language (pages/locale/*/djangojs.po).
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["pages"]), name="javascript-catalog"),
    # Django's set_language: POST language=fr|en, a cookie remembers it (else Accept-Language).
    path("i18n/", include("django.conf.urls.i18n")),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, /docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]
