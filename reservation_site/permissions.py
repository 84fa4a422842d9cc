"""Who may move clocks and act as operator: anyone in demo mode, authenticated staff in production mode."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission


class ClockControlPermission(BasePermission):
    """Reads are open; writes (set/remove/clear offsets, scenarios, NTP sync) need a staff
    user (session or ``Authorization: Token …``) when ``SEATCLOCK_OPEN_CLOCK_CONTROLS`` is off."""

    message = _("Only staff may change server clocks.")

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or settings.SEATCLOCK_OPEN_CLOCK_CONTROLS:
            return True
        user = request.user
        return bool(user is not None and user.is_authenticated and user.is_staff)


class OperatorPermission(ClockControlPermission):
    """Operator actions on the data (resolving conflicts): same rule as the clock controls,
    governed by the same ``SEATCLOCK_OPEN_CLOCK_CONTROLS`` switch."""

    message = _("Only staff may resolve conflicts.")
