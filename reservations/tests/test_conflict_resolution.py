"""Resolving a double-booked seat: keep one reservation, bump the others (API, service, admin)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token

from reservations.models import Reservation
from reservations.services import conflict_resolve, reservation_create
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db


def url(seat_id) -> str:
    return f"/api/reservations/conflicts/{seat_id}/resolve"


@pytest.fixture
def double_booked(venue, frozen_clock):
    """Jean reserves A1 through server-1; 3 s later Marie through server-2 (10 s behind) double-books it.

    Marie's stamp is earlier (10:29:53 < 10:30:00): she wins by timestamp though Jean truly came first.
    """
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    jean = reservation_create(seat_id=venue[0].pk, customer_name="Jean", server_id="server-1").reservation
    frozen_clock.advance(3.0)
    marie = reservation_create(seat_id=venue[0].pk, customer_name="Marie", server_id="server-2").reservation
    return venue[0], jean, marie


def statuses() -> dict[int, str]:
    return dict(Reservation.objects.values_list("id", "status"))


def test_earliest_timestamp_keeps_the_timestamp_winner_unfairly(api, double_booked, frozen_clock):
    seat, jean, marie = double_booked
    frozen_clock.advance(60.0)
    response = api.post(url(seat.pk), {"policy": "earliest_timestamp"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "seat_id": seat.pk,
        "policy": "earliest_timestamp",
        "kept": {
            "id": marie.pk,
            "seat_id": seat.pk,
            "customer_name": "Marie",
            "server_id": "server-2",
            "created_at": "2026-06-28T10:29:53Z",
            "recorded_at": "2026-06-28T10:30:03Z",
            "node_offset_seconds": -10.0,
            "status": "active",
            "bumped_at": None,
        },
        "bumped": [
            {
                "id": jean.pk,
                "seat_id": seat.pk,
                "customer_name": "Jean",
                "server_id": "server-1",
                "created_at": "2026-06-28T10:30:00Z",
                "recorded_at": "2026-06-28T10:30:00Z",
                "node_offset_seconds": 0.0,
                "status": "bumped",
                "bumped_at": "2026-06-28T10:31:03Z",
            }
        ],
        "fair": False,  # Marie came second in true time
    }
    assert statuses() == {jean.pk: "bumped", marie.pk: "active"}
    # The bumped reservation leaves the active lists, like a cancelled one.
    assert api.get("/api/reservations/conflicts").json()["total_conflicts"] == 0
    assert [r["id"] for r in api.get("/api/reservations").json()["reservations"]] == [marie.pk]
    assert api.get(f"/api/seats/{seat.pk}").json()["reservation"]["id"] == marie.pk
    assert api.get(f"/api/reservations/{jean.pk}").json()["error"]["code"] == "RESERVATION_NOT_FOUND"
    deleted = api.delete(f"/api/reservations/{jean.pk}")
    assert deleted.status_code == 404 and deleted.json()["error"]["code"] == "RESERVATION_NOT_FOUND"
    assert statuses()[jean.pk] == "bumped"


def test_true_order_keeps_who_truly_came_first(api, double_booked):
    seat, jean, marie = double_booked
    body = api.post(url(seat.pk), {"policy": "true_order"}, format="json").json()
    assert (body["kept"]["id"], [r["id"] for r in body["bumped"]], body["fair"]) == (jean.pk, [marie.pk], True)
    assert statuses() == {jean.pk: "active", marie.pk: "bumped"}
    # The seat's holder is now Jean (the only active reservation).
    assert api.get(f"/api/seats/{seat.pk}").json()["reservation"]["customer_name"] == "Jean"


@pytest.mark.parametrize("keep", ["jean", "marie"])
def test_keep_keeps_the_chosen_one(api, double_booked, keep):
    seat, jean, marie = double_booked
    chosen, other = (jean, marie) if keep == "jean" else (marie, jean)
    body = api.post(url(seat.pk) + "/", {"policy": "keep", "reservation_id": chosen.pk}, format="json").json()
    assert (body["kept"]["id"], body["bumped"][0]["id"], body["fair"]) == (chosen.pk, other.pk, keep == "jean")
    assert statuses() == {chosen.pk: "active", other.pk: "bumped"}


def test_three_way_conflict_bumps_two(api, venue, frozen_clock):
    node_offset_set(server_id="server-4", offset_seconds=-8.0)
    node_offset_set(server_id="server-2", offset_seconds=-30.0)
    ids = []
    for server_id in ("server-1", "server-4", "server-2"):
        ids.append(reservation_create(seat_id=venue[0].pk, customer_name="X", server_id=server_id).reservation.pk)
        frozen_clock.advance(1.0)
    body = api.post(url(venue[0].pk), {"policy": "true_order"}, format="json").json()
    assert body["kept"]["id"] == ids[0]
    assert sorted(r["id"] for r in body["bumped"]) == ids[1:]
    assert Reservation.objects.filter(status="bumped").count() == 2


def test_resolve_service_directly(double_booked):
    seat, jean, marie = double_booked
    resolution = conflict_resolve(seat_id=seat.pk, policy="earliest_timestamp")
    assert (resolution.kept.pk, [r.pk for r in resolution.bumped], resolution.fair) == (marie.pk, [jean.pk], False)


# --- errors: envelope, nothing changed --------------------------------------------------------


def error_of(response, status):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]
    return error


@pytest.mark.parametrize("seat_id", ["999999", "abc", "0"])
def test_unknown_seat_is_404(api, double_booked, seat_id):
    error = error_of(api.post(url(seat_id), {"policy": "true_order"}, format="json"), 404)
    assert error["code"] == "SEAT_NOT_FOUND"


def test_seat_without_conflict_is_409_no_conflict(api, venue, double_booked):
    reservation_create(seat_id=venue[1].pk, customer_name="Solo", server_id="server-1")
    for seat in (venue[1], venue[2]):  # one reservation; none
        error = error_of(api.post(url(seat.pk), {"policy": "true_order"}, format="json"), 409)
        assert error["code"] == "NO_CONFLICT"
        assert error["details"]["seat_id"] == seat.pk
    assert set(statuses().values()) == {"active"}


def test_resolving_twice_is_409(api, double_booked):
    seat, _, _ = double_booked
    assert api.post(url(seat.pk), {"policy": "true_order"}, format="json").status_code == 200
    assert error_of(api.post(url(seat.pk), {"policy": "true_order"}, format="json"), 409)["code"] == "NO_CONFLICT"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"policy": "fastest"}, "policy"),
        ({"policy": 1}, "policy"),
        ({}, "policy"),
        ({"policy": "keep"}, "reservation_id"),
        ({"policy": "keep", "reservation_id": "1"}, "reservation_id"),
        ({"policy": "true_order", "reservation_id": 1}, "reservation_id"),
    ],
)
def test_bad_input_is_a_validation_error(api, double_booked, body, field):
    seat, _, _ = double_booked
    error = error_of(api.post(url(seat.pk), body, format="json"), 400)
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [field]
    assert set(statuses().values()) == {"active"}


def test_foreign_reservation_id_is_a_validation_error(api, venue, double_booked):
    seat, jean, marie = double_booked
    elsewhere = reservation_create(seat_id=venue[5].pk, customer_name="Other", server_id="server-1").reservation
    for foreign in (elsewhere.pk, 999999):
        error = error_of(api.post(url(seat.pk), {"policy": "keep", "reservation_id": foreign}, format="json"), 400)
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"]["reservation_id"] == [
            f"Reservation {foreign} is not one of seat {seat.pk}'s conflicting reservations "
            f"({marie.pk}, {jean.pk})."  # the seat's active reservations, in timestamp order
        ]
    assert set(statuses().values()) == {"active"}


def test_production_mode_needs_staff(api, double_booked, settings, django_user_model):
    seat, _, _ = double_booked
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False
    assert error_of(api.post(url(seat.pk), {"policy": "true_order"}, format="json"), 401)["code"] == (
        "NOT_AUTHENTICATED"
    )
    api.force_authenticate(django_user_model.objects.create_user("u", password="pw-user-12345"))
    error = error_of(api.post(url(seat.pk), {"policy": "true_order"}, format="json"), 403)
    assert error["message"] == "Only staff may resolve conflicts."
    assert set(statuses().values()) == {"active"}
    staff = django_user_model.objects.create_user("op", password="pw-op-123456", is_staff=True)
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert api.post(url(seat.pk), {"policy": "true_order"}, format="json").status_code == 200


def test_bumped_needs_its_stamp_in_the_database(double_booked):
    _, jean, _ = double_booked
    with pytest.raises(IntegrityError), transaction.atomic():
        Reservation.objects.filter(pk=jean.pk).update(status="bumped")


def test_resolution_is_announced_on_commit(api, double_booked, django_capture_on_commit_callbacks):
    seat, _, _ = double_booked
    with django_capture_on_commit_callbacks() as callbacks:
        api.post(url(seat.pk), {"policy": "true_order"}, format="json")
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        api.post(url(seat.pk), {"policy": "true_order"}, format="json")  # 409: nothing announced
    assert callbacks == []


def test_resolve_is_in_the_openapi_schema(api):
    operation = api.get("/openapi.json").json()["paths"]["/api/reservations/conflicts/{seat_id}/resolve"]["post"]
    assert {"200", "400", "404", "409"} <= set(operation["responses"])
    assert "NO_CONFLICT" in str(operation["responses"]["409"])


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("operator", "op@example.com", "pw-operator-1"))
    return client


def act(staff, action, ids):
    return staff.post(
        reverse("admin:reservations_reservation_changelist"), {"action": action, ACTION_CHECKBOX_NAME: ids}, follow=True
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_admin_resolve_earliest_timestamp(staff, double_booked):
    seat, jean, marie = double_booked
    response = act(staff, "resolve_earliest_timestamp", [jean.pk])  # any reservation of the seat selects it
    assert statuses() == {jean.pk: "bumped", marie.pk: "active"}
    assert any("UNFAIR" in m and f"#{marie.pk}" in m for m in messages_of(response))


def test_admin_resolve_true_order(staff, double_booked):
    seat, jean, marie = double_booked
    response = act(staff, "resolve_true_order", [jean.pk, marie.pk])
    assert statuses() == {jean.pk: "active", marie.pk: "bumped"}
    assert any("fair" in m and "UNFAIR" not in m for m in messages_of(response))


def test_admin_keep_selected(staff, double_booked):
    seat, jean, marie = double_booked
    act(staff, "resolve_keep_selected", [marie.pk])
    assert statuses() == {jean.pk: "bumped", marie.pk: "active"}


def test_admin_keep_refuses_two_on_one_seat_and_no_conflict(staff, venue, double_booked):
    seat, jean, marie = double_booked
    response = act(staff, "resolve_keep_selected", [jean.pk, marie.pk])
    assert any("only one" in m for m in messages_of(response))
    solo = reservation_create(seat_id=venue[1].pk, customer_name="Solo", server_id="server-1").reservation
    response = act(staff, "resolve_true_order", [solo.pk])
    assert any("no conflict" in m for m in messages_of(response))
    assert set(statuses().values()) == {"active"}


def test_no_conflict_message_in_french(api, venue):
    response = api.post(url(venue[0].pk), {"policy": "true_order"}, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"]["message"] == (
        f"Le siège {venue[0].pk} n'a pas de conflit à résoudre (0 réservation(s) active(s))"
    )
