"""Keeps Django's own error paths inside the API's envelope.

DRF answers errors raised by its views.  What it never sees: a URL that resolves to no view
(Django's 404), an exception that escapes a view (500), and the HTML error pages Django
would render for them.  For paths under ``/api/`` this middleware replaces those with the
spec's ``{"error": {...}}`` JSON, and never lets a traceback reach the client.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import envelope, error_json_response

logger = logging.getLogger("seatclock.api")

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/")


class ApiErrorEnvelopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if _is_api(request) and response.status_code >= 400 and not self._is_json(response):
            return error_json_response(response.status_code)
        return response

    @staticmethod
    def _is_json(response: HttpResponse) -> bool:
        return response.get("Content-Type", "").startswith("application/json")

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api(request):
            return None
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            body = envelope("SERVICE_UNAVAILABLE", "The database is unavailable, try again shortly")
            response = JsonResponse(body, status=503)
            response["Retry-After"] = "5"
            return response
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_json_response(500)
