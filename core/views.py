"""The API's base view: every ``/api/`` endpoint reads its body the same way.

DRF parses a body only when a view reads ``request.data``; an endpoint that takes none
(``POST /api/simulation/reset``, ``…/clear-offsets``, ``/api/time/sync``…) would otherwise
accept anything — including the ``text/plain`` or form bodies a cross-site HTML form can send
without a CORS preflight, so any web page could reset a running demo.  :class:`ApiView`
parses the body of every unsafe request before the handler runs:

- a ``Content-Type`` other than ``application/json`` → 415 ``UNSUPPORTED_MEDIA_TYPE``, even
  with an empty body (an empty form is still a form); no ``Content-Type`` and no body is fine;
- a malformed or too deeply nested JSON body → 400 (:class:`core.parsers.BoundedJSONParser`).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView


class ApiView(APIView):
    """``APIView`` that refuses a non-JSON ``Content-Type`` or a malformed body on POST, PUT,
    PATCH and DELETE, whether or not the handler reads the body (after authentication,
    permissions and rate limits, as DRF orders them)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in SAFE_METHODS:
            return
        content_type = request.content_type
        media_type = content_type.split(";")[0].strip().lower()
        if media_type and all(parser.media_type != media_type for parser in request.parsers or ()):
            raise UnsupportedMediaType(content_type)
        request.data  # noqa: B018 - parse now: a malformed body is refused where no handler reads it
