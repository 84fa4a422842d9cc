"""Every endpoint of the spec, with exact shapes, status codes and error codes."""

from datetime import timedelta

import pytest

from reservations.models import Reservation
from timesync.models import ServerNode

pytestmark = pytest.mark.django_db

# The spec's Reservation plus (additively) ``recorded_at``: one wire shape everywhere
# (the seat's holder, lists, the 201, conflicts, live events).
RESERVATION_KEYS = {"id", "seat_id", "customer_name", "server_id", "created_at", "recorded_at"}


def reserve(api, seat_id, name="Jean Dupont", server_id="server-1"):
    return api.post(
        "/api/reservations", {"seat_id": seat_id, "customer_name": name, "server_id": server_id}, format="json"
    )


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_seat_list_is_a_plain_array_of_the_whole_venue(api, venue, frozen_clock):
    reserve(api, venue[1].pk)
    body = api.get("/api/seats").json()
    assert len(body) == 100
    assert body[0] == {"id": venue[0].pk, "row": "A", "number": 1, "is_available": True, "reservation": None}
    held = body[1]
    assert held["is_available"] is False
    assert held["reservation"] == {
        "id": Reservation.objects.get().pk,
        "seat_id": venue[1].pk,
        "customer_name": "Jean Dupont",
        "server_id": "server-1",
        "created_at": "2026-06-28T10:30:00Z",
        "recorded_at": "2026-06-28T10:30:00Z",
    }


def test_seat_detail_and_unknown_seat(api, venue):
    assert api.get(f"/api/seats/{venue[5].pk}").json()["number"] == 6
    error = assert_error(api.get("/api/seats/999999"), 404, "SEAT_NOT_FOUND")
    assert error["details"] == {"seat_id": 999999}  # the id as the spec writes it: an integer
    assert_error(api.get("/api/seats/abc"), 404, "SEAT_NOT_FOUND")
    assert_error(api.get("/api/seats/99999999999999999999999"), 404, "SEAT_NOT_FOUND")


def test_trailing_slash_is_accepted_without_redirect(api, venue):
    assert api.get("/api/seats/").status_code == 200
    assert api.get(f"/api/seats/{venue[0].pk}/").status_code == 200


def test_create_reservation_exact_shape(api, venue, frozen_clock):
    response = reserve(api, venue[0].pk)
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "seat_id": venue[0].pk,
        "customer_name": "Jean Dupont",
        "server_id": "server-1",
        "created_at": "2026-06-28T10:30:00Z",
        "recorded_at": "2026-06-28T10:30:00Z",
        "conflict_detected": False,
        "cancel_token": body["cancel_token"],  # additive (DESIGN §6): shown once, stored hashed
    }
    assert len(body["cancel_token"]) >= 43


def test_server_id_defaults_to_server_1(api, venue):
    response = api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": "Jean"}, format="json")
    assert response.status_code == 201
    assert response.json()["server_id"] == "server-1"


def test_second_reservation_is_409_with_existing(api, venue):
    first = reserve(api, venue[0].pk).json()
    error = assert_error(reserve(api, venue[0].pk, "Marie", "server-2"), 409, "SEAT_ALREADY_RESERVED")
    assert error["details"] == {
        "seat_id": venue[0].pk,
        "existing_reservation": {"id": first["id"], "customer_name": "Jean Dupont"},
    }


def test_reservation_on_unknown_seat_or_server(api, venue):
    assert_error(reserve(api, 424242), 404, "SEAT_NOT_FOUND")
    assert_error(reserve(api, venue[0].pk, server_id="server-99"), 400, "INVALID_SERVER_ID")
    assert Reservation.objects.count() == 0


def test_double_booking_through_a_lagging_node_and_conflicts(api, venue, frozen_clock):
    assert api.post(
        "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -10.0}, format="json"
    ).json() == {
        "success": True,
        "server_id": "server-2",
        "offset_seconds": -10.0,
        "message": "Time offset set successfully",
    }
    first = reserve(api, venue[0].pk, "Jean", "server-1").json()
    frozen_clock.advance(3)
    second = reserve(api, venue[0].pk, "Marie", "server-2")
    assert second.status_code == 201
    assert second.json()["conflict_detected"] is True
    assert second.json()["created_at"] == "2026-06-28T10:29:53Z"

    response = api.get("/api/reservations/conflicts")
    assert response.status_code == 200
    assert response["X-Total-Count"] == "1"
    body = response.json()
    assert body["total_conflicts"] == 1
    [conflict] = body["conflicts"]
    assert conflict["seat_id"] == venue[0].pk
    assert conflict["conflict_count"] == 2
    assert [r["id"] for r in conflict["reservations"]] == [second.json()["id"], first["id"]]
    assert set(conflict["reservations"][0]) == RESERVATION_KEYS | {"node_offset_seconds", "reason", "hidden_ids"}
    assert conflict["reservations"][0]["recorded_at"] == "2026-06-28T10:30:03Z"
    assert conflict["winner_id"] == second.json()["id"]
    assert conflict["true_first_id"] == first["id"]
    assert conflict["fair"] is False
    # The seat's holder is the timestamp winner: the customer who truly came second.
    seat = api.get(f"/api/seats/{venue[0].pk}").json()
    assert seat["reservation"]["customer_name"] == "Marie"


