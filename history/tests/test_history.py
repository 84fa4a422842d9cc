"""The operations history (DESIGN §8): appended by the services with the actor and the true
instants, refusals included, one INSERT in the write's transaction; the audit trail in the
admin; the Jepsen-like export and the API."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from history.models import Operation
from history.recording import operation
from lab.checker import DOUBLE_SALE, INVERSION, check, ops_from_events, ops_from_rows, pairs
from reservations.errors import SeatAlreadyReserved
from reservations.services import reservation_create
from timesync import clock
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db


def ops(*fields: str) -> list[tuple]:
    return list(Operation.objects.order_by("id").values_list(*fields))


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "pw-operator-123")


def test_a_reservation_and_a_refusal_are_appended_with_true_instants_and_node_clock(api, venue, frozen_clock):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": "Jean Dupont"}, format="json")
    frozen_clock.advance(12)
    response = api.post(
        "/api/reservations",
        {"seat_id": venue[0].pk, "customer_name": "Marie Martin", "server_id": "server-2"},
        format="json",
    )
    assert response.status_code == 409
    reserve, refusal = Operation.objects.filter(f="reserve").order_by("id")
    assert (reserve.outcome, reserve.node, reserve.mode, reserve.seat_id) == ("ok", "server-1", "naive", venue[0].pk)
    assert reserve.invoked_at == reserve.completed_at  # the frozen clock did not move during it
    assert reserve.actor == "anonymous"
    assert reserve.args == {"seat_id": venue[0].pk, "customer_name": "Jean Dupont", "server_id": "server-1"}
    assert reserve.value["created_at"] == "2026-06-28T10:30:00Z" and reserve.value["conflict"] is False
    assert (refusal.outcome, refusal.error, refusal.node) == ("fail", "SEAT_ALREADY_RESERVED", "server-2")
    assert refusal.node_time.isoformat() == "2026-06-28T10:30:02+00:00"  # server-2's clock, 10 s behind
    assert refusal.value["existing_reservation"]["id"] == reserve.value["reservation_id"]


def test_who_cancelled_and_who_moved_a_clock(api, venue, staff, django_user_model):
    key = Token.objects.create(user=django_user_model.objects.create_user("bob", password="pw-bob-1234567")).key
    made = reservation_create(seat_id=venue[0].pk, customer_name="Jean").reservation
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.delete(f"/api/reservations/{made.pk}").status_code == 204
    api.post("/api/simulation/set-offset", {"server_id": "server-3", "offset_seconds": 2.5}, format="json")
    api.post("/api/simulation/apply-scenario", {"scenario_name": "minor_drift"}, format="json")
    call_command("set_offset", "server-4", "-1", stdout=StringIO())
    call_command("consistency_mode", "bounded", stdout=StringIO())
    rows = ops("f", "outcome", "node", "actor_kind", "actor_name")
    assert rows[0] == ("reserve", "ok", "server-1", "system", "")  # a service called from a shell
    assert rows[1] == ("cancel", "ok", "", "token", "bob")
    assert rows[2] == ("set_offset", "ok", "server-3", "token", "bob")
    assert rows[3:8] == [("set_offset", "ok", f"server-{i}", "token", "bob") for i in range(1, 6)]  # a scenario
    assert rows[8] == ("set_offset", "ok", "server-4", "system", "set_offset")
    assert rows[9] == ("set_mode", "ok", "", "system", "consistency_mode")
    scenario = Operation.objects.filter(f="set_offset", node="server-2", actor_name="bob").get()
    assert scenario.args["reason"] == "scenario minor_drift"
    assert scenario.value["offset_seconds"] == -1.0 and scenario.value["previous_offset_seconds"] == 0.0


def test_the_admin_shows_the_audit_trail_and_is_read_only(client, staff, venue):
    client.force_login(staff)
    made = reservation_create(seat_id=venue[0].pk, customer_name="Jean").reservation
    from django.urls import reverse

    response = client.post(
        reverse("admin:reservations_reservation_changelist"),
        {"action": "cancel", "_selected_action": [made.pk]},
    )
    assert response.status_code == 302
    cancel = Operation.objects.get(f="cancel")
    assert (cancel.actor_kind, cancel.actor_name) == ("user", "operator")
    page = client.get(reverse("admin:history_operation_changelist"), {"f__exact": "cancel"}).content.decode()
    assert "operator" in page and "cancel" in page
    detail = client.get(reverse("admin:history_operation_change", args=[cancel.pk]))
    assert detail.status_code == 200 and f"&quot;reservation_id&quot;: {made.pk}" in detail.content.decode()
    assert client.get(reverse("admin:history_operation_add")).status_code == 403
    assert client.post(reverse("admin:history_operation_delete", args=[cancel.pk]), {"post": "yes"}).status_code == 403
    assert Operation.objects.filter(pk=cancel.pk).exists()
    link = client.get(reverse("admin:reservations_reservation_change", args=[made.pk])).content.decode()
    assert f"?q={venue[0].pk}" in link


def test_appending_costs_one_insert_in_the_writes_transaction(venue, django_assert_num_queries):
    reservation_create(seat_id=venue[1].pk, customer_name="Warm up")  # the first call loads the mode row, etc.
    with CaptureQueriesContext(connection) as with_history:
        reservation_create(seat_id=venue[0].pk, customer_name="Jean")
    inserts = [q["sql"] for q in with_history.captured_queries if "INSERT" in q["sql"].upper()]
    # The reservation and its history row, nothing else: two statements on the ORM path, one
    # (a CTE, prepared: its text is the session's) on PostgreSQL's (reservations.access).
    if connection.vendor == "postgresql" and settings.SEATCLOCK_RULE_SQL:
        assert [sql.split("(")[0] for sql in inserts] == ["EXECUTE seatclock_insert_reservations_reservation"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT statement FROM pg_prepared_statements WHERE name = 'seatclock_insert_reservations_reservation'"
            )
            # The text of the message that prepared it: this statement's part of it.
            message = cursor.fetchone()[0]
            inserts = [message.split("PREPARE seatclock_insert_reservations_reservation AS ", 1)[1].split("; ")[0]]
    assert sum(sql.upper().count("INSERT INTO") for sql in inserts) == 2
    assert any("history_operation" in sql for sql in inserts)


def test_a_refusal_is_appended_after_the_rollback_and_a_rolled_back_write_leaves_nothing(venue):
    from django.db import transaction

    reservation_create(seat_id=venue[0].pk, customer_name="Jean")
    with pytest.raises(SeatAlreadyReserved):
        reservation_create(seat_id=venue[0].pk, customer_name="Marie")
    assert ops("f", "outcome") == [("reserve", "ok"), ("reserve", "fail")]
    # A caller that rolls its own transaction back takes the history row with it.
    with transaction.atomic():
        reservation_create(seat_id=venue[1].pk, customer_name="Paul")
        transaction.set_rollback(True)
    assert Operation.objects.count() == 2


def test_an_operation_that_never_reached_a_node_is_not_recorded(api, venue):
    assert (
        api.post("/api/reservations", {"seat_id": 999_999, "customer_name": "Jean"}, format="json").status_code == 404
    )
    body = {"seat_id": venue[0].pk, "customer_name": "Jean", "server_id": "server-99"}
    assert api.post("/api/reservations", body, format="json").status_code == 400
    assert api.delete("/api/reservations/12345").status_code == 404
    assert Operation.objects.count() == 0


def test_an_unexpected_error_after_the_decision_is_appended_as_info(venue):
    with pytest.raises(ZeroDivisionError), operation("reserve", clock.reference_now, args={}) as op:
        op.decided(node="server-1", seat_id=venue[0].pk)
        raise ZeroDivisionError
    (row,) = Operation.objects.all()
    assert (row.outcome, row.error, row.value) == ("info", "INDETERMINATE", {"exception": "ZeroDivisionError"})


def test_a_failed_ntp_sync_is_appended_as_a_refusal(api, settings):
    settings.SEATCLOCK_NTP_TIMEOUT = 0.2
    settings.SEATCLOCK_NTP_SAMPLES = 1
    # Nothing listens on this port: the exchange times out, the node is unchanged.
    response = api.post("/api/time/sync", {"server_id": "server-2", "ntp_server": "127.0.0.1:9"}, format="json")
    assert response.status_code == 502
    (row,) = Operation.objects.all()
    assert (row.f, row.outcome, row.error, row.node) == ("sync", "fail", "NTP_SYNC_FAILED", "server-2")
    assert row.args == {"server_id": "server-2", "ntp_server": "127.0.0.1:9"}


def test_export_is_jepsen_like_json_lines_the_checker_reads_back(venue, frozen_clock, tmp_path):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=venue[0].pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(3)
    reservation_create(seat_id=venue[0].pk, customer_name="Marie", server_id="server-2")
    out = tmp_path / "history.jsonl"
    call_command("export_history", "--out", str(out), stderr=StringIO())
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["index"] for e in events] == list(range(len(events)))
    assert [(e["type"], e["f"]) for e in events] == [
        ("invoke", "set_offset"),
        ("ok", "set_offset"),
        ("invoke", "reserve"),
        ("ok", "reserve"),
        ("invoke", "reserve"),
        ("ok", "reserve"),
    ]
    invoke, done = events[4], events[5]
    assert invoke["process"] == done["process"] == "server-2" and invoke["op"] == done["op"]
    assert invoke["value"]["customer_name"] == "Marie" and done["value"]["conflict"] is True
    assert done["time"] - events[3]["time"] == 3_000_000_000  # nanoseconds of true time
    assert done["node_time"] == "2026-06-28T10:29:53Z" and done["actor"] == "system"
    from_file = ops_from_events(events)
    assert pairs(check(from_file).anomalies) == pairs(check(ops_from_rows(Operation.objects.all())).anomalies)
    assert [a.kind for a in check(from_file).anomalies] == [DOUBLE_SALE, INVERSION]
    stdout = StringIO()
    call_command("export_history", "--f", "set_offset", stdout=stdout)
    assert len(stdout.getvalue().splitlines()) == 2


def test_check_history_names_the_witness_pair_and_exits_1(venue, frozen_clock):
    from django.core.management.base import CommandError

    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=venue[0].pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(3)
    reservation_create(seat_id=venue[0].pk, customer_name="Marie", server_id="server-2")
    stdout = StringIO()
    with pytest.raises(CommandError) as invalid:
        call_command("check_history", stdout=stdout)
    assert invalid.value.returncode == 1
    text = stdout.getvalue()
    assert text.startswith("INVALID: 1 double sale, 1 real time inversion (3 operations on 1 seats)")
    assert "via server-2, true 10:30:03.000000, its clock 10:29:53.000000" in text
    out = StringIO()
    call_command("check_history", "--seat", str(venue[1].pk), stdout=out)
    assert out.getvalue().startswith("valid (0 operations")
    js = StringIO()
    with pytest.raises(CommandError):
        call_command("check_history", "--json", stdout=js)
    verdict = json.loads(js.getvalue())
    assert verdict["valid"] is False and verdict["counts"]["double_sale"] == 1
    assert [w["node"] for w in verdict["anomalies"][0]["witness"]] == ["server-1", "server-2"]


def test_the_api_lists_the_history_and_is_staff_only_in_production(api, venue, settings, staff):
    reservation_create(seat_id=venue[0].pk, customer_name="Jean")
    api.post(
        "/api/reservations",
        {"seat_id": venue[1].pk, "customer_name": "Run"},
        format="json",
        HTTP_X_SEATCLOCK_RUN="run-1",
    )
    body = api.get("/api/history").json()
    assert body["total"] == 2 and [o["f"] for o in body["operations"]] == ["reserve", "reserve"]
    assert api.get("/api/history?run=run-1").json()["operations"][0]["run"] == "run-1"
    assert api.get(f"/api/history?seat_id={venue[0].pk}").json()["total"] == 1
    assert api.get("/api/history?f=nope").status_code == 400
    settings.SEATCLOCK_OPEN_CLOCK_CONTROLS = False
    assert api.get("/api/history").status_code == 401
    api.force_authenticate(staff)
    assert api.get("/api/history").status_code == 200


def test_a_bad_run_tag_is_ignored_not_stored(api, venue):
    bad = "x" * 65
    api.post(
        "/api/reservations", {"seat_id": venue[0].pk, "customer_name": "Jean"}, format="json", HTTP_X_SEATCLOCK_RUN=bad
    )
    assert Operation.objects.get().run == ""


def test_check_history_json_writes_instants_as_the_api_does(venue, frozen_clock):
    from django.core.management.base import CommandError

    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    reservation_create(seat_id=venue[0].pk, customer_name="Jean", server_id="server-1")
    frozen_clock.advance(3.25)
    reservation_create(seat_id=venue[0].pk, customer_name="Marie", server_id="server-2")
    js = StringIO()
    with pytest.raises(CommandError):
        call_command("check_history", "--json", stdout=js)
    second = json.loads(js.getvalue())["anomalies"][0]["witness"][1]
    assert second["invoked_at"] == "2026-06-28T10:30:03.250000Z"  # core.timefmt.iso_utc, never +00:00
    assert second["node_time"] == "2026-06-28T10:29:53.250000Z"


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "abc"])
def test_export_history_refuses_a_seat_that_cannot_be_an_id(manage, value):
    status, out, err = manage("export_history", "--seat", value)
    assert status == 2
    assert f"argument --seat: must be an id from 1 to 9223372036854775807, not '{value}'" in err
    assert out == "" and "Traceback" not in err


def test_check_history_bad_arguments_exit_2_with_one_sentence(manage, venue):
    reservation_create(seat_id=venue[0].pk, customer_name="Jean", server_id="server-1")
    operation_run = Operation.objects.get(f="reserve")
    operation_run.run = "load-1"
    operation_run.save(update_fields=["run"])
    for argv, message in [
        (("--run", "nope"), "no operations with run tag 'nope'"),
        (("--limit", "-1"), "argument --limit: must be an integer from 0 to 1000000, not '-1'"),
        (("--seat", "99999999999999999999999"), "argument --seat: must be an id from 1 to"),
        (("--seat", "0"), "argument --seat: must be an id from 1 to"),
    ]:
        status, out, err = manage("check_history", *argv)
        assert (status, out) == (2, ""), argv
        assert message in err and "Traceback" not in err
    # A known tag is checked; a seat of it without operations is a valid empty history.
    assert manage("check_history", "--run", "load-1")[:2] == (0, "valid (1 operations on 1 seats)\n")
    assert manage("check_history", "--run", "load-1", "--seat", str(venue[5].pk))[0] == 0
    assert manage("check_history", "--limit", "0")[:2] == (0, "valid (1 operations on 1 seats)\n")
