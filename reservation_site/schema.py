"""OpenAPI helpers: every operation documents its errors with the envelope."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from .api_fields import ErrorSerializer


def error_response(description: str, *codes: str) -> OpenApiResponse:
    examples = [
        OpenApiExample(code, value={"error": {"code": code, "message": description, "details": {}}}) for code in codes
    ]
    return OpenApiResponse(response=ErrorSerializer, description=description, examples=examples)


VALIDATION = {400: error_response("Invalid input (per-field messages in details)", "VALIDATION_ERROR")}


def strip_trailing_slashes(result, generator, request, public):
    """Paths as the spec writes them: ``/api/seats``, not ``/api/seats/`` (both are served)."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result
