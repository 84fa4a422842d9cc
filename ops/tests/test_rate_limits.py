"""Rate limits: X-RateLimit-* headers, 429 + Retry-After in the envelope, staff exempt."""

from __future__ import annotations

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def limits_on(settings):
    settings.SEATCLOCK_RATE_LIMITS = True
    return settings


def reserve(api, seat, n):
    return api.post("/api/reservations", {"seat_id": seat.pk, "customer_name": f"Customer {n}"}, format="json")


def test_headers_count_down(api, limits_on, venue):
    first = api.get("/api/seats")
    second = api.get("/api/seats")
    assert first["X-RateLimit-Limit"] == "100"
    assert first["X-RateLimit-Remaining"] == "99"
    assert second["X-RateLimit-Remaining"] == "98"
    assert int(second["X-RateLimit-Reset"]) > 0


def test_eleventh_reservation_in_a_minute_is_429(api, limits_on, venue, frozen_clock):
    for n in range(10):
        response = reserve(api, venue[n], n)
        assert response.status_code == 201
        assert response["X-RateLimit-Limit"] == "10"
        assert response["X-RateLimit-Remaining"] == str(9 - n)
    eleventh = reserve(api, venue[10], 10)
    assert eleventh.status_code == 429
    assert eleventh.json()["error"]["code"] == "RATE_LIMITED"
    assert int(eleventh["Retry-After"]) == 60
    assert eleventh["X-RateLimit-Remaining"] == "0"
    # Reads still pass: the API limit (100/min) is not exhausted.
    assert api.get("/api/seats").status_code == 200
    # A minute later the window has moved on.
    frozen_clock.advance(61)
    assert reserve(api, venue[10], 10).status_code == 201


def test_api_limit_applies_to_every_endpoint(api, limits_on, venue):
    limits_on.SEATCLOCK_RATE_LIMIT_API = "3/min"
    assert [api.get("/api/time/servers").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_limits_are_per_ip(api, limits_on, venue):
    limits_on.SEATCLOCK_RATE_LIMIT_API = "1/min"
    assert api.get("/api/seats", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert api.get("/api/seats", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert api.get("/api/seats", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_staff_are_exempt(api, limits_on, venue, django_user_model):
    staff = django_user_model.objects.create_user("op", password="pw-op-123456", is_staff=True)
    api.force_authenticate(staff)
    for n in range(12):
        response = reserve(api, venue[n], n)
        assert response.status_code == 201
        assert "X-RateLimit-Remaining" not in response


def test_non_staff_users_are_limited(api, limits_on, venue, django_user_model):
    user = django_user_model.objects.create_user("someone", password="pw-someone-1")
    api.force_authenticate(user)
    statuses = [reserve(api, venue[n], n).status_code for n in range(11)]
    assert statuses == [201] * 10 + [429]


def test_demo_mode_has_no_limit(api, settings, venue):
    assert settings.SEATCLOCK_RATE_LIMITS is False  # demo default
    statuses = [reserve(api, venue[n], n).status_code for n in range(15)]
    assert statuses == [201] * 15
    assert "X-RateLimit-Limit" not in api.get("/api/seats")
