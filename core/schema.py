"""OpenAPI helpers: every operation documents its errors with the envelope."""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularRedocView
from rest_framework import serializers

from .fields import REFUSED_CATEGORIES
from .permissions import controls_open


class ErrorBodySerializer(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField(help_text="Machine-readable code, e.g. SEAT_ALREADY_RESERVED.")
    message = serializers.CharField(help_text="Human-readable message (follows Accept-Language).")
    details = serializers.DictField(help_text="Context: per-field messages for VALIDATION_ERROR.")


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The error envelope used by every error response."""

    error = ErrorBodySerializer()


def error_response(description: str, *codes: str) -> OpenApiResponse:
    examples = [
        OpenApiExample(code, value={"error": {"code": code, "message": description, "details": {}}}) for code in codes
    ]
    return OpenApiResponse(response=ErrorSerializer, description=description, examples=examples)


VALIDATION = {400: error_response("Invalid input (per-field messages in details)", "VALIDATION_ERROR")}


def strip_trailing_slashes(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Paths as the spec writes them: ``/api/seats``, not ``/api/seats/`` (both are served)."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result


def closed_request_bodies(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every JSON request body's schema says ``additionalProperties: false``: the API refuses
    keys it does not declare (:class:`core.fields.InputSerializer`)."""
    schemas = result.get("components", {}).get("schemas", {})
    for item in result["paths"].values():
        for operation in item.values():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            for media in body.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                target = schemas.get(ref.rsplit("/", 1)[-1]) if ref else media.get("schema")
                if target is not None and target.get("type") == "object":
                    target["additionalProperties"] = False
    return result


# --- Every operation: the errors any request may meet -----------------------------------------

# Answers the API gives on every operation, whatever the view: a bad token (the schema offers
# token auth everywhere), rate limits (on in production mode), the database being down.
COMMON_ERRORS = {
    "401": ("Invalid or missing credentials", "NOT_AUTHENTICATED"),
    "429": ("Rate limit exceeded; Retry-After says when to come back", "RATE_LIMITED"),
    "503": ("The database is unavailable; Retry-After says when to retry", "SERVICE_UNAVAILABLE"),
}
# Operations with a JSON body also answer these.
BODY_ERRORS = {
    "400": ("Invalid input (per-field messages in details) or malformed JSON", "VALIDATION_ERROR"),
    "415": ("The body must be application/json", "UNSUPPORTED_MEDIA_TYPE"),
}
# Clock controls when they are closed (production mode): a non-staff user is refused.
CLOSED_CONTROL_ERRORS = {"403": ("Only staff may change server clocks", "PERMISSION_DENIED")}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}


def _error_object(description: str, codes: tuple[str, ...], *, retry_after: bool) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": {
                    code: {"value": {"error": {"code": code, "message": description, "details": {}}}, "summary": code}
                    for code in codes
                },
            }
        },
    }
    if retry_after:
        response["headers"] = dict(RETRY_AFTER)
    return response


def document_common_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Document, on every ``/api/`` operation, the answers that do not depend on the view.

    Clock controls are open to anonymous clients in demo mode (``SEATCLOCK_OPEN_CLOCK_CONTROLS``),
    so there the schema offers "no credentials" next to the token, as it does for reads; with
    the controls closed it requires the token and documents 403.
    """
    open_controls = controls_open()
    for path, item in result["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            extra = dict(COMMON_ERRORS)
            if "requestBody" in operation:
                extra.update(BODY_ERRORS)
            security = operation.get("security")
            anonymous = {} in (security or [{}])
            if not anonymous:
                # Reads are open to everyone in both modes (ClockControlPermission lets safe methods by),
                # except where the view itself documents a 403 (the audit trail: AuditPermission).
                closed_read = "403" in responses
                if open_controls or (method in {"get", "head", "options"} and not closed_read):
                    security.append({})
                else:
                    extra.update(CLOSED_CONTROL_ERRORS)
            for status, (description, *codes) in extra.items():
                if status not in responses:
                    responses[status] = _error_object(description, tuple(codes), retry_after=status in {"429", "503"})
                elif status in {"429", "503"}:
                    responses[status].setdefault("headers", dict(RETRY_AFTER))
    _drop_raw_lengths(result)
    return result


# --- StrictCharField: what the server really accepts ------------------------------------------


def _ranges(pick: Callable[[str], bool]) -> str:
    """A regex character-class body listing every code point whose general category ``pick``
    accepts: ``\\uXXXX`` escapes in the BMP, literal characters beyond (valid in Python's ``re``
    and in ECMA-262 patterns with the ``u`` flag)."""

    def char(cp: int) -> str:
        return f"\\u{cp:04x}" if cp < 0x10000 else chr(cp)

    spans: list[str] = []
    start = None
    for cp in range(sys.maxunicode + 2):
        inside = cp <= sys.maxunicode and pick(unicodedata.category(chr(cp)))
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            spans.append(char(start) if start == cp - 1 else f"{char(start)}-{char(cp - 1)}")
            start = None
    return "".join(spans)


@functools.cache
def _classes() -> tuple[str, str, str]:
    """(refused, whitespace, invisible) character-class bodies, from Python's Unicode tables."""
    refused = _ranges(lambda category: category in REFUSED_CATEGORIES)
    # What str.strip() removes once the refused characters are gone: the space separators (Zs).
    spaces = _ranges(lambda category: category == "Zs")
    invisible = _ranges(lambda category: category == "Zs" or category.startswith("M"))
    return refused, spaces, invisible


