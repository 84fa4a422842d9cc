"""Rate limits (spec: 100 requests/min per IP on the API, 10 reservations/min per IP).

DRF's ``SimpleRateThrottle`` does the counting (in the Django cache: Redis when
``REDIS_URL`` is set, so every process shares the counters; local memory otherwise) and
raises ``Throttled`` whose ``wait`` becomes ``Retry-After`` in the error envelope.  On top
of it these classes:

- read ``SEATCLOCK_RATE_LIMITS`` (on/off) and ``SEATCLOCK_RATE_LIMIT_API`` /
  ``SEATCLOCK_RATE_LIMIT_RESERVATIONS`` (rates) at request time, so the ``settings`` fixture
  and the environment both switch them;
- count per client address (:func:`client_address`): the connection's own unless ``NUM_PROXIES``
  declares trusted proxies (DRF would trust the whole ``X-Forwarded-For`` otherwise);
- exempt authenticated staff;
- remember limit/remaining/reset on the request, which :class:`RateLimitHeadersMiddleware`
  turns into ``X-RateLimit-*`` headers (the tightest limit that applied);
- on Redis, count every limit that applies to a request with one atomic script
  (:class:`RateLimits`: one round trip per request for both scopes, instead of DRF's
  read-then-write per scope — four round trips, and concurrent requests of one client could
  overwrite each other's stamps).
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from core.permissions import is_staff
from ops.cache import ReusedClientRedisCache
from timesync import clock

STATE_ATTR = "_seatclock_ratelimit"

logger = logging.getLogger("seatclock.throttling")


def client_address(request) -> str:
    """Who a request comes from, for rate limits and admin login throttling (django-axes).

    ``REMOTE_ADDR`` (the connection's address) unless ``NUM_PROXIES`` = N > 0 declares trusted
    proxies in front: then the N-th address from the right of ``X-Forwarded-For``, the one the
    outermost trusted proxy received the connection from (anything left of it is what the
    client claims, and is ignored).  A request that did not come through the proxies (no
    header) is its connection's address.
    """
    meta = getattr(request, "META", {})
    remote = meta.get("REMOTE_ADDR", "")
    proxies = int(settings.NUM_PROXIES or 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    return hops[-min(proxies, len(hops))] or remote


class _IpRateThrottle(SimpleRateThrottle):
    """One rate limit (a scope, a rate, the requests it applies to), counted per client.
    :class:`RateLimits` counts every limit that applies to a request together."""

    rate_setting = ""  # the setting holding "N/period"
    timer = staticmethod(clock.host_timestamp)

    def get_ident(self, request) -> str:
        return client_address(request)

    def __init__(self) -> None:  # the rate is read per request, not at import
        pass

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)

    def applies(self, request, view) -> bool:
        return True

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def counts(self, request, view) -> bool:
        """Whether this limit counts ``request`` (limits on, it applies, not staff); reads the rate."""
        if not settings.SEATCLOCK_RATE_LIMITS or not self.applies(request, view):
            return False
        if is_staff(getattr(request, "user", None)):
            return False
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return True

    def allow_request(self, request, view) -> bool:
        """DRF's counting in the Django cache (local memory: tests, the demo), for this limit alone."""
        if not self.counts(request, view):
            return True
        try:
            allowed = super().allow_request(request, view)
        except Exception:
            _unavailable(self)
            return True
        self.count, self.oldest = len(self.history), (self.history[-1] if self.history else self.now)
        self.remember(request, allowed)
        return allowed

    def wait(self) -> float | None:
        """DRF's ``wait()`` from the count and oldest stamp (either counting path)."""
        remaining_duration = self.duration - (self.now - self.oldest) if self.count else self.duration
        available_requests = self.num_requests - self.count + 1
        if available_requests <= 0:
            return None
        return remaining_duration / float(available_requests)

    def remember(self, request, allowed: bool) -> None:
        # After a success the new request is already counted.
        remaining = max(0, self.num_requests - self.count)
        state = {"limit": self.num_requests, "remaining": remaining, "reset": math.ceil(self.oldest + self.duration)}
        django_request = getattr(request, "_request", request)
        previous = getattr(django_request, STATE_ATTR, None)
        if previous is None or remaining < previous["remaining"]:
            setattr(django_request, STATE_ATTR, state)


def _unavailable(limit: _IpRateThrottle) -> None:
    # The counters live in the cache (Redis when REDIS_URL is set).  Without them the limit
    # cannot be counted: fail open rather than answer every request with a 500.
    logger.warning("rate limit %s not applied: cache unavailable", limit.scope, exc_info=True)


# KEYS: one client log per limit, newest stamp first.  ARGV: now, then window (s) and limit of
# each key.  Per key, DRF's sliding log: drop stamps older than the window; refuse at the limit;
# else record now.  Returns, per key, {allowed (0/1), count after this request, oldest stamp (a
# string: Lua numbers in replies are truncated to integers)}.
_SLIDING_LOG_LUA = """
local now, reply = tonumber(ARGV[1]), {}
for i, key in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  while true do
    local last = redis.call('LINDEX', key, -1)
    if last and tonumber(last) <= now - window then redis.call('RPOP', key) else break end
  end
  local count = redis.call('LLEN', key)
  local allowed = 0
  if count < limit then
    redis.call('LPUSH', key, ARGV[1])
    redis.call('EXPIRE', key, math.ceil(window))
    count = count + 1
    allowed = 1
  end
  table.insert(reply, allowed)
  table.insert(reply, count)
  table.insert(reply, redis.call('LINDEX', key, -1) or ARGV[1])
end
return reply
"""
_scripts: dict[int, object] = {}


def _sliding_logs(client, keys: list[str], now: float, limits: list[tuple[float, int]]) -> list[tuple[int, int, bytes]]:
    """Count one request in every log of ``keys`` (with its ``(window, limit)``), atomically."""
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_SLIDING_LOG_LUA)
    args: list[object] = [repr(now)]
    for window, limit in limits:
        args += [window, limit]
    flat = script(keys=keys, args=args)
    return [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]


