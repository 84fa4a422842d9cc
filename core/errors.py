"""The error envelope: every error under ``/api/`` is ``{"error": {code, message, details}}``.

Domain exceptions carry the spec's ``code`` and HTTP status.  :func:`api_exception_handler` is
the one place that turns them, DRF's own exceptions and database failures into the envelope:
it converts each into an :class:`EnvelopeError`, then delegates to DRF's ``exception_handler``
(headers, transaction rollback), as HackSoft and pretix do.  Django's own 404/405/500 paths are
covered by :mod:`core.middleware`, which uses the same :func:`database_unavailable` and
:func:`error_for_status`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .permissions import Audience, audience_of

logger = logging.getLogger("seatclock.api")

#: Seconds a client is told to wait when the database is unreachable.
DATABASE_RETRY_AFTER = 5


class DomainError(Exception):
    """Base of every error the API reports by code.

    Subclasses set ``code`` (the spec's error code), ``status`` (HTTP) and ``default_message``;
    ``retry_after`` (seconds) becomes a ``Retry-After`` header when set.
    """

    code = "INTERNAL_ERROR"
    status = 500
    default_message = gettext_noop("Internal server error")
    retry_after: int | None = None

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or _(self.default_message)
        self.details = details or {}
        super().__init__(self.message)

    def details_for(self, audience: Audience) -> dict[str, Any]:
        """``details`` as ``audience`` may read them (a customer's name as initials for the
        public: ``SeatAlreadyReserved`` overrides this); the same for everyone by default."""
        return self.details


class ValidationFailed(DomainError):
    """400 ``VALIDATION_ERROR``; ``details`` maps each field to its messages."""

    code, status, default_message = "VALIDATION_ERROR", 400, gettext_noop("Invalid input")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def error_text(exc: DomainError, *, labels: Mapping[str, str] | None = None) -> str:
    """``exc`` as plain sentences for a person (a terminal, an admin message), not a dict:
    ``"Invalid input. --rows: Between 1 and 26 rows (one letter each)."``.  A validation error's
    fields follow its message, each renamed by ``labels`` when given (a service's ``rows`` is a
    command's ``--rows``)."""
    parts = [_sentence(exc.message)]
    if exc.code == ValidationFailed.code:
        for field, messages in exc.details.items():
            listed = messages if isinstance(messages, list) else [messages]
            label = (labels or {}).get(str(field), str(field))
            parts.append(f"{label}: " + " ".join(_sentence(str(m)) for m in listed))
    return " ".join(parts)


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
    """``{"error": {"code", "message", "details"}}``: the body of every API error."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_for_status(status_code: int, *, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope for a bare HTTP status (a Django 404, a 405, a 500)."""
    code, message = STATUS_CODES.get(status_code, (f"HTTP_{status_code}", "HTTP error"))
    return envelope(code, _(message), details)


def error_json_response(status_code: int, *, details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(error_for_status(status_code, details=details), status=status_code)


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or went away (not a bad query)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def database_unavailable(exc: BaseException) -> tuple[dict[str, Any], dict[str, str]]:
    """Body and headers of the 503 answered when the database is unreachable: the one place
    that says so, for DRF views and plain Django views alike."""
    logger.warning("database unavailable: %s", exc)
    body = envelope("SERVICE_UNAVAILABLE", _("The database is unavailable, try again shortly"))
    return body, {"Retry-After": str(DATABASE_RETRY_AFTER)}


def refused_request(exc: SuspiciousOperation) -> tuple[int, dict[str, Any]]:
    """Status and body for a request Django refuses to read (a ``SuspiciousOperation``): a body
    above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413, too many query or form fields (above
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS``) and any other refusal 400; never a 500."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = _("The request body is larger than %(limit)s bytes") % {"limit": limit}
        return 413, envelope("PAYLOAD_TOO_LARGE", message, {"max_bytes": limit})
    logger.warning("request refused: %s", exc.__class__.__name__)
    message = _("The request was refused: %(reason)s") % {"reason": exc.__class__.__name__}
    return 400, envelope("BAD_REQUEST", message)


class EnvelopeError(drf_exceptions.APIException):
    """An error already in the envelope, for DRF's handler to answer with its status and headers.

    ``detail`` is set directly (not through ``APIException.__init__``, which would turn every
    value in ``details`` into a string: a seat id stays an integer)."""

    def __init__(
        self, status_code: int, body: dict[str, Any], *, wait: float | None = None, auth_header: str | None = None
    ) -> None:
        self.status_code = status_code
        self.detail = body
        self.wait = wait
        self.auth_header = auth_header


def _flatten(detail: Any) -> Any:
    """DRF ``ErrorDetail`` trees become plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def _convert(exc: Exception, reader: Callable[[], Audience]) -> EnvelopeError | None:
    """``exc`` as an :class:`EnvelopeError`, its details as ``reader()`` may see them, or
    ``None`` for an exception the API does not answer (re-raised by DRF, then answered 500 by
    the middleware).  ``reader`` is called for domain errors only: they are raised by views,
    after authentication, so asking who reads never queries the database again."""
    if isinstance(exc, DomainError):
        body = envelope(exc.code, exc.message, exc.details_for(reader()))
        return EnvelopeError(exc.status, body, wait=exc.retry_after)
    if is_database_unavailable(exc):
        body, _headers = database_unavailable(exc)
        return EnvelopeError(503, body, wait=DATABASE_RETRY_AFTER)
    if isinstance(exc, SuspiciousOperation):
        status, body = refused_request(exc)
        return EnvelopeError(status, body)
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return EnvelopeError(500, error_for_status(500))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if not isinstance(exc, drf_exceptions.APIException):
        return None
    wait, auth = getattr(exc, "wait", None), getattr(exc, "auth_header", None)
    if isinstance(exc, drf_exceptions.ValidationError):
        details = _flatten(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details}
        body = envelope("VALIDATION_ERROR", _("Invalid input"), details)
        return EnvelopeError(400, body, wait=wait, auth_header=auth)
    if isinstance(exc, drf_exceptions.ParseError):
        body = envelope("VALIDATION_ERROR", _("Malformed request body"), {"body": [str(exc.detail)]})
        return EnvelopeError(400, body, wait=wait, auth_header=auth)
    code, message = STATUS_CODES.get(exc.status_code, (f"HTTP_{exc.status_code}", ""))
    body = envelope(code, str(exc.detail) if isinstance(exc.detail, str) else _(message))
    return EnvelopeError(exc.status_code, body, wait=wait, auth_header=auth)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: convert to the envelope, then delegate to DRF's handler
    (which rolls back ``ATOMIC_REQUESTS`` and sets ``WWW-Authenticate``).  ``Retry-After`` is
    whole seconds, at least 1 (DRF would truncate a 0.4 s wait to 0)."""
    request = context.get("request")
    converted = _convert(exc, lambda: audience_of(getattr(request, "user", None)))
    if converted is None:
        return None
    response = drf_exception_handler(converted, context)
    if response is not None and converted.wait is not None:
        response["Retry-After"] = str(max(1, math.ceil(converted.wait)))
    return response
