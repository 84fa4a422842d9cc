"""Query parameters are read strictly (found by the schemathesis run): a repeated parameter,
a non-digit integer or an empty value is a 400, never silently reinterpreted."""

import pytest

pytestmark = pytest.mark.django_db


def assert_validation(response, field):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    return error


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("offset=0&offset=1", "offset"),
        ("limit=5&limit=6", "limit"),
        ("seat_id=1&seat_id=2", "seat_id"),
        ("server_id=server-1&server_id=server-2", "server_id"),
    ],
)
def test_repeated_parameter_is_refused(api, query, field):
    error = assert_validation(api.get(f"/api/reservations?{query}"), field)
    assert error["details"][field] == ["Give this parameter only once."]


@pytest.mark.parametrize("value", ["5.0", "+5", " 5", "5_0", "0x5", "5e0"])
@pytest.mark.parametrize("name", ["limit", "offset", "seat_id"])
def test_integer_parameters_are_plain_digits(api, name, value):
    assert_validation(api.get("/api/reservations", {name: value}), name)


def test_plain_digits_still_work(api, venue):
    response = api.get("/api/reservations", {"limit": "5", "offset": "0", "seat_id": str(venue[0].pk)})
    assert response.status_code == 200
    assert response.json()["limit"] == 5
    assert_validation(api.get("/api/reservations", {"offset": "-1"}), "offset")


def test_conflicts_page_parameters_are_strict_too(api):
    assert_validation(api.get("/api/reservations/conflicts?limit=1&limit=2"), "limit")
    assert_validation(api.get("/api/reservations/conflicts", {"offset": "1.0"}), "offset")


def test_time_status_empty_server_id_is_refused_not_defaulted(api):
    assert_validation(api.get("/api/time/status?server_id="), "server_id")
    assert_validation(api.get("/api/time/status?server_id=server-1&server_id=server-2"), "server_id")
    assert api.get("/api/time/status").json()["server_id"] == "server-1"


@pytest.mark.parametrize("path", ["/api/reservations", "/api/time/status"])
def test_control_characters_in_server_id_are_refused(api, path):
    assert_validation(api.get(path, {"server_id": "server-1\x0c"}), "server_id")


def test_repeated_parameter_message_in_french(api):
    response = api.get("/api/reservations?limit=1&limit=2", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"]["details"]["limit"] == ["Ce paramètre ne doit être donné qu'une fois."]


def test_offset_bounds_are_still_the_services_own(api):
    """The schema documents ±MAX_INJECTED_OFFSET / ±MAX_DRIFT_PPM; the check and its message
    stay in the service layer."""
    response = api.post("/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 1e6}, format="json")
    error = assert_validation(response, "offset_seconds")
    assert "86400" in error["details"]["offset_seconds"][0]
