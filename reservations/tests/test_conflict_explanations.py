"""Every conflict explains itself, from stored data only (created_at, recorded_at, node_offset)."""

from __future__ import annotations

import pytest

from reservations import shapes
from reservations.models import Reservation
from reservations.selectors import conflict_list
from reservations.services import reservation_create
from timesync.services import node_offset_set

reasons = shapes.conflict_reasons

pytestmark = pytest.mark.django_db


def reserve(api, seat_id, name, server_id):
    body = {"seat_id": seat_id, "customer_name": name, "server_id": server_id}
    return api.post("/api/reservations", body, format="json")


def test_lagging_writer_is_explained_in_the_api(api, venue, frozen_clock):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    frozen_clock.advance(14.9)  # true time 10:30:14.900
    jean = reserve(api, venue[0].pk, "Jean Dupont", "server-1").json()
    frozen_clock.advance(0.2)  # 10:30:15.100 true; server-2 reads 10:30:05.100
    marie = reserve(api, venue[0].pk, "Marie Martin", "server-2").json()
    assert marie["conflict_detected"] is True

    [conflict] = api.get("/api/reservations/conflicts").json()["conflicts"]
    by_id = {r["id"]: r for r in conflict["reservations"]}
    assert by_id[jean["id"]] == {
        "id": jean["id"],
        "seat_id": venue[0].pk,
        "customer_name": "Jean Dupont",
        "server_id": "server-1",
        "created_at": "2026-06-28T10:30:14.900000Z",
        "recorded_at": "2026-06-28T10:30:14.900000Z",
        "node_offset_seconds": 0.0,
        "reason": None,  # the seat was free for Jean
        "hidden_ids": [],
    }
    reason = (
        f"server-2 read its clock at 10:30:05.100 (offset -10.000 s) and could not see #{jean['id']}, "
        "stamped 10:30:14.900 by server-1 (offset +0.000 s): 9.800 s in its future"
    )
    assert by_id[marie["id"]]["reason"] == reason
    assert by_id[marie["id"]]["hidden_ids"] == [jean["id"]]  # the same, as data (the page's timeline)
    assert by_id[marie["id"]]["node_offset_seconds"] == -10.0
    assert by_id[marie["id"]]["created_at"] == "2026-06-28T10:30:05.100000Z"
    assert by_id[marie["id"]]["recorded_at"] == "2026-06-28T10:30:15.100000Z"
    assert conflict["explanation"] == [f"#{marie['id']}: {reason}"]
    # The spec's fields and the earlier additions are unchanged.
    assert (conflict["winner_id"], conflict["true_first_id"], conflict["fair"]) == (marie["id"], jean["id"], False)
    assert conflict["conflict_count"] == 2


def test_a_fast_writer_first_is_hidden_from_a_node_on_true_time(venue, frozen_clock):
    node_offset_set(server_id="server-3", offset_seconds=5.0)
    first = reservation_create(seat_id=venue[0].pk, customer_name="A", server_id="server-3").reservation
    frozen_clock.advance(1.0)
    second = reservation_create(seat_id=venue[0].pk, customer_name="B", server_id="server-1").reservation
    [conflict] = conflict_list()
    assert reasons(conflict)[second.pk] == (
        f"server-1 read its clock at 10:30:01.000 (offset +0.000 s) and could not see #{first.pk}, "
        "stamped 10:30:05.000 by server-3 (offset +5.000 s): 4.000 s in its future"
    )


def test_a_third_writer_names_every_reservation_it_could_not_see(venue, frozen_clock):
    node_offset_set(server_id="server-4", offset_seconds=-8.0)
    node_offset_set(server_id="server-2", offset_seconds=-30.0)
    a = reservation_create(seat_id=venue[0].pk, customer_name="A", server_id="server-1").reservation
    frozen_clock.advance(1.0)
    b = reservation_create(seat_id=venue[0].pk, customer_name="B", server_id="server-4").reservation
    frozen_clock.advance(1.0)
    c = reservation_create(seat_id=venue[0].pk, customer_name="C", server_id="server-2").reservation
    [conflict] = conflict_list()
    assert reasons(conflict)[a.pk] is None
    assert reasons(conflict)[b.pk].endswith(
        f"could not see #{a.pk}, stamped 10:30:00.000 by server-1 (offset +0.000 s): 7.000 s in its future"
    )
    assert reasons(conflict)[c.pk] == (
        f"server-2 read its clock at 10:29:32.000 (offset -30.000 s) and could not see "
        f"#{a.pk}, stamped 10:30:00.000 by server-1 (offset +0.000 s): 28.000 s in its future; "
        f"#{b.pk}, stamped 10:29:53.000 by server-4 (offset -8.000 s): 21.000 s in its future"
    )
    assert [line.split(":")[0] for line in shapes.conflict_explanation(conflict)] == [f"#{b.pk}", f"#{c.pk}"]


def test_in_sync_every_node_refuses_so_there_is_nothing_to_explain(api, venue, frozen_clock):
    statuses = []
    for i in range(25):
        frozen_clock.advance(0.001)
        statuses.append(reserve(api, venue[i % 3].pk, f"Customer {i}", f"server-{i % 5 + 1}").status_code)
    assert statuses.count(201) == 3 and statuses.count(409) == 22
    body = api.get("/api/reservations/conflicts").json()
    assert body == {"conflicts": [], "total_conflicts": 0}


def test_a_double_booking_the_clocks_do_not_explain_is_not_blamed_on_them(venue, frozen_clock):
    """Rows written around the rule (here directly): the reason says skew does not explain it."""
    seat = venue[0]
    node = "server-1"
    first = Reservation.objects.create(
        seat=seat, node_id=node, customer_name="A", created_at=frozen_clock.now, recorded_at=frozen_clock.now
    )
    later = frozen_clock.advance(1.0)
    second = Reservation.objects.create(seat=seat, node_id=node, customer_name="B", created_at=later, recorded_at=later)
    [conflict] = conflict_list()
    assert reasons(conflict)[second.pk] == (
        f"server-1 read its clock at 10:30:01.000 (offset +0.000 s); #{first.pk} was stamped at or before its "
        "clock, so it could see it: this double booking is not explained by clock skew"
    )


def test_reasons_follow_accept_language(api, venue, frozen_clock):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    jean = reserve(api, venue[0].pk, "Jean Dupont", "server-1").json()
    frozen_clock.advance(0.2)
    reserve(api, venue[0].pk, "Marie Martin", "server-2")
    [conflict] = api.get("/api/reservations/conflicts", HTTP_ACCEPT_LANGUAGE="fr").json()["conflicts"]
    assert conflict["reservations"][0]["reason"] == (
        f"server-2 a lu son horloge à 10:29:50.200 (décalage -10.000 s) et ne pouvait pas voir #{jean['id']}, "
        "horodatée 10:30:00.000 par server-1 (décalage +0.000 s) : 9.800 s dans son futur"
    )
