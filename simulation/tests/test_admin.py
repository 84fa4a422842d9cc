"""The operator's admin: every list page renders and every action calls its service."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from reservations.models import Reservation
from reservations.services import reservation_create
from simulation.models import Scenario
from timesync.models import ServerNode
from timesync.ntp_server import NtpServer
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "name",
    [
        "admin:seats_seat_changelist",
        "admin:reservations_reservation_changelist",
        "admin:timesync_servernode_changelist",
        "admin:simulation_scenario_changelist",
    ],
)
def test_list_pages_render(staff, venue, name):
    reservation_create(seat_id=venue[0].pk, customer_name="Ada", server_id="server-1")
    response = staff.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "name, query, expected",
    [
        ("admin:seats_seat_changelist", {"available": "no"}, 1),
        ("admin:seats_seat_changelist", {"row": "A"}, 10),
        ("admin:reservations_reservation_changelist", {"conflict_detected__exact": "1"}, 1),
        ("admin:reservations_reservation_changelist", {"conflict_detected__exact": "0"}, 1),
        ("admin:reservations_reservation_changelist", {"node__server_id__exact": "server-2"}, 1),
        ("admin:reservations_reservation_changelist", {"seat__id__exact": "FIRST_SEAT"}, 2),
        ("admin:reservations_reservation_changelist", {"status__exact": "active", "q": "Bob"}, 1),
    ],
)
def test_list_filters(staff, venue, frozen_clock, name, query, expected):
    # server-2 lags 10 s, so it cannot see Ada's reservation and double-books A1.
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=venue[0].pk, customer_name="Ada", server_id="server-1")
    frozen_clock.advance(1)
    assert reservation_create(seat_id=venue[0].pk, customer_name="Bob", server_id="server-2").conflict_detected
    query = {k: str(venue[0].pk) if v == "FIRST_SEAT" else v for k, v in query.items()}
    response = staff.get(reverse(name), query)
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected


def test_seat_availability_filter_counts(staff, venue):
    reservation_create(seat_id=venue[0].pk, customer_name="Ada", server_id="server-1")
    url = reverse("admin:seats_seat_changelist")
    assert staff.get(url, {"available": "no"}).context["cl"].result_count == 1
    assert staff.get(url, {"available": "yes"}).context["cl"].result_count == len(venue) - 1


def test_reservation_change_page_is_read_only(staff, venue):
    r = reservation_create(seat_id=venue[0].pk, customer_name="Ada", server_id="server-1").reservation
    response = staff.get(reverse("admin:reservations_reservation_change", args=[r.pk]))
    assert response.status_code == 200
    assert "skew" in response.context["adminform"].readonly_fields


def test_cancel_action_soft_deletes(staff, venue):
    r = reservation_create(seat_id=venue[0].pk, customer_name="Ada", server_id="server-1").reservation
    response = staff.post(
        reverse("admin:reservations_reservation_changelist"),
        {"action": "cancel", ACTION_CHECKBOX_NAME: [r.pk]},
        follow=True,
    )
    assert response.status_code == 200
    r.refresh_from_db()
    assert r.status == Reservation.Status.CANCELLED
    assert r.cancelled_at is not None


def test_remove_offset_action(staff):
    ServerNode.objects.filter(pk="server-2").update(offset_seconds=-10.0, ntp_synced=False)
    staff.post(
        reverse("admin:timesync_servernode_changelist"),
        {"action": "remove_offset", ACTION_CHECKBOX_NAME: ["server-2"]},
    )
    node = ServerNode.objects.get(pk="server-2")
    assert (node.offset_seconds, node.ntp_synced) == (0.0, True)


def test_set_offset_action_shows_form_then_applies(staff):
    url = reverse("admin:timesync_servernode_changelist")
    first = staff.post(url, {"action": "set_offset", ACTION_CHECKBOX_NAME: ["server-2", "server-3"]})
    assert first.status_code == 200
    assert "offset_seconds" in first.content.decode()
    assert ServerNode.objects.get(pk="server-2").offset_seconds == 0.0

    staff.post(
        url,
        {
            "action": "set_offset",
            ACTION_CHECKBOX_NAME: ["server-2", "server-3"],
            "apply": "1",
            "offset_seconds": "-7.5",
            "drift_ppm": "20",
        },
    )
    for server_id in ("server-2", "server-3"):
        node = ServerNode.objects.get(pk=server_id)
        assert (node.offset_seconds, node.drift_ppm, node.ntp_synced) == (-7.5, 20.0, False)
    assert ServerNode.objects.get(pk="server-1").offset_seconds == 0.0


def test_set_offset_action_refuses_bad_input(staff):
    url = reverse("admin:timesync_servernode_changelist")
    response = staff.post(
        url, {"action": "set_offset", ACTION_CHECKBOX_NAME: ["server-2"], "apply": "1", "offset_seconds": "soon"}
    )
    assert response.status_code == 200  # the form again, with its error
    # As informative as the API's error (the same words), not Django's "Enter a number."
    assert response.context["form"].errors == {"offset_seconds": ["Must be a finite number of seconds within ±86400."]}
    assert ServerNode.objects.get(pk="server-2").offset_seconds == 0.0


@pytest.mark.parametrize(
    ("offset", "drift", "errors"),
    [
        ("1e9", "0", {"offset_seconds": ["Must be a finite number of seconds within ±86400."]}),
        ("inf", "0", {"offset_seconds": ["Must be a finite number of seconds within ±86400."]}),
        ("", "0", {"offset_seconds": ["Must be a finite number of seconds within ±86400."]}),
        ("-5", "nan", {"drift_ppm": ["Must be a finite number within ±1e+06 ppm."]}),
        ("-5", "2e6", {"drift_ppm": ["Must be a finite number within ±1e+06 ppm."]}),
    ],
)
def test_set_offset_form_refuses_what_the_api_refuses_in_its_words(staff, offset, drift, errors):
    url = reverse("admin:timesync_servernode_changelist")
    body = {"action": "set_offset", ACTION_CHECKBOX_NAME: ["server-2"], "apply": "1"}
    response = staff.post(url, {**body, "offset_seconds": offset, "drift_ppm": drift})
    assert response.context["form"].errors == errors
    assert "Must be a finite number" in response.content.decode()  # shown on the page
    assert ServerNode.objects.get(pk="server-2").offset_seconds == 0.0


def test_set_offset_form_and_api_give_the_same_reason(staff):
    url = reverse("admin:timesync_servernode_changelist")
    body = {"action": "set_offset", ACTION_CHECKBOX_NAME: ["server-2"], "apply": "1"}
    form = staff.post(url, {**body, "offset_seconds": "1e9", "drift_ppm": "2e6"}).context["form"]
    api = staff.post(
        "/api/simulation/set-offset",
        {"server_id": "server-2", "offset_seconds": 1e9, "drift_ppm": 2e6},
        content_type="application/json",
    )
    assert api.json()["error"]["details"] == form.errors


def test_admin_names_seatclock_and_shows_instants_to_the_microsecond(staff, venue, frozen_clock):
    node_offset_set(server_id="server-2", offset_seconds=-10.123456789)
    frozen_clock.advance(0.000321)
    reservation_create(seat_id=venue[0].pk, customer_name="Jean Dupont", server_id="server-2")
    page = staff.get(reverse("admin:reservations_reservation_changelist")).content.decode()
    assert "Seatclock administration" in page
    assert "2026-06-28 10:29:49.876864" in page  # created_at, the node's clock
    assert "2026-06-28 10:30:00.000321" in page  # recorded_at, true time
    assert "-10.123457" in page  # skew, rounded to the microsecond
    node_page = staff.get(reverse("admin:timesync_servernode_change", args=["server-2"])).content.decode()
    assert "-10.123457" in node_page
    assert "-10.123456789" not in node_page  # offsets rounded
    assert "2026-06-28 10:30:00.000000" in node_page  # offset_since, to the microsecond


def test_sync_now_action_syncs_the_selected_nodes_over_real_ntp(staff, settings):
    server = NtpServer(host="127.0.0.1", port=0, stratum=3)
    server.start_in_thread()
    try:
        settings.SEATCLOCK_NTP_SERVER = f"127.0.0.1:{server.port}"
        ServerNode.objects.update(offset_seconds=-3.0, ntp_synced=False)
        staff.post(
            reverse("admin:timesync_servernode_changelist"),
            {"action": "sync_now", ACTION_CHECKBOX_NAME: ["server-1", "server-4"]},
        )
    finally:
        server.shutdown()
    nodes = {n.pk: n for n in ServerNode.objects.all()}
    for synced in ("server-1", "server-4"):
        assert nodes[synced].ntp_synced is True
        assert nodes[synced].last_sync_stratum == 3  # the figure came from our server
        assert abs(nodes[synced].offset_seconds) < 0.5  # stepped back from -3 s
    for untouched in ("server-2", "server-3", "server-5"):
        assert nodes[untouched].offset_seconds == -3.0 and nodes[untouched].ntp_synced is False


def test_sync_now_failure_is_reported_and_node_unchanged(staff, settings):
    settings.SEATCLOCK_NTP_SERVER = "127.0.0.1:9"  # discard port: nobody answers
    settings.SEATCLOCK_NTP_TIMEOUT = 0.2
    settings.SEATCLOCK_NTP_SAMPLES = 1
    ServerNode.objects.filter(pk="server-2").update(offset_seconds=-3.0, ntp_synced=False)
    response = staff.post(
        reverse("admin:timesync_servernode_changelist"),
        {"action": "sync_now", ACTION_CHECKBOX_NAME: ["server-2"]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("server-2" in t for t in texts)
    assert ServerNode.objects.get(pk="server-2").offset_seconds == -3.0


def test_add_node_in_admin(staff):
    staff.post(reverse("admin:timesync_servernode_add"), {"server_id": "server-6"})
    assert ServerNode.objects.filter(pk="server-6", offset_seconds=0.0).exists()


def test_apply_scenario_action(staff):
    scenario = Scenario.objects.get(name="major_drift")
    staff.post(
        reverse("admin:simulation_scenario_changelist"),
        {"action": "apply", ACTION_CHECKBOX_NAME: [scenario.pk]},
    )
    offsets = dict(ServerNode.objects.values_list("server_id", "offset_seconds"))
    assert offsets == {"server-1": 0.0, "server-2": -10.0, "server-3": 5.0, "server-4": -3.0, "server-5": 0.0}


def test_apply_action_needs_exactly_one_scenario(staff):
    ids = list(Scenario.objects.values_list("pk", flat=True))
    staff.post(reverse("admin:simulation_scenario_changelist"), {"action": "apply", ACTION_CHECKBOX_NAME: ids})
    assert set(ServerNode.objects.values_list("offset_seconds", flat=True)) == {0.0}


def test_scenario_change_page_has_offset_inline(staff):
    scenario = Scenario.objects.get(name="major_drift")
    response = staff.get(reverse("admin:simulation_scenario_change", args=[scenario.pk]))
    assert response.status_code == 200
    assert "drift_ppm" in response.content.decode()
