"""Bad input gets the envelope and changes nothing. No 500 anywhere."""

import json

import pytest

from reservations.models import Reservation
from reservations.services import reservation_create
from timesync.models import ServerNode

pytestmark = pytest.mark.django_db

BIG = 2**64


def snapshot():
    return (
        list(Reservation.objects.values_list("id", "status")),
        list(ServerNode.objects.values_list("server_id", "offset_seconds", "drift_ppm", "ntp_synced")),
    )


def post_raw(api, path, body: str, content_type="application/json"):
    return api.generic("POST", path, body, content_type=content_type)


def assert_validation(response, *fields):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    for field in fields:
        assert field in error["details"], error
    return error


def valid_reservation(venue, **override):
    body = {"seat_id": venue[0].pk, "customer_name": "Jean Dupont", "server_id": "server-1"}
    body.update(override)
    return body


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"seat_id": "1"}, "seat_id"),
        ({"seat_id": 1.5}, "seat_id"),
        ({"seat_id": True}, "seat_id"),
        ({"seat_id": None}, "seat_id"),
        ({"seat_id": [1]}, "seat_id"),
        ({"seat_id": BIG}, "seat_id"),
        ({"seat_id": -1}, "seat_id"),
        ({"seat_id": 0}, "seat_id"),
        ({"customer_name": "J"}, "customer_name"),
        ({"customer_name": "x" * 101}, "customer_name"),
        ({"customer_name": "     "}, "customer_name"),
        ({"customer_name": " J "}, "customer_name"),
        ({"customer_name": 42}, "customer_name"),
        ({"customer_name": None}, "customer_name"),
        ({"customer_name": "Jean\x00Dupont"}, "customer_name"),
        ({"customer_name": {"a": 1}}, "customer_name"),
        ({"server_id": 1}, "server_id"),
        ({"server_id": None}, "server_id"),
    ],
)
def test_reservation_with_bad_field_changes_nothing(api, venue, override, field):
    before = snapshot()
    assert_validation(api.post("/api/reservations", valid_reservation(venue, **override), format="json"), field)
    assert snapshot() == before


@pytest.mark.parametrize("missing", ["seat_id", "customer_name"])
def test_reservation_missing_field(api, venue, missing):
    body = valid_reservation(venue)
    del body[missing]
    assert_validation(api.post("/api/reservations", body, format="json"), missing)
    assert Reservation.objects.count() == 0


def test_customer_name_of_100_characters_is_fine_and_trimmed(api, venue):
    response = api.post(
        "/api/reservations", valid_reservation(venue, customer_name=" " + "x" * 100 + " "), format="json"
    )
    assert response.status_code == 201
    assert response.json()["customer_name"] == "x" * 100


