"""Who may do what: anyone in the local demo, staff in production (DESIGN §6).

- :func:`may_operate`: move clocks and act as operator (the API's permission classes, the
  seat-map page, which shows the controls only to those who may use them, and the schema);
- :func:`may_cancel_without_token`: cancel any reservation without its cancel token;
- :func:`audience_of`: whether a reader sees customer names whole (:attr:`Audience.STAFF`) or
  as initials (:attr:`Audience.PUBLIC`).  ``reservations.shapes`` decides what each audience's
  name looks like; the live feed renders every event once per audience in :func:`audiences`.
"""

from __future__ import annotations

import enum
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission


def is_staff(user: Any) -> bool:
    """An authenticated staff user (session or ``Authorization: Token …``)."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False))


def controls_open() -> bool:
    """Whether clock controls and operator actions are open to everyone
    (``SEATCLOCK_OPEN_CLOCK_CONTROLS``: on in the demo, off in production)."""
    return bool(settings.SEATCLOCK_OPEN_CLOCK_CONTROLS)


def may_operate(user: Any) -> bool:
    """Whether ``user`` may move clocks, sync nodes, switch modes and resolve conflicts."""
    return controls_open() or is_staff(user)


def may_cancel_without_token(user: Any) -> bool:
    """Whether ``user`` may cancel a reservation without its cancel token (header
    ``X-Cancel-Token``): everyone unless ``SEATCLOCK_CANCEL_TOKEN_REQUIRED`` (production), staff always."""
    return not settings.SEATCLOCK_CANCEL_TOKEN_REQUIRED or is_staff(user)


class Audience(enum.StrEnum):
    """Who reads customer names: ``public`` sees initials ("J. D."), ``staff`` names whole."""

    PUBLIC = "public"
    STAFF = "staff"


def names_public() -> bool:
    """Whether every reader sees customer names whole (``SEATCLOCK_PUBLIC_NAMES``: the demo)."""
    return bool(settings.SEATCLOCK_PUBLIC_NAMES)


def audience_of(user: Any) -> Audience:
    """The audience of a reader: staff, or everyone while names are public (the demo)."""
    return Audience.STAFF if names_public() or is_staff(user) else Audience.PUBLIC


def audiences() -> tuple[Audience, ...]:
    """The audiences readers can belong to right now (one in the demo, two in production)."""
    return (Audience.STAFF,) if names_public() else (Audience.PUBLIC, Audience.STAFF)


class ClockControlPermission(BasePermission):
    """Reads are open; writes (offsets, scenarios, NTP sync, mode) need :func:`may_operate`."""

    message = _("Only staff may change server clocks.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or may_operate(request.user)


class OperatorPermission(ClockControlPermission):
    """Operator actions on the data (resolving conflicts): the same rule."""

    message = _("Only staff may resolve conflicts.")


class AuditPermission(BasePermission):
    """The operations history (customer names, who moved which clock): :func:`may_operate`
    for every method, reads included."""

    message = _("Only staff may read the operations history.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return may_operate(request.user)
