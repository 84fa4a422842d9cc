import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_health_endpoints(client):
    assert client.get("/health").json()["status"] == "healthy"
    assert client.get("/health/live").json()["status"] == "alive"
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migrations"] == {"status": "healthy"}
    detailed = client.get("/health/detailed").json()
    assert detailed["checks"]["database"]["status"] == "healthy"
    assert detailed["checks"]["database"]["response_time_ms"] >= 0
    assert set(detailed) == {"status", "timestamp", "version", "checks"}


@pytest.mark.django_db
def test_ready_is_503_while_migrations_are_pending(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("fake", False)])
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {"status": "unhealthy", "pending": 1}


SCRIPT = """
import json, django
django.setup()
from django.test import Client
c = Client(raise_request_exception=False)
out = {}
for path in ["/health/detailed", "/health/ready", "/health/live", "/api/seats"]:
    r = c.get(path)
    out[path] = [r.status_code, json.loads(r.content)]
print(json.dumps(out))
"""


def test_unreachable_database_gives_503_everywhere_without_traceback(tmp_path):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere",
        SEATCLOCK_DATA_DIR=str(tmp_path),
    )
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["/health/detailed"][0] == 503
    assert out["/health/detailed"][1]["checks"]["database"]["status"] == "unhealthy"
    assert out["/health/ready"][0] == 503
    assert out["/health/live"][0] == 200
    assert out["/api/seats"][0] == 503
    assert out["/api/seats"][1]["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Traceback" not in json.dumps(out)