def test_a_name_is_stored_composed_and_counted_as_read(api, venue):
    """NFC: a decomposed "Zoë" is stored as the composed one, and 60 "é" written as e +
    combining accent are 60 characters, not 120 (max 100)."""
    response = api.post("/api/reservations", valid_reservation(venue, customer_name="Zoe\u0308 Smith"), format="json")
    assert response.status_code == 201 and response.json()["customer_name"] == "Zo\u00eb Smith"
    response = api.post(
        "/api/reservations", valid_reservation(venue, seat_id=venue[1].pk, customer_name="e\u0301" * 60), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["customer_name"] == "\u00e9" * 60


@pytest.mark.parametrize(
    ("path", "body", "unknown"),
    [
        ("/api/reservations", {"serverid": "server-2"}, "serverid"),
        ("/api/holds", {"ttl_second": 5}, "ttl_second"),
        ("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 1, "drift": 3}, "drift"),
    ],
)
def test_an_unknown_key_is_refused_not_ignored(api, venue, path, body, unknown):
    """A misspelt key is named in a 400, never ignored (``ttl_second`` would otherwise give a
    600 s hold, ``serverid`` a booking through server-1)."""
    if path != "/api/simulation/set-offset":
        body = {**valid_reservation(venue), **body}
    before = snapshot()
    error = assert_validation(api.post(path, body, format="json"), unknown)
    assert len(error["details"]) == 1
    assert snapshot() == before


def test_a_key_given_twice_is_refused(api, venue):
    before = snapshot()
    body = f'{{"seat_id": {venue[0].pk}, "customer_name": "Jean Dupont", "seat_id": {venue[1].pk}}}'
    error = assert_validation(post_raw(api, "/api/reservations", body))
    assert "seat_id" in error["message"] + json.dumps(error["details"])
    assert snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        "{bad json",
        "",
        "[]",
        '"just a string"',
        "null",
        '{"seat_id": 1, "customer_name": "Jean", "seat_id": }',
    ],
)
def test_invalid_json_bodies(api, venue, body):
    before = snapshot()
    response = post_raw(api, "/api/reservations", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw_offset",
    ["NaN", "Infinity", "-Infinity", "1e309", '"5"', '"abc"', "true", "null", "[1]", "1e6"],
)
def test_offsets_must_be_finite_numbers(api, raw_offset):
    before = snapshot()
    response = post_raw(
        api, "/api/simulation/set-offset", f'{{"server_id": "server-2", "offset_seconds": {raw_offset}}}'
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert snapshot() == before


@pytest.mark.parametrize("raw_drift", ["-1e309", "1e309", '"x"', "2e6"])
def test_drift_must_be_a_finite_bounded_number(api, raw_drift):
    before = snapshot()
    body = f'{{"server_id": "server-2", "offset_seconds": 1, "drift_ppm": {raw_drift}}}'
    assert_validation(post_raw(api, "/api/simulation/set-offset", body), "drift_ppm")
    assert snapshot() == before


@pytest.mark.parametrize("server_id", ["server-9", "", "SERVER-1", "x" * 65, 5, None])
def test_set_offset_unknown_or_invalid_server(api, server_id):
    before = snapshot()
    response = api.post("/api/simulation/set-offset", {"server_id": server_id, "offset_seconds": 1.0}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"INVALID_SERVER_ID", "VALIDATION_ERROR"}
    assert snapshot() == before


@pytest.mark.parametrize("name", ["nope", "", 7, None, ["major_drift"]])
def test_apply_unknown_or_invalid_scenario(api, name):
    before = snapshot()
    response = api.post("/api/simulation/apply-scenario", {"scenario_name": name}, format="json")
    assert response.status_code in {400, 404}
    expected = "SCENARIO_NOT_FOUND" if response.status_code == 404 else "VALIDATION_ERROR"
    assert response.json()["error"]["code"] == expected
    assert snapshot() == before


@pytest.mark.parametrize(
    "path",
    [
        f"/api/reservations/{BIG}",
        "/api/reservations/-1",
        "/api/reservations/1.5",
        "/api/reservations/%00",
        f"/api/seats/{BIG}",
        "/api/seats/0",
    ],
)
def test_ids_beyond_64_bits_or_malformed_are_not_found(api, venue, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] in {"SEAT_NOT_FOUND", "RESERVATION_NOT_FOUND"}
    assert api.delete(path).status_code in {404, 405}


@pytest.mark.parametrize(
    "query",
    [{"limit": "abc"}, {"limit": "0"}, {"limit": "-5"}, {"offset": "-1"}, {"offset": str(BIG)}, {"seat_id": "x"}],
)
def test_bad_pagination_or_filters(api, query):
    response = api.get("/api/reservations", query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_wrong_content_type_changes_nothing(api, venue):
    before = snapshot()
    response = post_raw(api, "/api/reservations", json.dumps(valid_reservation(venue)), content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert snapshot() == before


BODILESS = ["/api/simulation/reset", "/api/simulation/clear-offsets", "/api/time/sync"]


@pytest.mark.parametrize("path", BODILESS)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "a"), ("application/x-www-form-urlencoded", ""), ("multipart/form-data; boundary=x", "")],
)
def test_a_cross_site_form_cannot_drive_an_endpoint_that_takes_no_body(api, venue, path, content_type, body):
    """An HTML form on any web site can POST these content types without a CORS preflight: an
    endpoint that reads no body must still refuse them (415), or any page could reset a demo."""
    ServerNode.objects.filter(pk="server-2").update(offset_seconds=5.0)
    reservation_create(seat_id=venue[0].pk, customer_name="Ann Lee")
    before = snapshot()
    response = api.generic("POST", path, body, content_type=content_type, HTTP_ORIGIN="http://evil.example")
    assert response.status_code == 415, response.content
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/simulation/reset"),
        ("POST", "/api/simulation/clear-offsets"),
        ("DELETE", "/api/simulation/remove-offset/server-2"),
    ],
)
def test_a_malformed_body_is_refused_where_no_body_is_read(api, venue, method, path):
    ServerNode.objects.filter(pk="server-2").update(offset_seconds=5.0)
    before = snapshot()
    assert_validation(api.generic(method, path, "garbage", content_type="application/json"))
    assert snapshot() == before


def test_a_bodiless_post_without_content_type_still_works(api, venue):
    ServerNode.objects.filter(pk="server-2").update(offset_seconds=5.0)
    assert api.generic("POST", "/api/simulation/clear-offsets", content_type=None).status_code == 200
    assert ServerNode.objects.get(pk="server-2").offset_seconds == 0


def test_time_status_with_unknown_server(api):
    response = api.get("/api/time/status", {"server_id": "x" * 500})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"INVALID_SERVER_ID", "VALIDATION_ERROR"}


def test_an_overlong_path_id_is_not_echoed_whole(api):
    response = api.delete("/api/simulation/remove-offset/" + "a" * 5000)
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_SERVER_ID"
    error = response.json()["error"]
    assert len(error["details"]["server_id"]) <= 64 and len(error["message"]) < 100
