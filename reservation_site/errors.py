"""The error envelope: every error under ``/api/`` is ``{"error": {code, message, details}}``.

Domain exceptions carry the spec's ``code`` and HTTP status; :func:`api_exception_handler`
is the one place that turns them (and DRF's own exceptions) into the envelope.  Django's own
404/405/415/500 paths are covered by ``reservation_site.middleware``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("seatclock.api")


class DomainError(Exception):
    """Base of every error the API reports by code."""

    code = "INTERNAL_ERROR"
    status = 500
    default_message = gettext_noop("Internal server error")

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or _(self.default_message)
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code, status, default_message = "VALIDATION_ERROR", 400, gettext_noop("Invalid input")


class NotFound(DomainError):
    code, status, default_message = "NOT_FOUND", 404, gettext_noop("Resource not found")


class ServiceUnavailable(DomainError):
    code, status, default_message = "SERVICE_UNAVAILABLE", 503, gettext_noop("Service temporarily unavailable")


# Codes for Django/DRF errors that are not domain errors.
STATUS_CODES = {
    400: ("BAD_REQUEST", gettext_noop("Bad request")),
    401: ("NOT_AUTHENTICATED", gettext_noop("Authentication credentials were not provided")),
    403: ("PERMISSION_DENIED", gettext_noop("You do not have permission to perform this action")),
    404: ("NOT_FOUND", gettext_noop("Resource not found")),
    405: ("METHOD_NOT_ALLOWED", gettext_noop("Method not allowed")),
    406: ("NOT_ACCEPTABLE", gettext_noop("Cannot satisfy the request's Accept header")),
    413: ("PAYLOAD_TOO_LARGE", gettext_noop("Request body too large")),
    415: ("UNSUPPORTED_MEDIA_TYPE", gettext_noop("Unsupported media type: send application/json")),
    429: ("RATE_LIMITED", gettext_noop("Too many requests")),
    500: ("INTERNAL_ERROR", gettext_noop("Internal server error")),
    502: ("BAD_GATEWAY", gettext_noop("Bad gateway")),
    503: ("SERVICE_UNAVAILABLE", gettext_noop("Service temporarily unavailable")),
}


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_for_status(status_code: int, *, details: dict[str, Any] | None = None) -> dict[str, Any]:
    code, message = STATUS_CODES.get(status_code, (f"HTTP_{status_code}", "HTTP error"))
    return envelope(code, _(message), details)


def error_json_response(status_code: int, *, details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(error_for_status(status_code, details=details), status=status_code)


def _flatten(detail: Any) -> Any:
    """DRF ``ErrorDetail`` trees become plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: domain errors and DRF errors, all in the envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(envelope(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The database is unreachable or went away: say so, never a traceback.
        logger.warning("database unavailable: %s", exc)
        set_rollback()
        return Response(
            envelope("SERVICE_UNAVAILABLE", _("The database is unavailable, try again shortly")),
            status=503,
            headers={"Retry-After": "5"},
        )
    elif isinstance(exc, DatabaseError):
        logger.exception("database error")
        set_rollback()
        return Response(error_for_status(500), status=500)

    if not isinstance(exc, drf_exceptions.APIException):
        return None  # re-raised by DRF; the middleware answers 500 in the envelope

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))

    set_rollback()
    if isinstance(exc, drf_exceptions.ValidationError):
        details = _flatten(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details}
        body = envelope("VALIDATION_ERROR", _("Invalid input"), details)
        return Response(body, status=400, headers=headers)
    if isinstance(exc, drf_exceptions.ParseError):
        body = envelope("VALIDATION_ERROR", _("Malformed request body"), {"body": [str(exc.detail)]})
        return Response(body, status=400, headers=headers)
    code, _message = STATUS_CODES.get(exc.status_code, (f"HTTP_{exc.status_code}", ""))
    body = envelope(code, str(exc.detail) if isinstance(exc.detail, str) else _(_message))
    return Response(body, status=exc.status_code, headers=headers)


__all__ = [
    "DomainError",
    "NotFound",
    "ServiceUnavailable",
    "ValidationFailed",
    "api_exception_handler",
    "envelope",
    "error_for_status",
    "error_json_response",
    "status",
]
