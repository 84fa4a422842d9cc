"""OpenAPI helpers: every operation documents its errors with the envelope."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularRedocView
from rest_framework import serializers

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
                # Reads are open to everyone in both modes (ClockControlPermission lets safe methods by).
                if open_controls or method in {"get", "head", "options"}:
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

# ``str.strip()`` removes exactly these (Python's whitespace); the ones below U+0020 are also
# control characters, which StrictCharField refuses anywhere in the string.
_STRIPPED = r"\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL = r"\u0000-\u001f\u007f"
_ANY = f"[^{_CONTROL}]"  # any character the field accepts
_EDGE = f"[^{_CONTROL}{_STRIPPED}]"  # one that survives trimming
_PAD = f"[{_STRIPPED}]*"


def strict_text_pattern(min_length: int | None, max_length: int | None) -> str:
    """ECMA/Python regex for a trimmed, control-free string of ``min_length..max_length``
    characters *after* trimming (blank is refused, so at least 1)."""
    low = max(1, min_length or 1)
    if max_length is None:
        middle = f"{_ANY}{{{max(0, low - 2)},}}"
    elif max_length == 1:
        return f"^{_PAD}{_EDGE}{_PAD}$"
    else:
        middle = f"{_ANY}{{{max(0, low - 2)},{max_length - 2}}}"
    core = f"{_EDGE}{middle}{_EDGE}" if low >= 2 else f"{_EDGE}(?:{middle}{_EDGE})?"
    return f"^{_PAD}{core}{_PAD}$"


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
        note = f"Surrounding whitespace is trimmed, then {bounds} characters; no control characters."
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
