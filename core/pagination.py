"""Pagination of the API's lists (spec: default limit 100, maximum 1000, ``X-Total-Count`` and
``X-Page-Count`` headers) and strict reading of query parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .fields import MAX_BIGINT, QueryIntegerField


class PageQuery(serializers.Serializer):  # type: ignore[type-arg]
    """``limit`` (default 100, larger values clamped to 1000) and ``offset`` query params."""

    limit = QueryIntegerField(required=False, min_value=1, max_value=MAX_BIGINT)
    offset = QueryIntegerField(required=False, min_value=0, max_value=MAX_BIGINT, default=0)

    def validate_limit(self, value: int) -> int:
        return min(value, settings.SEATCLOCK_PAGE_MAX_LIMIT)


def query_values(query_params: QueryDict, names: tuple[str, ...]) -> dict[str, str]:
    """The named query parameters as a plain dict (so an empty value is refused, not read as
    absent).  A parameter given more than once is refused: which value was meant is ambiguous."""
    repeated = {name: [_("Give this parameter only once.")] for name in names if len(query_params.getlist(name)) > 1}
    if repeated:
        raise serializers.ValidationError(repeated)
    return {name: str(query_params[name]) for name in names if name in query_params}


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @classmethod
    def from_query(cls, query_params: QueryDict) -> Page:
        data = PageQuery(data=query_values(query_params, ("limit", "offset")))
        data.is_valid(raise_exception=True)
        limit = data.validated_data.get("limit", settings.SEATCLOCK_PAGE_DEFAULT_LIMIT)
        return cls(limit=limit, offset=data.validated_data["offset"])

    def headers(self, total: int) -> dict[str, str]:
        """``X-Total-Count`` and ``X-Page-Count`` (pages of ``limit`` items)."""
        return {"X-Total-Count": str(total), "X-Page-Count": str(math.ceil(total / self.limit))}
