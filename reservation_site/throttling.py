"""Rate limits (spec: 100 requests/min per IP on the API, 10 reservations/min per IP).

DRF's ``SimpleRateThrottle`` does the counting (in the Django cache: Redis when
``REDIS_URL`` is set, so every process shares the counters; local memory otherwise) and
raises ``Throttled`` whose ``wait`` becomes ``Retry-After`` in the error envelope.  On top
of it these classes:

- read ``SEATCLOCK_RATE_LIMITS`` at request time (on/off and rates), so the ``settings``
  fixture and the environment both switch them;
- exempt authenticated staff;
- remember limit/remaining/reset on the request, which :class:`RateLimitHeadersMiddleware`
  turns into ``X-RateLimit-*`` headers (the tightest limit that applied).
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from timesync import clock

STATE_ATTR = "_seatclock_ratelimit"

logger = logging.getLogger("seatclock.throttling")


def _limits() -> dict:
    return settings.SEATCLOCK_RATE_LIMITS


class _IpRateThrottle(SimpleRateThrottle):
    rate_key = ""  # key of SEATCLOCK_RATE_LIMITS holding "N/period"
    timer = staticmethod(clock.host_timestamp)

    def __init__(self) -> None:  # the rate is read per request, not at import
        pass

    def get_rate(self) -> str:
        return _limits()[self.rate_key]

    def applies(self, request, view) -> bool:
        return True

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view) -> bool:
        if not _limits()["ENABLED"] or not self.applies(request, view):
            return True
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False) and user.is_staff:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            allowed = super().allow_request(request, view)
        except Exception:
            # The counters live in the cache (Redis when REDIS_URL is set).  Without them the
            # limit cannot be counted: fail open rather than answer every request with a 500.
            logger.warning("rate limit %s not applied: cache unavailable", self.scope, exc_info=True)
            return True
        self._remember(request, allowed)
        return allowed

    def _remember(self, request, allowed: bool) -> None:
        # After a success the new request is already in the history.
        remaining = max(0, self.num_requests - len(self.history))
        oldest = self.history[-1] if self.history else self.now
        state = {"limit": self.num_requests, "remaining": remaining, "reset": math.ceil(oldest + self.duration)}
        django_request = getattr(request, "_request", request)
        previous = getattr(django_request, STATE_ATTR, None)
        if previous is None or remaining < previous["remaining"]:
            setattr(django_request, STATE_ATTR, state)


class ApiRateThrottle(_IpRateThrottle):
    """Every API request: ``SEATCLOCK_RATE_LIMITS["API"]`` per client IP (spec: 100/min)."""

    scope = "api"
    rate_key = "API"


class ReservationRateThrottle(_IpRateThrottle):
    """Reservation attempts (POST on a view with ``throttle_scope = "reservations"``):
    ``SEATCLOCK_RATE_LIMITS["RESERVATIONS"]`` per client IP (spec: 10/min)."""

    scope = "reservations"
    rate_key = "RESERVATIONS"

    def applies(self, request, view) -> bool:
        return request.method == "POST" and getattr(view, "throttle_scope", None) == "reservations"


class RateLimitHeadersMiddleware:
    """Adds ``X-RateLimit-Limit/Remaining/Reset`` to responses a throttle counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        state = getattr(request, STATE_ATTR, None)
        if state is not None:
            response["X-RateLimit-Limit"] = str(state["limit"])
            response["X-RateLimit-Remaining"] = str(state["remaining"])
            response["X-RateLimit-Reset"] = str(state["reset"])
        return response