@functools.cache
def strict_text_pattern(min_length: int | None, max_length: int | None) -> str:
    """The regex of exactly the strings StrictCharField accepts (``core.fields``): no character
    of a refused category anywhere; after trimming the space separators, 1 to ``max_length``
    characters, of which at least ``min_length`` (at least 1) are visible (neither whitespace
    nor a combining mark).  Built from Python's Unicode tables, so it matches the server's rule."""
    refused, spaces, invisible = _classes()
    low = max(1, min_length or 1)
    anything = r"[\s\S]"
    edge = f"(?![{spaces}]){anything}"  # a character trimming keeps at an end
    if max_length is None:
        middle = f"(?:{anything}*{edge})?"
    elif max_length == 1:
        middle = ""
    else:
        middle = f"(?:{anything}{{0,{max_length - 2}}}{edge})?"
    no_refused = f"(?!{anything}*[{refused}])"
    enough_visible = f"(?=(?:{anything}*?(?![{invisible}]){anything}){{{low}}})"
    return f"^{no_refused}{enough_visible}[{spaces}]*{edge}{middle}[{spaces}]*$"


TRIMMED_MARK = "x-seatclock-trimmed"


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """StrictCharField trims surrounding whitespace before checking lengths and refuses control
    characters: its trimmed length is bounded, its raw length is not.  The bounds therefore go
    into ``pattern``; drf-spectacular adds ``minLength``/``maxLength`` from the field's validators
    after this runs, so the field is marked and :func:`document_common_errors` drops them."""

    target_class = "core.fields.StrictCharField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        low, high = max(1, self.target.min_length or 1), self.target.max_length
        schema["pattern"] = strict_text_pattern(low, high)
        bounds = f"{low} to {high}" if high else f"at least {low}"
        note = (
            f"Surrounding whitespace is trimmed, then {bounds} characters, at least {low} of them visible "
            "(not whitespace, not a combining mark); no control, format, separator, private-use or "
            "unassigned characters (Unicode categories Cc, Cf, Zl, Zp, Co, Cn, Cs)."
        )
        schema["description"] = f"{schema['description']} {note}" if schema.get("description") else note
        schema[TRIMMED_MARK] = True
        return schema


class BoundedFloatFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """Documents the ±bound (a SEATCLOCK setting) that the service layer enforces."""

    target_class = "core.fields.BoundedFloatField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        from django.conf import settings

        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        bound = getattr(settings, self.target.bound_setting)
        schema.update(minimum=-bound, maximum=bound)
        return schema


def _drop_raw_lengths(node: Any) -> None:
    if isinstance(node, dict):
        if node.pop(TRIMMED_MARK, False):
            node.pop("minLength", None)
            node.pop("maxLength", None)
        for value in node.values():
            _drop_raw_lengths(value)
    elif isinstance(node, list):
        for value in node:
            _drop_raw_lengths(value)


#: What the API documentation pages may load: this server only (and what their bundles build
#: in the page: inline styles, blob workers, data: images).  ReDoc's menu shows Redocly's logo
#: from cdn.redoc.ly; this policy stops the browser from asking for it at all (the image hides
#: itself when it does not load), so /redoc works the same offline and online.
OFFLINE_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'"
)


class OfflineRedocView(SpectacularRedocView):
    """drf-spectacular's ReDoc page served from this server alone: the bundled (sidecar) ReDoc, no
    web font (``config/templates/drf_spectacular/redoc.html``) and :data:`OFFLINE_DOCS_POLICY`."""

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
        response["Content-Security-Policy"] = OFFLINE_DOCS_POLICY
        return response
