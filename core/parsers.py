"""The API's JSON parser: DRF's, refusing bodies nested deeper than ``SEATCLOCK_JSON_MAX_DEPTH``.

Python's JSON decoder recurses once per nesting level and raises ``RecursionError`` (not a
``ValueError``, so DRF's parser lets it through as a 500) on a body such as ``[[[[…]]]]`` a
few thousand levels deep.  No Seatclock request is nested more than three levels, so
anything deeper than the limit is refused as malformed: 400 ``VALIDATION_ERROR``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` (parsed JSON) nests arrays and objects, counted without recursion;
    stops counting once past ``limit``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """``application/json``; ``ParseError`` (400) for bodies nested deeper than the limit."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.SEATCLOCK_JSON_MAX_DEPTH
        too_deep = ParseError(_("JSON nested more than %(limit)d levels deep") % {"limit": limit})
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nesting_depth(data, limit) > limit:
            raise too_deep
        return data
