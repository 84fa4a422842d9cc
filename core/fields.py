"""Strict DRF fields and request-body serializers shared by every app's API.

DRF's stock fields coerce: ``IntegerField`` takes ``"1"`` and ``1.0``, ``FloatField`` takes
``"5"`` and ``CharField`` takes ``5``.  A script that sends the wrong type should hear so, so
these fields accept only the JSON type the spec names; and DRF's serializers drop the keys they
do not declare, so a misspelt ``ttl_second`` silently gets the default hold:
:class:`InputSerializer` refuses them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

MAX_BIGINT = 2**63 - 1


class InputSerializer(serializers.Serializer[Any]):
    """The base of every request body's serializer: a key it does not declare is refused —
    400 ``VALIDATION_ERROR``, ``details`` naming each unknown key — instead of being ignored
    (``core.schema.closed_request_bodies`` documents it as ``additionalProperties: false``)."""

    default_error_messages = {"unknown": _("Unknown field.")}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                message = self.error_messages["unknown"]
                raise serializers.ValidationError({key: [message] for key in unknown})
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not a bool, not a string, not a float), by default 1 … 2**63-1."""

    default_error_messages = {"invalid": _("Must be an integer.")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number (int or float, never a bool or a string)."""

    default_error_messages = {
        "invalid": _("Must be a number."),
        "not_finite": _("Must be a finite number."),
    }

    def to_internal_value(self, data: Any) -> float:
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
    """A StrictFloatField limited to ±``getattr(settings, bound_setting)``.

    The service layer checks the bound (with its own message); the field only carries it so the
    OpenAPI schema can document ``minimum``/``maximum`` (``core.schema``).
    """

    def __init__(self, *, bound_setting: str, **kwargs: Any) -> None:
        self.bound_setting = bound_setting
        super().__init__(**kwargs)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter written as plain digits (``5``, ``-1``): DRF's own field also
    takes ``5.0``, ``+5``, `` 5`` and ``5_0``, which no client means as an integer."""

    _DIGITS = re.compile(r"-?[0-9]+")

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not self._DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


#: Unicode general categories no text field accepts: controls (Cc, e.g. NUL, U+0085, U+009B),
#: format characters (Cf, e.g. U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE), line and
#: paragraph separators (Zl, Zp), private use (Co), unassigned (Cn) and lone surrogates (Cs,
#: which DRF refuses too).  The table is Python's ``unicodedata`` (Unicode 14 on 3.11).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})


def has_refused_character(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`REFUSED_CATEGORIES`."""
    return any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in text)


def visible_length(text: str) -> int:
    """How many characters of ``text`` a reader sees: neither whitespace nor a combining mark
    (category M: an accent, a variation selector) — ``"J\u0301"`` is one, ``"J D"`` two."""
    return sum(1 for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("M"))


class StrictCharField(serializers.CharField):
    """A JSON string, stored in Unicode normalisation form C (``"Zoe\u0308"`` becomes ``"Zoë"``);
    surrounding spaces are trimmed; the characters of
    :data:`REFUSED_CATEGORIES` are refused anywhere; ``min_length`` counts *visible* characters
    (:func:`visible_length`, at least 1), ``max_length`` every character of the trimmed string
    (what the database stores).  ``core.schema.strict_text_pattern`` documents exactly this."""

    default_error_messages = {
        "invalid": _("Must be a string."),
        "control": _("Must not contain control, format, separator, private-use or unassigned characters."),
    }

    def __init__(self, **kwargs: Any) -> None:
        # DRF's MinLengthValidator counts code points; the visible count is checked here instead.
        min_length = kwargs.pop("min_length", None)
        super().__init__(**kwargs)
        self.min_length = min_length

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if has_refused_character(data):
            self.fail("control")
        value = unicodedata.normalize("NFC", super().to_internal_value(data))
        visible = visible_length(value)
        if visible == 0:
            self.fail("blank")
        if self.min_length is not None and visible < self.min_length:
            self.fail("min_length", min_length=self.min_length)
        return value


class StrictChoiceField(serializers.ChoiceField):
    """A JSON string among ``choices`` (DRF's ``ChoiceField`` would take ``1`` for ``"1"``)."""

    default_error_messages = {
        "invalid": _("Must be a string."),
        "invalid_choice": _('"{input}" is not a valid choice: use {choices}.'),
    }

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        if data not in self.choice_strings_to_values:
            self.fail("invalid_choice", input=data, choices=", ".join(self.choice_strings_to_values))
        return self.choice_strings_to_values[data]
