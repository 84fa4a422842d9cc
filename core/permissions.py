"""Who may move clocks and act as operator: anyone in the local demo, staff in production.

One rule, :func:`may_operate`, used by the API's permission classes, the seat-map page (which
shows the controls only to those who may use them) and the OpenAPI schema.
"""

from __future__ import annotations

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
