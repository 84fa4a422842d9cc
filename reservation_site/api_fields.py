"""Strict DRF fields and pagination shared by every app's API.

DRF's stock fields coerce: ``IntegerField`` takes ``"1"`` and ``1.0``, ``FloatField`` takes
``"5"`` and ``CharField`` takes ``5``.  A script that sends the wrong type should hear so, so
these fields accept only the JSON type the spec names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

MAX_BIGINT = 2**63 - 1


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not a bool, not a string, not a float), by default 1 … 2**63-1."""

    default_error_messages = {"invalid": _("Must be an integer.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number (int or float, never a bool or a string)."""

    default_error_messages = {
        "invalid": _("Must be a number."),
        "not_finite": _("Must be a finite number."),
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:
            self.fail("not_finite")
        if not math.isfinite(value):
            self.fail("not_finite")
        return super().to_internal_value(value)


class BoundedFloatField(StrictFloatField):
    """A StrictFloatField limited to ±``settings.SEATCLOCK[bound_setting]``.

    The service layer checks the bound (with its own message); the field only carries it so the
    OpenAPI schema can document ``minimum``/``maximum`` (``reservation_site.schema``).
    """

    def __init__(self, *, bound_setting: str, **kwargs):
        self.bound_setting = bound_setting
        super().__init__(**kwargs)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter written as plain digits (``5``, ``-1``): DRF's own field also
    takes ``5.0``, ``+5``, `` 5`` and ``5_0``, which no client means as an integer."""

    _DIGITS = re.compile(r"-?[0-9]+")

    def to_internal_value(self, data):
        if isinstance(data, str) and not self._DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string; surrounding spaces are trimmed; control characters are refused."""

    default_error_messages = {
        "invalid": _("Must be a string."),
        "control": _("Must not contain control characters."),
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in data):
            self.fail("control")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A JSON string among ``choices`` (DRF's ``ChoiceField`` would take ``1`` for ``"1"``)."""

    default_error_messages = {
        "invalid": _("Must be a string."),
        "invalid_choice": _('"{input}" is not a valid choice: use {choices}.'),
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if data not in self.choice_strings_to_values:
            self.fail("invalid_choice", input=data, choices=", ".join(self.choice_strings_to_values))
        return self.choice_strings_to_values[data]


class PageQuery(serializers.Serializer):
    """``limit`` (default 100, larger values clamped to 1000) and ``offset`` query params."""

    limit = QueryIntegerField(required=False, min_value=1, max_value=MAX_BIGINT)
    offset = QueryIntegerField(required=False, min_value=0, max_value=MAX_BIGINT, default=0)

    def validate_limit(self, value: int) -> int:
        return min(value, settings.SEATCLOCK["PAGE_MAX_LIMIT"])


def query_values(query_params, names: tuple[str, ...]) -> dict[str, str]:
    """The named query parameters as a plain dict (so an empty value is refused, not read as
    absent).  A parameter given more than once is refused: which value was meant is ambiguous."""
    repeated = {name: [_("Give this parameter only once.")] for name in names if len(query_params.getlist(name)) > 1}
    if repeated:
        raise serializers.ValidationError(repeated)
    return {name: query_params[name] for name in names if name in query_params}


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @classmethod
    def from_query(cls, query_params) -> Page:
        data = PageQuery(data=query_values(query_params, ("limit", "offset")))
        data.is_valid(raise_exception=True)
        limit = data.validated_data.get("limit", settings.SEATCLOCK["PAGE_DEFAULT_LIMIT"])
        return cls(limit=limit, offset=data.validated_data["offset"])

    def headers(self, total: int) -> dict[str, str]:
        """``X-Total-Count`` and ``X-Page-Count`` (pages of ``limit`` items)."""
        return {"X-Total-Count": str(total), "X-Page-Count": str(math.ceil(total / self.limit))}


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable code, e.g. SEAT_ALREADY_RESERVED.")
    message = serializers.CharField(help_text="Human-readable message (follows Accept-Language).")
    details = serializers.DictField(help_text="Context: per-field messages for VALIDATION_ERROR.")


class ErrorSerializer(serializers.Serializer):
    """The error envelope used by every error response."""

    error = ErrorBodySerializer()


def iso_utc(value: datetime) -> str:
    """A timestamp as the API writes it everywhere: ISO 8601 in UTC with a ``Z`` (as DRF does)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
