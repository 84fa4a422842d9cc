"""Seat holds (DESIGN §7): the API, expiry judged by each node's clock, every mode applied to
holds, and the history they leave.  Driven by the replaceable clock (no sleeping)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.tokens import digest as hold_token_hash
from history.models import Operation
from lab.checker import DOUBLE_SALE, INVERSION, STALE_ACCEPTANCE, STALE_REFUSAL, check, ops_from_rows, pairs
from reservations.errors import HoldExpired, SeatHeld
from reservations.models import Hold, Reservation
from reservations.services import hold_confirm, hold_create, reservation_create
from timesync.services import consistency_mode_set, node_offset_set

pytestmark = pytest.mark.django_db

HOLD_KEYS = {
    "id",
    "seat_id",
    "customer_name",
    "server_id",
    "ttl_seconds",
    "created_at",
    "expires_at",
    "recorded_at",
    "true_expires_at",
    "status",
    "reservation_id",
}


@pytest.fixture
def seat(venue):
    return venue[0]


def post_hold(api, seat_id, *, name="Jean Dupont", server_id="server-1", ttl=60):
    return api.post(
        "/api/holds",
        {"seat_id": seat_id, "customer_name": name, "server_id": server_id, "ttl_seconds": ttl},
        format="json",
    )


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --- The API ------------------------------------------------------------------------------------


def test_hold_is_stamped_by_the_nodes_clock_and_its_token_shown_once(api, frozen_clock, seat):
    node_offset_set(server_id="server-3", offset_seconds=5.0)
    response = post_hold(api, seat.pk, server_id="server-3", ttl=600)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == HOLD_KEYS | {"hold_token"}
    assert body["created_at"] == "2026-06-28T10:30:05Z"  # server-3's clock, 5 s ahead
    assert body["expires_at"] == "2026-06-28T10:40:05Z"
    assert body["recorded_at"] == "2026-06-28T10:30:00Z"
    assert body["true_expires_at"] == "2026-06-28T10:40:00Z"
    assert (body["status"], body["reservation_id"], body["ttl_seconds"]) == ("active", None, 600)
    token = body["hold_token"]
    hold = Hold.objects.get()
    assert hold.token_hash == hold_token_hash(token) != token  # stored hashed only
    listed = api.get("/api/holds").json()
    assert token not in str(listed)
    assert token not in str(list(Operation.objects.values()))


def test_default_ttl_is_600_seconds_and_bad_input_is_a_400(api, frozen_clock, seat):
    body = api.post("/api/holds", {"seat_id": seat.pk, "customer_name": "Jean"}, format="json").json()
    assert body["ttl_seconds"] == 600 and body["server_id"] == "server-1"
    for ttl in (0, 7201, "60", 60.5, True, None):
        response = post_hold(api, venue_seat(seat, 1), ttl=ttl)
        assert response.status_code == 400 and "ttl_seconds" in response.json()["error"]["details"], ttl
    assert error_code(post_hold(api, 999_999)) == "SEAT_NOT_FOUND"
    assert error_code(post_hold(api, seat.pk + 1, server_id="server-99")) == "INVALID_SERVER_ID"
    assert Hold.objects.count() == 1


def venue_seat(seat, k: int) -> int:
    return seat.pk + k


def test_confirm_turns_the_hold_into_a_reservation(api, frozen_clock, seat):
    token = post_hold(api, seat.pk).json()["hold_token"]
    frozen_clock.advance(30)
    response = api.post(f"/api/holds/{token}/confirm", {"server_id": "server-2"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["customer_name"] == "Jean Dupont" and body["server_id"] == "server-2"
    assert body["created_at"] == "2026-06-28T10:30:30Z" and body["conflict_detected"] is False
    hold = Hold.objects.get()
    assert (hold.status, hold.reservation_id) == ("confirmed", body["id"])
    # The hold is gone: a second confirm, a release and the list all say so.
    again = api.post(f"/api/holds/{token}/confirm", {}, format="json")
    assert (again.status_code, error_code(again)) == (404, "HOLD_NOT_FOUND")
    assert again.json()["error"]["details"] == {"status": "confirmed"}
    assert api.delete(f"/api/holds/{token}").status_code == 404
    assert api.get("/api/holds").json()["holds"] == []
    assert api.get(f"/api/seats/{seat.pk}").json()["reservation"]["id"] == body["id"]


def test_release_frees_the_seat_at_once(api, frozen_clock, seat):
    token = post_hold(api, seat.pk).json()["hold_token"]
    assert error_code(post_hold(api, seat.pk, name="Marie Martin")) == "SEAT_HELD"
    assert api.delete(f"/api/holds/{token}").status_code == 204
    assert Hold.objects.get().status == "released"
    assert post_hold(api, seat.pk, name="Marie Martin").status_code == 201
    assert error_code(api.delete(f"/api/holds/{token}")) == "HOLD_NOT_FOUND"
    assert error_code(api.post(f"/api/holds/{token}/confirm", {}, format="json")) == "HOLD_NOT_FOUND"


@pytest.mark.parametrize("token", ["nope", "x" * 500, "a%00b", "A" * 32])
def test_an_unknown_or_malformed_token_is_a_404(api, venue, token):
    assert error_code(api.post(f"/api/holds/{token}/confirm", {}, format="json")) == "HOLD_NOT_FOUND"
    assert error_code(api.delete(f"/api/holds/{token}")) == "HOLD_NOT_FOUND"


def test_a_held_seat_is_refused_to_reservations_and_holds_and_a_sold_one_to_holds(api, frozen_clock, seat):
    hold = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60).hold
    for post in (
        lambda: api.post("/api/reservations", {"seat_id": seat.pk, "customer_name": "Marie"}, format="json"),
        lambda: post_hold(api, seat.pk, name="Marie"),
    ):
        response = post()
        assert (response.status_code, error_code(response)) == (409, "SEAT_HELD")
        details = response.json()["error"]["details"]
        assert details["hold"] == {
            "id": hold.pk,
            "server_id": "server-1",
            "created_at": "2026-06-28T10:30:00Z",
            "expires_at": "2026-06-28T10:31:00Z",
        }
        assert details["node_time"] == "2026-06-28T10:30:00Z"
    other = reservation_create(seat_id=seat.pk + 1, customer_name="Paul").reservation
    response = post_hold(api, seat.pk + 1)
    assert (response.status_code, error_code(response)) == (409, "SEAT_ALREADY_RESERVED")
    assert response.json()["error"]["details"]["existing_reservation"]["id"] == other.pk


def test_the_list_shows_each_nodes_countdown(api, frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    node_offset_set(server_id="server-3", offset_seconds=+20.0)
    post_hold(api, seat.pk, server_id="server-1", ttl=60)
    frozen_clock.advance(45)
    body = api.get("/api/holds").json()
    assert body["consistency_mode"] == "naive" and body["true_time"] == "2026-06-28T10:30:45Z"
    (listed,) = body["holds"]
    assert listed["truly_live"] is True
    assert listed["nodes"]["server-1"] == {"live": True, "visible": True, "remaining_seconds": 15.0}
    assert listed["nodes"]["server-2"] == {"live": True, "visible": True, "remaining_seconds": 25.0}
    assert listed["nodes"]["server-3"] == {"live": False, "visible": True, "remaining_seconds": -5.0}  # expired early
    frozen_clock.advance(20)  # true time past the TTL; server-2 (10 s behind) still holds it: a zombie
    (listed,) = api.get("/api/holds").json()["holds"]
    assert listed["truly_live"] is False and listed["nodes"]["server-2"]["live"] is True
    frozen_clock.advance(10)  # every clock past it: dropped from the default list
    assert api.get("/api/holds").json()["holds"] == []
    assert api.get("/api/holds?include_expired=true").json()["total"] == 1
    assert api.get(f"/api/holds?seat_id={seat.pk}&include_expired=true").json()["total"] == 1
    assert api.get("/api/holds?include_expired=yes").status_code == 400


def test_a_lagging_node_that_does_not_see_a_hold_yet_says_so(api, frozen_clock, seat):
    """A hold stamped in a node's future is invisible there: not live, and ``visible`` false so
    its countdown is not read as "expired" (server-2, 30 s behind, within a 60 s hold)."""
    node_offset_set(server_id="server-2", offset_seconds=-30.0)
    post_hold(api, seat.pk, server_id="server-1", ttl=60)
    (listed,) = api.get("/api/holds").json()["holds"]
    assert listed["nodes"]["server-2"] == {"live": False, "visible": False, "remaining_seconds": 90.0}
    frozen_clock.advance(31)
    (listed,) = api.get("/api/holds").json()["holds"]
    assert listed["nodes"]["server-2"] == {"live": True, "visible": True, "remaining_seconds": 59.0}


# --- Expiry judged by node clocks: stolen and zombie holds ----------------------------------------


def test_a_leading_node_steals_a_hold_and_the_checker_names_the_witness_pair(frozen_clock, seat):
    node_offset_set(server_id="server-3", offset_seconds=+20.0)  # runs 20 s ahead
    token = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60).token
    frozen_clock.advance(45)  # true time: 15 s left; server-3 reads 65 s: expired for it
    thief = reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3").reservation
    assert thief.created_at.isoformat() == "2026-06-28T10:31:05+00:00"

    verdict = check(ops_from_rows(Operation.objects.all()))
    hold_op = Operation.objects.get(f="hold")
    thief_op = Operation.objects.get(f="reserve")
    assert pairs(verdict.anomalies) == [(STALE_ACCEPTANCE, hold_op.pk, thief_op.pk)]
    assert verdict.stolen_holds() == {hold_op.pk}
    (anomaly,) = verdict.anomalies
    assert (anomaly.second.node, anomaly.second.node_time) == ("server-3", thief.created_at)  # its clock, 20 s ahead
    assert "a stolen hold" in anomaly.explanation

    # The holder comes back inside the TTL.  Any node that could see the thief's sale reads past
    # the hold's expiry, so it refuses the confirmation (HOLD_EXPIRED) ...
    frozen_clock.advance(5)
    with pytest.raises(HoldExpired):
        hold_confirm(token=token, server_id="server-3")
    # ... and a node in sync cannot see the sale (stamped in its future): it double-books.
    frozen_clock.advance(1)
    confirmed = hold_confirm(token=token, server_id="server-1")
    assert confirmed.conflict_detected and [r.pk for r in confirmed.hidden] == [thief.pk]
    kinds = [a.kind for a in check(ops_from_rows(Operation.objects.all())).anomalies]
    assert sorted(kinds) == sorted([STALE_ACCEPTANCE, STALE_REFUSAL, DOUBLE_SALE, INVERSION])


def test_a_lagging_node_keeps_a_zombie_hold_and_the_checker_names_the_witness_pair(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)  # runs 10 s behind
    hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60)
    frozen_clock.advance(65)  # the hold truly ended 5 s ago; server-2 reads 55 s: still live for it
    with pytest.raises(SeatHeld):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    # An in-sync node sells it.
    reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-1")

    verdict = check(ops_from_rows(Operation.objects.all()))
    hold_op = Operation.objects.get(f="hold")
    refusal = Operation.objects.get(f="reserve", outcome="fail")
    assert refusal.error == "SEAT_HELD" and refusal.node == "server-2"
    assert pairs(verdict.anomalies) == [(STALE_REFUSAL, hold_op.pk, refusal.pk)]
    assert "a zombie hold" in verdict.anomalies[0].explanation


def test_a_leading_node_refuses_a_live_holds_confirmation(frozen_clock, seat):
    node_offset_set(server_id="server-3", offset_seconds=+20.0)
    token = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60).token
    frozen_clock.advance(50)
    with pytest.raises(HoldExpired) as expired:
        hold_confirm(token=token, server_id="server-3")
    assert expired.value.details["node_time"] == "2026-06-28T10:31:10Z"
    verdict = check(ops_from_rows(Operation.objects.all()))
    assert [a.kind for a in verdict.anomalies] == [STALE_REFUSAL]
    # Through an in-sync node the same hold is still confirmed.
    assert hold_confirm(token=token, server_id="server-1").reservation.customer_name == "Jean"


def test_a_lagging_node_cannot_see_a_fresh_hold_and_sells_the_seat(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60)
    frozen_clock.advance(3)  # the hold is stamped 7 s in server-2's future
    reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-2")
    assert [a.kind for a in check(ops_from_rows(Operation.objects.all())).anomalies] == [STALE_ACCEPTANCE]


# --- Every mode applied to holds ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bounded", "serializable"])
def test_modes_that_are_safe_for_reservations_are_safe_for_holds_within_their_condition(frozen_clock, seat, mode):
    """Offsets within MAX_CLOCK_OFFSET (0.5 s) and unfenced: bounded and serializable steal no hold
    (naive does, with the same clocks and the same customers) and keep no zombie past 2 × bound."""
    consistency_mode_set(mode)
    node_offset_set(server_id="server-3", offset_seconds=+0.2)
    node_offset_set(server_id="server-2", offset_seconds=-0.1)
    hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-2", ttl_seconds=60)
    frozen_clock.advance(59.85)  # 0.15 s left in true time; server-3 reads 60.15 s past server-2's stamp +0.1
    with pytest.raises(SeatHeld):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
    frozen_clock.advance(0.15 + 2 * 0.5)  # past the true end by twice the bound: expired everywhere
    reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
    assert check(ops_from_rows(Operation.objects.all())).valid


def test_naive_steals_the_same_hold_with_the_same_clocks(frozen_clock, seat):
    node_offset_set(server_id="server-3", offset_seconds=+0.2)
    node_offset_set(server_id="server-2", offset_seconds=-0.1)
    hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-2", ttl_seconds=60)
    frozen_clock.advance(59.85)
    reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
    assert [a.kind for a in check(ops_from_rows(Operation.objects.all())).anomalies] == [STALE_ACCEPTANCE]


def test_bounded_beyond_its_condition_fences_instead(frozen_clock, seat):
    consistency_mode_set("bounded")
    node_offset_set(server_id="server-3", offset_seconds=+20.0)
    token = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60).token
    frozen_clock.advance(45)
    from timesync.errors import NodeFenced

    with pytest.raises(NodeFenced):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
    with pytest.raises(NodeFenced):
        hold_confirm(token=token, server_id="server-3")
    assert hold_confirm(token=token, server_id="server-1").reservation.customer_name == "Jean"
    fenced = Operation.objects.filter(error="TIME_DRIFT_DETECTED").values_list("f", flat=True)
    assert sorted(fenced) == ["confirm", "reserve"]


def test_serializable_judges_expiry_on_true_time_whatever_the_holding_node(frozen_clock, seat):
    consistency_mode_set("serializable")
    node_offset_set(server_id="server-2", offset_seconds=-30.0)  # stamps its holds 30 s early
    token = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-2", ttl_seconds=60).token
    frozen_clock.advance(45)  # on server-2's stamps the hold "expired" 15 s ago; in true time 15 s are left
    with pytest.raises(SeatHeld):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-1")
    assert hold_confirm(token=token, server_id="server-1").reservation.customer_name == "Jean"
    frozen_clock.advance(60)
    assert check(ops_from_rows(Operation.objects.all())).valid


def test_a_confirmed_hold_in_conflict_is_unfair_like_any_blind_write(frozen_clock, seat):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    first = reservation_create(seat_id=seat.pk + 1, customer_name="Paul", server_id="server-1")
    frozen_clock.advance(1)
    token = hold_create(seat_id=seat.pk + 1, customer_name="Jean", server_id="server-2", ttl_seconds=60)
    # server-2 could not see Paul's reservation (stamped in its future): hold granted, then confirmed.
    frozen_clock.advance(2)
    outcome = hold_confirm(token=token.token, server_id="server-2")
    assert outcome.conflict_detected and [r.pk for r in outcome.hidden] == [first.reservation.pk]
    kinds = [a.kind for a in check(ops_from_rows(Operation.objects.all())).anomalies]
    assert INVERSION in kinds and STALE_ACCEPTANCE in kinds


# --- History ------------------------------------------------------------------------------------


def test_every_hold_operation_is_in_the_history_with_its_actor(api, frozen_clock, seat, django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("alice", password="pw-alice-123456")
    token_key = Token.objects.create(user=user).key
    hold_token = post_hold(api, seat.pk).json()["hold_token"]
    post_hold(api, seat.pk, name="Marie")  # SEAT_HELD
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    api.post(f"/api/holds/{hold_token}/confirm", {"server_id": "server-2"}, format="json", HTTP_X_SEATCLOCK_RUN="r1")
    rows = list(Operation.objects.values_list("f", "outcome", "error", "node", "actor_kind", "actor_name", "run"))
    assert rows == [
        ("hold", "ok", "", "server-1", "anonymous", "", ""),
        ("hold", "fail", "SEAT_HELD", "server-1", "anonymous", "", ""),
        ("confirm", "ok", "", "server-2", "token", "alice", "r1"),
    ]
    confirm = Operation.objects.get(f="confirm")
    assert confirm.args == {"hold_id": Hold.objects.get().pk, "server_id": "server-2"}
    assert confirm.value["reservation_id"] == Reservation.objects.get().pk
    assert hold_token not in str(confirm.args) + str(confirm.value)


# --- Admin and command ----------------------------------------------------------------------------


def test_admin_lists_holds_with_the_nodes_that_judge_them_live_and_releases_them(
    client, django_user_model, frozen_clock, seat
):
    from django.urls import reverse

    client.force_login(django_user_model.objects.create_superuser("op", "op@example.com", "pw-op-1234567"))
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    hold = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60).hold
    frozen_clock.advance(65)  # over in true time; server-2 (10 s behind) still holds it: a zombie
    page = client.get(reverse("admin:reservations_hold_changelist")).content.decode()
    assert "Jean" in page and '<td class="field-live_on">server-2</td>' in page
    assert client.get(reverse("admin:reservations_hold_change", args=[hold.pk])).status_code == 200
    response = client.post(
        reverse("admin:reservations_hold_changelist"), {"action": "release", "_selected_action": [hold.pk]}
    )
    assert response.status_code == 302
    assert Hold.objects.get().status == "released"
    release = Operation.objects.get(f="release")
    assert (release.actor_kind, release.actor_name, release.value) == ("user", "op", {"hold_id": hold.pk})


def test_holds_command_shows_each_nodes_countdown(frozen_clock, seat):
    from io import StringIO

    from django.core.management import call_command

    node_offset_set(server_id="server-3", offset_seconds=+20.0)
    hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-1", ttl_seconds=60)
    frozen_clock.advance(45)
    out = StringIO()
    call_command("holds", stdout=out)
    text = out.getvalue()
    assert text.startswith("True time 2026-06-28T10:30:45Z, mode naive: 1 hold(s)")
    row = text.splitlines()[2]
    assert "A1" in row and "server-1" in row
    assert "+15.0s" in row and "-5.0x" in row  # in sync: 15 s left; server-3 (20 s ahead): expired 5 s ago
    frozen_clock.advance(3600)
    out = StringIO()
    call_command("holds", stdout=out)
    assert "0 hold(s)" in out.getvalue()
    out = StringIO()
    call_command("holds", "--all", stdout=out)
    assert "1 hold(s)" in out.getvalue() and "(over)" in out.getvalue()


# --- Production: initials, Idempotency-Key, cancel tokens ------------------------------------------


def test_anonymous_readers_see_the_holders_initials_in_production(api, settings, frozen_clock, seat):
    settings.SEATCLOCK_PUBLIC_NAMES = False
    created = post_hold(api, seat.pk, name="Jean Dupont").json()
    assert created["customer_name"] == "J. D."
    (listed,) = api.get("/api/holds").json()["holds"]
    assert listed["customer_name"] == "J. D."
    assert Hold.objects.get().customer_name == "Jean Dupont"  # stored whole
    confirmed = api.post(f"/api/holds/{created['hold_token']}/confirm", {}, format="json").json()
    assert confirmed["customer_name"] == "J. D." and confirmed["cancel_token"]


def test_an_idempotency_key_makes_a_retried_hold_one_hold(api, frozen_clock, seat):
    body = {"seat_id": seat.pk, "customer_name": "Jean Dupont", "ttl_seconds": 60}
    first = api.post("/api/holds", body, format="json", HTTP_IDEMPOTENCY_KEY="hold-key-0001")
    again = api.post("/api/holds", body, format="json", HTTP_IDEMPOTENCY_KEY="hold-key-0001")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Hold.objects.count() == 1 and Operation.objects.filter(f="hold").count() == 1
    token = first.json()["hold_token"]
    one = api.post(f"/api/holds/{token}/confirm", {}, format="json", HTTP_IDEMPOTENCY_KEY="confirm-key-01")
    two = api.post(f"/api/holds/{token}/confirm", {}, format="json", HTTP_IDEMPOTENCY_KEY="confirm-key-01")
    assert one.status_code == two.status_code == 201 and one.json() == two.json()
    assert Reservation.objects.count() == 1


def test_a_confirmed_hold_is_cancelled_with_its_cancel_token_in_production(api, settings, frozen_clock, seat):
    settings.SEATCLOCK_CANCEL_TOKEN_REQUIRED = True
    token = post_hold(api, seat.pk).json()["hold_token"]
    made = api.post(f"/api/holds/{token}/confirm", {}, format="json").json()
    assert api.delete(f"/api/reservations/{made['id']}").status_code == 403
    ok = api.delete(f"/api/reservations/{made['id']}", HTTP_X_CANCEL_TOKEN=made["cancel_token"])
    assert ok.status_code == 204
    cancels = list(Operation.objects.filter(f="cancel").values_list("outcome", "error"))
    assert cancels == [("fail", "INVALID_CANCEL_TOKEN"), ("ok", "")]


def test_the_demo_reset_releases_holds_and_leaves_a_valid_history(api, frozen_clock, seat):
    api.post("/api/reservations", {"seat_id": seat.pk, "customer_name": "Jean"}, format="json")
    post_hold(api, seat.pk + 1)
    frozen_clock.advance(1)
    body = api.post("/api/simulation/reset").json()
    assert (body["reservations_cancelled"], body["holds_released"]) == (1, 1)
    assert Hold.objects.get().status == "released"
    frozen_clock.advance(1)
    # The seats are free again; the history says why, so the checker sees no double sale.
    assert (
        api.post("/api/reservations", {"seat_id": seat.pk, "customer_name": "Marie"}, format="json").status_code == 201
    )
    assert post_hold(api, seat.pk + 1, name="Paul").status_code == 201
    ends = sorted(Operation.objects.filter(f__in=["cancel", "release"]).values_list("f", "seat_id", "actor_kind"))
    assert ends == [("cancel", seat.pk, "anonymous"), ("release", seat.pk + 1, "anonymous")]
    assert check(ops_from_rows(Operation.objects.all())).valid


def test_commit_wait_stamps_holds_beyond_the_uncertainty_and_steals_none_within_it(frozen_clock, seat):
    """commit_wait (Spanner's TrueTime) applies to holds through the same view: a hold is stamped
    t_node + ε and answered after the commit wait; a node lets it expire only once
    t_node − ε has passed it.  Clock errors within ε (±40 ms against ε ≥ 50 ms): no stolen hold,
    where naive steals the same one."""
    from timesync.models import ServerNode

    consistency_mode_set("commit_wait")
    node_offset_set(server_id="server-2", offset_seconds=-0.04)
    node_offset_set(server_id="server-3", offset_seconds=+0.04)
    ServerNode.objects.update(last_sync=frozen_clock.now, last_sync_error_bound=0.05)
    started = frozen_clock.now
    hold = hold_create(seat_id=seat.pk, customer_name="Jean", server_id="server-2", ttl_seconds=60).hold
    assert (hold.created_at - hold.recorded_at).total_seconds() == pytest.approx(-0.04 + 0.05)  # t_node + ε
    assert (frozen_clock.now - started).total_seconds() > 0.1  # the commit wait: until t_node − ε > stamp
    frozen_clock.now = started + timedelta(seconds=59.98)  # 20 ms left in true time; server-3 reads past expires_at
    with pytest.raises(SeatHeld):
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
    with pytest.raises(SeatHeld):  # not a refusal of the mode: naive would sell it (see below)
        reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3", mode="commit_wait")
    assert (
        reservation_create(
            seat_id=seat.pk + 1, customer_name="Paul", server_id="server-3", mode="commit_wait"
        ).reservation.customer_name
        == "Paul"
    )
    stolen = hold_create(seat_id=seat.pk + 2, customer_name="Ana", server_id="server-2", ttl_seconds=60, mode="naive")
    frozen_clock.now = stolen.hold.recorded_at + timedelta(seconds=59.98)
    reservation_create(seat_id=seat.pk + 2, customer_name="Bob", server_id="server-3", mode="naive")
    frozen_clock.now = started + timedelta(seconds=60.2)  # past the true end and ε: sold normally
    reservation_create(seat_id=seat.pk, customer_name="Marie", server_id="server-3")
    kinds = {(a.kind, a.seat_id) for a in check(ops_from_rows(Operation.objects.all())).anomalies}
    assert kinds == {(STALE_ACCEPTANCE, seat.pk + 2)}  # only naive's


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "0", "abc", "1.0"])
def test_holds_command_refuses_a_seat_that_cannot_be_an_id(manage, value):
    """``holds --seat 99999999999999999999999`` was an OverflowError traceback; ids are read by
    core.ids.parse_id, so any non-id is one sentence and exit 2."""
    status, out, err = manage("holds", "--seat", value)
    assert status == 2
    assert f"argument --seat: must be an id from 1 to 9223372036854775807, not '{value}'" in err
    assert "Traceback" not in err and out == ""
