"""Keeps Django's own error paths inside the API's envelope.

DRF answers errors raised by its views.  What it never sees: a URL that resolves to no view
(Django's 404), an exception that escapes a view (500), and the HTML error pages Django
would render for them.  For paths under ``/api/`` this middleware replaces those with the
spec's ``{"error": {...}}`` JSON, and never lets a traceback reach the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import database_unavailable, error_json_response, is_database_unavailable, refused_request

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
        if isinstance(exception, SuspiciousOperation):
            status, refusal = refused_request(exception)
            return JsonResponse(refusal, status=status)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_json_response(500)


#: A refused body is read and discarded up to this size before the 413 goes out, so that a
#: client still sending gets the answer rather than a connection reset (a WSGI worker that
#: closes a socket with unread data resets it).  Larger bodies are answered at once.
DRAIN_LIMIT = 32 * 1024 * 1024


class RequestLimitsMiddleware:
    """Refuses a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's own limit, 2.5 MB by
    default) from its ``Content-Length``, before any view, parser or the CSRF check reads it:
    413, in the envelope under ``/api/``, plain text elsewhere.  A malformed ``Content-Length``
    is 400.  (Too many query or form fields are refused by Django when they are read; the error
    handlers answer them 400, see :func:`core.errors.refused_request`.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(request, SuspiciousOperation("malformed Content-Length"))
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            self._drain(request, length)
            response = self._refuse(request, RequestDataTooBig())
            response["Connection"] = "close"
            return response
        return self.get_response(request)

    @staticmethod
    def _drain(request: HttpRequest, length: int) -> None:
        if length > DRAIN_LIMIT:
            return
        try:
            while request.read(64 * 1024):
                pass
        except OSError:  # the client went away: nothing to answer
            pass

    @staticmethod
    def _refuse(request: HttpRequest, exception: SuspiciousOperation) -> HttpResponse:
        status, body = refused_request(exception)
        if is_api(request):
            return JsonResponse(body, status=status)
        return HttpResponse(body["error"]["message"], status=status, content_type="text/plain; charset=utf-8")
