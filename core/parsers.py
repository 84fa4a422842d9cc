"""The API's JSON parser: DRF's, refusing bodies nested deeper than ``SEATCLOCK_JSON_MAX_DEPTH``.

Python's JSON decoder recurses once per nesting level and raises ``RecursionError`` (not a
``ValueError``, so DRF's parser lets it through as a 500) on a body such as ``[[[[…]]]]`` a
few thousand levels deep.  No Seatclock request is nested more than three levels, so
anything deeper than the limit is refused as malformed: 400 ``VALIDATION_ERROR``.  So is an
object that repeats a key (``{"seat_id": 7, "seat_id": 8}``): RFC 8259 §4 leaves its meaning
to the parser, and Python's would silently keep the last.
"""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers as drf_parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json


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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict; ``ValueError`` naming the first key given twice."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} is given twice")
        data[key] = value
    return data


class BoundedJSONParser(JSONParser):
    """``application/json``, parsed as DRF's parser does (NaN and infinities refused);
    ``ParseError`` (400) for bodies nested deeper than the limit or repeating a key."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.SEATCLOCK_JSON_MAX_DEPTH
        too_deep = ParseError(_("JSON nested more than %(limit)d levels deep") % {"limit": limit})
        try:
            # DRF's get_encoding refuses bytes-to-bytes codecs (bz2…); not in drf-stubs yet.
            encoding = drf_parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
            decoded: Any = codecs.getreader(encoding)(stream)
            data = json.load(decoded, parse_constant=json.strict_constant, object_pairs_hook=_unique_keys)
        except RecursionError:
            raise too_deep from None
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
        if nesting_depth(data, limit) > limit:
            raise too_deep
        return data
