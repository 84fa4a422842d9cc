"""The rate limits again, counted in Redis (the production cache): the same behaviour through
the one-round-trip sliding-log script."""

from __future__ import annotations

import secrets

import pytest
from django.core.cache import cache, caches

from tests.servers import skip_or_fail

from .test_rate_limits import (  # noqa: F401  (re-run here on Redis)
    test_api_limit_applies_to_every_endpoint,
    test_eleventh_reservation_in_a_minute_is_429,
    test_headers_count_down,
    test_limits_are_per_ip,
)

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def limits_on(settings):
    settings.SEATCLOCK_RATE_LIMITS = True
    return settings


@pytest.fixture(autouse=True)
def redis_cache(settings):
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        skip_or_fail(f"Redis unreachable at 127.0.0.1:6379: {exc}")
    settings.CACHES = {
        "default": {
            "BACKEND": "ops.cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{secrets.token_hex(4)}",
        }
    }
    yield
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
    if keys:
        client.delete(*keys)


def test_counts_live_in_one_redis_list_per_client(api, limits_on, venue, settings):
    for _ in range(3):
        api.get("/api/seats", REMOTE_ADDR="10.9.8.7")
    client = cache._cache.get_client(write=True)
    key = cache.make_and_validate_key("throttle-log_throttle_api_10.9.8.7")
    assert client.llen(key) == 3
    assert 0 < client.ttl(key) <= 60


def test_the_redis_client_is_built_once_and_reused():
    backend = caches["default"]
    first = backend._cache.get_client("a", write=True)
    assert backend._cache.get_client("b", write=True) is first
    assert backend._cache.get_client("c") is first  # a single server: reads use the same pool


def test_both_limits_of_a_reservation_are_counted_in_one_redis_round_trip(api, limits_on, venue, monkeypatch):
    import redis

    def reserve_from(seat):
        body = {"seat_id": seat.pk, "customer_name": "Jeanne Ronde"}
        return api.post("/api/reservations", body, format="json", REMOTE_ADDR="10.9.8.6")

    assert reserve_from(venue[0]).status_code == 201  # loads the script into Redis
    commands = []
    original = redis.Redis.execute_command

    def counting(self, *args, **options):
        commands.append(args[0])
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    response = reserve_from(venue[1])
    assert response.status_code == 201
    assert commands == ["EVALSHA"]
    # Both scopes counted: the reservation limit is the tighter one the headers show.
    assert response["X-RateLimit-Limit"] == "10" and response["X-RateLimit-Remaining"] == "8"
    client = cache._cache.get_client(write=True)
    for scope in ("api", "reservations"):
        assert client.llen(cache.make_and_validate_key(f"throttle-log_throttle_{scope}_10.9.8.6")) == 2