class RateLimits(BaseThrottle):
    """Every rate limit of :data:`LIMITS` that applies to a request, counted together.

    On Redis one script counts them all: one round trip per request whatever the number of
    limits, and no lost updates between processes counting the same client.  On another cache
    (local memory) each limit counts on its own, DRF's way.  Refused by any limit: 429, with
    the longest ``wait()`` of the limits that refused as ``Retry-After``.
    """

    def allow_request(self, request, view) -> bool:
        counting = [limit for limit in (cls() for cls in LIMITS) if limit.counts(request, view)]
        self.refused: list[_IpRateThrottle] = []
        if not counting:
            return True
        backend = caches["default"]
        if isinstance(backend, ReusedClientRedisCache):
            self.refused = self._count_in_redis(backend, counting, request, view)
        else:
            self.refused = [limit for limit in counting if not limit.allow_request(request, view)]
        return not self.refused

    @staticmethod
    def _count_in_redis(backend: ReusedClientRedisCache, counting, request, view) -> list[_IpRateThrottle]:
        keys = [
            backend.make_and_validate_key(f"throttle-log_{limit.get_cache_key(request, view)}") for limit in counting
        ]
        now = clock.host_timestamp()
        try:
            client = backend._cache.get_client(keys[0], write=True)
            outcomes = _sliding_logs(client, keys, now, [(limit.duration, limit.num_requests) for limit in counting])
        except Exception:
            for limit in counting:
                _unavailable(limit)
            return []
        refused = []
        for limit, (allowed, count, oldest) in zip(counting, outcomes, strict=True):
            limit.now, limit.count, limit.oldest = now, count, float(oldest)
            limit.remember(request, bool(allowed))
            if not allowed:
                refused.append(limit)
        return refused

    def wait(self) -> float | None:
        waits = [w for w in (limit.wait() for limit in self.refused) if w is not None]
        return max(waits, default=None)


class ApiRateThrottle(_IpRateThrottle):
    """Every API request: ``SEATCLOCK_RATE_LIMIT_API`` per client IP (spec: 100/min)."""

    scope = "api"
    rate_setting = "SEATCLOCK_RATE_LIMIT_API"


class ReservationRateThrottle(_IpRateThrottle):
    """Reservation attempts (POST on a view with ``throttle_scope = "reservations"``):
    ``SEATCLOCK_RATE_LIMIT_RESERVATIONS`` per client IP (spec: 10/min)."""

    scope = "reservations"
    rate_setting = "SEATCLOCK_RATE_LIMIT_RESERVATIONS"

    def applies(self, request, view) -> bool:
        return request.method == "POST" and getattr(view, "throttle_scope", None) == "reservations"


#: The limits :class:`RateLimits` counts (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``).
LIMITS: tuple[type[_IpRateThrottle], ...] = (ApiRateThrottle, ReservationRateThrottle)


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