def test_reverse_order_through_the_lagging_node_is_409(api, venue, frozen_clock):
    api.post("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -10.0}, format="json")
    reserve(api, venue[0].pk, "Marie", "server-2")
    frozen_clock.advance(3)
    assert_error(reserve(api, venue[0].pk, "Jean", "server-1"), 409, "SEAT_ALREADY_RESERVED")


def test_reservation_list_filters_and_pagination(api, venue):
    for i in range(5):
        reserve(api, venue[i].pk, f"Customer {i}", f"server-{i % 2 + 1}")
    response = api.get("/api/reservations", {"limit": 2, "offset": 1})
    body = response.json()
    assert set(body) == {"reservations", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)
    assert [r["customer_name"] for r in body["reservations"]] == ["Customer 1", "Customer 2"]
    assert set(body["reservations"][0]) == RESERVATION_KEYS
    assert response["X-Total-Count"] == "5"
    assert response["X-Page-Count"] == "3"
    assert api.get("/api/reservations", {"server_id": "server-2"}).json()["total"] == 2
    assert api.get("/api/reservations", {"seat_id": venue[0].pk}).json()["total"] == 1
    default = api.get("/api/reservations").json()
    assert (default["limit"], default["offset"]) == (100, 0)
    assert api.get("/api/reservations", {"limit": 5000}).json()["limit"] == 1000


def test_reservation_get_and_soft_delete(api, venue, frozen_clock):
    created = reserve(api, venue[0].pk).json()
    got = api.get(f"/api/reservations/{created['id']}")
    assert got.json() == {k: created[k] for k in RESERVATION_KEYS}
    frozen_clock.advance(1)
    # The demo needs no token, but a token given must be the right one (a client that kept it
    # and sends the wrong one has a bug worth hearing about).
    wrong = api.delete(f"/api/reservations/{created['id']}", HTTP_X_CANCEL_TOKEN="x" + created["cancel_token"][1:])
    assert_error(wrong, 403, "INVALID_CANCEL_TOKEN")
    assert Reservation.objects.get(pk=created["id"]).status == "active"
    deleted = api.delete(f"/api/reservations/{created['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    row = Reservation.objects.get(pk=created["id"])
    assert row.status == "cancelled"
    assert row.cancelled_at == frozen_clock.now
    assert_error(api.delete(f"/api/reservations/{created['id']}"), 404, "RESERVATION_NOT_FOUND")
    assert_error(api.get(f"/api/reservations/{created['id']}"), 404, "RESERVATION_NOT_FOUND")
    assert api.get(f"/api/seats/{venue[0].pk}").json()["is_available"] is True


def test_time_status(api, frozen_clock):
    body = api.get("/api/time/status").json()
    spec = {"server_id", "current_time", "ntp_synced", "offset_seconds", "last_sync"}
    assert {k: body[k] for k in spec} == {
        "server_id": "server-1",
        "current_time": "2026-06-28T10:30:00Z",
        "ntp_synced": True,
        "offset_seconds": 0.0,
        "last_sync": None,
    }
    # Additive: the drift rate and the figures of the last NTP sync (none yet).
    assert set(body) - spec == {
        "drift_ppm",
        "offset_since",
        "last_sync_offset_seconds",
        "last_sync_delay_seconds",
        "last_sync_stratum",
        "last_sync_error_bound_seconds",
        "last_sync_ntp_server",
    }
    api.post("/api/simulation/set-offset", {"server_id": "server-3", "offset_seconds": 2.5}, format="json")
    body = api.get("/api/time/status", {"server_id": "server-3"}).json()
    assert body["current_time"] == "2026-06-28T10:30:02.500000Z"
    assert (body["offset_seconds"], body["ntp_synced"]) == (2.5, False)
    assert_error(api.get("/api/time/status", {"server_id": "nope"}), 400, "INVALID_SERVER_ID")


def test_time_servers_lists_every_node_at_one_instant(api, frozen_clock):
    api.post("/api/simulation/apply-scenario", {"scenario_name": "major_drift"}, format="json")
    body = api.get("/api/time/servers").json()
    assert body["true_time"] == "2026-06-28T10:30:00Z"
    servers = {s["server_id"]: s for s in body["servers"]}
    assert list(servers) == [f"server-{i}" for i in range(1, 6)]
    assert servers["server-2"]["current_time"] == "2026-06-28T10:29:50Z"
    assert servers["server-2"]["ntp_synced"] is False
    assert servers["server-5"]["ntp_synced"] is True


def test_offsets_remove_and_clear(api, frozen_clock):
    api.post("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -5.0}, format="json")
    api.post("/api/simulation/set-offset", {"server_id": "server-3", "offset_seconds": 2.5}, format="json")
    assert api.get("/api/simulation/offsets").json() == {
        "offsets": {"server-1": 0.0, "server-2": -5.0, "server-3": 2.5, "server-4": 0.0, "server-5": 0.0}
    }
    assert api.delete("/api/simulation/remove-offset/server-2").json() == {
        "success": True,
        "server_id": "server-2",
        "message": "Time offset removed",
    }
    node = ServerNode.objects.get(pk="server-2")
    assert (node.offset_seconds, node.ntp_synced) == (0.0, True)
    assert_error(api.delete("/api/simulation/remove-offset/server-42"), 400, "INVALID_SERVER_ID")
    assert api.post("/api/simulation/clear-offsets").json() == {
        "success": True,
        "message": "All time offsets cleared",
    }
    assert set(api.get("/api/simulation/offsets").json()["offsets"].values()) == {0.0}


def test_set_offset_with_drift(api, frozen_clock):
    response = api.post(
        "/api/simulation/set-offset",
        {"server_id": "server-4", "offset_seconds": 1.0, "drift_ppm": 100},
        format="json",
    )
    assert response.json()["drift_ppm"] == 100.0
    frozen_clock.advance(1000)
    assert api.get("/api/simulation/offsets").json()["offsets"]["server-4"] == pytest.approx(1.1, abs=1e-9)
    status = api.get("/api/time/status", {"server_id": "server-4"}).json()
    assert status["offset_seconds"] == pytest.approx(1.1, abs=1e-9)
    assert status["current_time"] == (frozen_clock.now + timedelta(seconds=1.1)).isoformat().replace("+00:00", "Z")


def test_scenarios_exactly_as_the_spec(api):
    assert api.get("/api/simulation/scenarios").json() == {
        "scenarios": {
            "minor_drift": {
                "description": "Dérive temporelle mineure",
                "servers": {"server-1": 0.0, "server-2": -1.0, "server-3": 0.5},
            },
            "major_drift": {
                "description": "Dérive temporelle majeure",
                "servers": {"server-1": 0.0, "server-2": -10.0, "server-3": 5.0, "server-4": -3.0},
            },
            "extreme_drift": {
                "description": "Dérive temporelle extrême",
                "servers": {"server-1": 0.0, "server-2": -30.0, "server-3": 15.0, "server-4": -8.0, "server-5": 12.0},
            },
        }
    }


def test_apply_scenario_sets_exactly_its_offsets(api):
    api.post("/api/simulation/set-offset", {"server_id": "server-5", "offset_seconds": 7.0}, format="json")
    response = api.post("/api/simulation/apply-scenario", {"scenario_name": "major_drift"}, format="json")
    assert response.json() == {
        "success": True,
        "scenario_name": "major_drift",
        "applied_offsets": {"server-1": 0.0, "server-2": -10.0, "server-3": 5.0, "server-4": -3.0},
        "message": "Scenario applied successfully",
    }
    offsets = api.get("/api/simulation/offsets").json()["offsets"]
    assert offsets == {"server-1": 0.0, "server-2": -10.0, "server-3": 5.0, "server-4": -3.0, "server-5": 0.0}
    assert_error(
        api.post("/api/simulation/apply-scenario", {"scenario_name": "nope"}, format="json"),
        404,
        "SCENARIO_NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/nothing-here", 404, "NOT_FOUND"),
        ("put", "/api/seats", 405, "METHOD_NOT_ALLOWED"),
        ("delete", "/api/simulation/offsets", 405, "METHOD_NOT_ALLOWED"),
        ("get", "/api/simulation/set-offset", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_django_error_paths_use_the_envelope(api, method, path, status, code):
    assert_error(getattr(api, method)(path), status, code)


def test_wrong_content_type_is_415(api, venue):
    response = api.post("/api/reservations", "seat_id=1", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("debug", [False, True])
def test_unhandled_exception_is_a_500_envelope_without_traceback(api, venue, monkeypatch, settings, debug):
    settings.DEBUG = debug

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("reservations.api.views.reservation_create", explode)
    client = api
    client.raise_request_exception = False
    response = reserve(client, venue[0].pk)
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["details"] == {}
