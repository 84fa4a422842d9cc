"""Keeps Django's own error paths inside the API's envelope.

DRF answers errors raised by its views.  What it never sees: a URL that resolves to no view
(Django's 404), an exception that escapes a view (500), and the HTML error pages Django
would render for them.  For paths under ``/api/`` this middleware replaces those with the
spec's ``{"error": {...}}`` JSON, and never lets a traceback reach the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import database_unavailable, error_json_response, is_database_unavailable

logger = logging.getLogger("seatclock.api")

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    """Whether ``request`` addresses the REST API (its errors use the envelope)."""
    return request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/")


class ApiErrorEnvelopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not self._is_json(response):
            return error_json_response(response.status_code)
        return response

    @staticmethod
    def _is_json(response: HttpResponse) -> bool:
        return response.get("Content-Type", "").startswith("application/json")

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api(request):
            return None
        if is_database_unavailable(exception):
            body, headers = database_unavailable(exception)
            return JsonResponse(body, status=503, headers=headers)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_json_response(500)
