"""Production mode: clock controls need staff, the deploy checks pass, no start without a key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.servers import mode_settings
from timesync.models import ServerNode

BASE_DIR = Path(__file__).resolve().parents[2]

CLOCK_CONTROLS = [
    ("post", "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -5.0}),
    ("delete", "/api/simulation/remove-offset/server-2", None),
    ("post", "/api/simulation/clear-offsets", None),
    ("post", "/api/simulation/apply-scenario", {"scenario_name": "major_drift"}),
    ("post", "/api/time/sync", {"server_id": "server-1", "ntp_server": "127.0.0.1:9"}),
]


@pytest.fixture
def locked(settings):
    """The settings SEATCLOCK_MODE=production derives (read from config/settings.py itself)."""
    for name, value in mode_settings("production").items():
        if name != "DEBUG":
            setattr(settings, name, value)
    settings.SEATCLOCK_RATE_LIMITS = False  # rate limits have their own tests
    return settings


def call(api, method, path, body):
    return getattr(api, method)(path, body, format="json") if body is not None else getattr(api, method)(path)


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, body", CLOCK_CONTROLS)
def test_anonymous_clock_control_is_refused(api, locked, method, path, body):
    response = call(api, method, path, body)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("NOT_AUTHENTICATED", "PERMISSION_DENIED")
    assert set(ServerNode.objects.values_list("offset_seconds", flat=True)) == {0.0}


@pytest.mark.django_db
def test_non_staff_user_is_refused(api, locked, django_user_model):
    api.force_authenticate(django_user_model.objects.create_user("u", password="pw-user-12345"))
    response = api.post("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 1.0}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


@pytest.mark.django_db
def test_staff_token_moves_clocks(api, locked, django_user_model):
    staff = django_user_model.objects.create_user("op", password="pw-op-123456", is_staff=True)
    token = Token.objects.create(user=staff)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.post("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -5.0}, format="json")
    assert response.status_code == 200
    assert ServerNode.objects.get(pk="server-2").offset_seconds == -5.0
    assert (
        api.post("/api/simulation/apply-scenario", {"scenario_name": "minor_drift"}, format="json").status_code == 200
    )


@pytest.mark.django_db
def test_reads_stay_open(api, locked):
    assert api.get("/api/simulation/offsets").status_code == 200
    assert api.get("/api/simulation/scenarios").status_code == 200
    assert api.get("/api/time/status").status_code == 200


@pytest.mark.django_db
def test_demo_mode_keeps_controls_open(api, settings):
    assert settings.SEATCLOCK_OPEN_CLOCK_CONTROLS is True
    response = api.post("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -5.0}, format="json")
    assert response.status_code == 200


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SEATCLOCK_MODE", "DEBUG", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_passes_in_production_mode():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={"SEATCLOCK_MODE": "production", "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "example.com"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_check_deploy_fails_in_demo_mode():
    # The same check must be able to fail: the demo's settings are not deployable.
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={})
    assert result.returncode != 0


@pytest.mark.slow
def test_production_mode_without_secret_key_refuses_to_start():
    result = _manage("check", env={"SEATCLOCK_MODE": "production", "ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr
