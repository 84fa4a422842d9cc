"""Switching the consistency mode from every surface (API, admin, command) and seeing it
(``/api/time/servers``, the 503 of a fenced node)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from rest_framework.authtoken.models import Token

from reservations.models import Reservation
from timesync.consistency import mode_get
from timesync.models import ConsistencySettings
from timesync.services import consistency_mode_set, node_offset_set

pytestmark = pytest.mark.django_db

URL = "/api/simulation/consistency"


def test_get_reports_mode_bound_and_fence_limit(api):
    assert api.get(URL).json() == {
        "mode": "naive",
        "max_clock_offset_seconds": 0.5,
        "fence_limit_seconds": pytest.approx(0.25),  # half the bound: enforced
        "cockroachdb_fence_limit_seconds": pytest.approx(0.4),  # 80 %: shown for comparison
        "assumed_drift_ppm": 200.0,
        "modes": ["naive", "bounded", "serializable", "commit_wait"],
    }


def test_bound_follows_the_setting(api, settings):
    settings.SEATCLOCK_MAX_CLOCK_OFFSET = 2.0
    settings.SEATCLOCK_ASSUMED_DRIFT_PPM = 50.0
    body = api.get(URL).json()
    assert (body["max_clock_offset_seconds"], body["fence_limit_seconds"]) == (2.0, pytest.approx(1.0))
    assert (body["cockroachdb_fence_limit_seconds"], body["assumed_drift_ppm"]) == (pytest.approx(1.6), 50.0)


def test_post_switches_the_mode_and_announces_it(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(URL, {"mode": "bounded"}, format="json")
    assert response.status_code == 200
    assert response.json()["mode"] == "bounded"
    assert mode_get() == "bounded"
    assert len(callbacks) == 1  # consistency_mode_changed, sent on commit
    assert api.get(URL).json()["mode"] == "bounded"
    assert api.post(URL + "/", {"mode": "serializable"}, format="json").json()["mode"] == "serializable"


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"mode": "eventual"}, '"eventual" is not a valid choice: use naive, bounded, serializable, commit_wait.'),
        ({"mode": "BOUNDED"}, '"BOUNDED" is not a valid choice: use naive, bounded, serializable, commit_wait.'),
        ({"mode": 1}, "Must be a string."),
        ({"mode": ["bounded"]}, "Must be a string."),
        ({"mode": None}, "This field may not be null."),
        ({}, "This field is required."),
    ],
)
def test_bad_mode_is_a_validation_error_and_changes_nothing(api, body, expected):
    consistency_mode_set("bounded")
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == {"mode": [expected]}
    assert mode_get() == "bounded"


def test_production_mode_needs_staff(api, settings, django_user_model):
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False
    response = api.post(URL, {"mode": "bounded"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
    assert api.get(URL).status_code == 200  # reading stays open
    api.force_authenticate(django_user_model.objects.create_user("u", password="pw-user-12345"))
    assert api.post(URL, {"mode": "bounded"}, format="json").json()["error"]["code"] == "PERMISSION_DENIED"
    assert mode_get() == "naive"

    staff = django_user_model.objects.create_user("op", password="pw-op-123456", is_staff=True)
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert api.post(URL, {"mode": "bounded"}, format="json").status_code == 200
    assert mode_get() == "bounded"


def test_mode_is_in_the_openapi_schema(api):
    schema = api.get("/openapi.json").json()
    post = schema["paths"][URL]["post"]
    assert {"200", "400"} <= set(post["responses"])
    reserve = schema["paths"]["/api/reservations"]["post"]["responses"]
    assert "TIME_DRIFT_DETECTED" in str(reserve["503"])


# --- /api/time/servers --------------------------------------------------------------------


def test_time_servers_shows_fences_in_every_mode_and_the_mode(api, frozen_clock):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    node_offset_set(server_id="server-3", offset_seconds=0.2)
    body = api.get("/api/time/servers").json()
    assert body["consistency_mode"] == "naive"
    assert body["fence_limit_seconds"] == pytest.approx(0.25)
    assert body["cockroachdb_fence_limit_seconds"] == pytest.approx(0.4)
    assert body["median_offset_seconds"] == 0.0
    servers = {s["server_id"]: s for s in body["servers"]}
    assert {k: s["fenced"] for k, s in servers.items()} == {
        "server-1": False,
        "server-2": True,
        "server-3": False,
        "server-4": False,
        "server-5": False,
    }
    assert servers["server-2"]["deviation_seconds"] == -10.0
    assert servers["server-3"]["deviation_seconds"] == pytest.approx(0.2)
    # The spec's TimeStatus fields are still all there.
    assert {"server_id", "current_time", "ntp_synced", "offset_seconds", "last_sync"} <= set(servers["server-2"])

    consistency_mode_set("bounded")
    assert api.get("/api/time/servers").json()["consistency_mode"] == "bounded"


def test_fences_are_judged_from_the_median(api, frozen_clock):
    # Three of five nodes at +5 s: the median is +5, so the two nodes on true time are the odd ones.
    for server_id in ("server-3", "server-4", "server-5"):
        node_offset_set(server_id=server_id, offset_seconds=5.0)
    body = api.get("/api/time/servers").json()
    assert body["median_offset_seconds"] == 5.0
    assert [s["server_id"] for s in body["servers"] if s["fenced"]] == ["server-1", "server-2"]


# --- POST /api/reservations in bounded mode -----------------------------------------------


def test_fenced_node_gets_503_in_bounded_mode_and_nothing_is_written(api, venue, frozen_clock):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    api.post(URL, {"mode": "bounded"}, format="json")
    body = {"seat_id": venue[0].pk, "customer_name": "Marie Martin", "server_id": "server-2"}
    response = api.post("/api/reservations", body, format="json")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "TIME_DRIFT_DETECTED"
    assert error["details"] == {
        "server_id": "server-2",
        "offset_seconds": -10.0,
        "median_offset_seconds": 0.0,
        "deviation_seconds": -10.0,
        "limit_seconds": pytest.approx(0.25),
    }
    assert "server-2" in error["message"]
    assert Reservation.objects.count() == 0
    # In naive mode the same node writes (and can double-book): fencing is bounded's alone.
    api.post(URL, {"mode": "naive"}, format="json")
    assert api.post("/api/reservations", body, format="json").status_code == 201


def test_fenced_message_in_french(api, venue):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    consistency_mode_set("bounded")
    body = {"seat_id": venue[0].pk, "customer_name": "Marie Martin", "server_id": "server-2"}
    response = api.post("/api/reservations", body, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"]["message"].startswith("server-2 est isolé")


# --- admin ----------------------------------------------------------------------------------


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client.force_login(user)
    return client


def test_admin_list_goes_to_the_one_row(staff):
    response = staff.get(reverse("admin:timesync_consistencysettings_changelist"))
    assert response.status_code == 302
    assert response.url == reverse("admin:timesync_consistencysettings_change", args=[1])
    page = staff.get(response.url)
    assert page.status_code == 200
    assert "0.250" in page.content.decode()  # the fence limit is shown


def test_admin_switch_goes_through_the_service(staff, django_capture_on_commit_callbacks):
    url = reverse("admin:timesync_consistencysettings_change", args=[1])
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff.post(url, {"mode": "bounded"}, follow=True)
    assert response.status_code == 200
    assert mode_get() == "bounded"
    row = ConsistencySettings.objects.get()
    assert row.updated_at is not None  # only the service stamps it
    assert len(callbacks) == 1  # consistency_mode_changed
    assert any("bounded" in str(m) for m in response.context["messages"])


def test_admin_refuses_a_bad_mode_and_extra_rows(staff):
    url = reverse("admin:timesync_consistencysettings_change", args=[1])
    response = staff.post(url, {"mode": "eventual"})
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert mode_get() == "naive"
    assert staff.get(reverse("admin:timesync_consistencysettings_add")).status_code == 403
    assert staff.post(reverse("admin:timesync_consistencysettings_delete", args=[1])).status_code == 403
    assert ConsistencySettings.objects.count() == 1


# --- manage.py consistency_mode -------------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("consistency_mode", *args, stdout=out)
    return out.getvalue()


def test_command_shows_mode_bound_and_fence_limit():
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    out = run()
    assert "Consistency mode: naive" in out
    assert "MAX_CLOCK_OFFSET: 0.500 s" in out
    assert "Fence limit: 0.250 s" in out
    assert "CockroachDB's 80%: 0.400 s" in out
    assert "would be fenced in bounded mode): server-2 (-10.000000 s)" in out


def test_command_switches_mode(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        out = run("bounded")
    assert mode_get() == "bounded"
    assert "Consistency mode: bounded" in out
    assert len(callbacks) == 1
    assert "Beyond the limit now: none" in run()


def test_command_bad_mode_exits_2_and_changes_nothing():
    with pytest.raises(CommandError) as raised:
        run("eventual")
    assert raised.value.returncode == 2
    assert "Unknown consistency mode 'eventual': use naive, bounded, serializable, commit_wait." in str(raised.value)
    assert mode_get() == "naive"


def test_commit_wait_refusal_in_french(api, venue):
    consistency_mode_set("commit_wait")
    body = {"seat_id": venue[0].pk, "customer_name": "Marie Martin", "server_id": "server-2"}
    response = api.post("/api/reservations", body, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "TIME_DRIFT_DETECTED"
    assert response.json()["error"]["message"].startswith("server-2 ne peut pas écrire en mode commit_wait")
    assert response.json()["error"]["details"] == {
        "server_id": "server-2",
        "uncertainty_seconds": None,
        "limit_seconds": 0.5,
    }
