"""The load generator: its report must agree with what the database holds afterwards."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from lab import loadgen
from reservations.models import Reservation
from timesync.services import node_offset_set, node_offsets_clear


def simulate(*args: str) -> dict:
    out = StringIO()
    call_command("simulate", *args, "--json", "--no-progress", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def seats_with_several_active() -> int:
    return (
        Reservation.objects.filter(status=Reservation.Status.ACTIVE)
        .values("seat")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_report_agrees_with_database_under_drift(venue, frozen_clock):
    # A frozen reference clock and server-2 lagging 10 s: whenever server-2 comes after another
    # node on a seat it double-books it; whatever the thread interleaving, the report must
    # describe exactly the rows the run left.
    report = simulate("--count", "60", "--seats", "4", "--concurrency", "4", "--seed", "7", "--scenario", "major_drift")
    assert report["attempts"] == 60
    assert report["accepted"] + report["rejected_409"] + report["errors"] == 60
    assert report["errors"] == 0
    assert report["accepted"] == Reservation.objects.count()
    assert report["accepted_in_conflict"] == Reservation.objects.filter(conflict_detected=True).count()
    assert report["conflicts"] == seats_with_several_active()
    assert sum(report["conflicts_per_node_pair"].values()) >= report["conflicts"]
    assert report["target_seats"] == 4
    assert Reservation.objects.values("seat").distinct().count() <= 4
    # The checker's verdict on the run's own operations: every attempt and the scenario's clocks.
    history = report["history"]
    assert history["operations"] == 60 + 5
    assert history["valid"] is (report["conflicts"] == 0)
    assert history["counts"]["double_sale"] >= report["conflicts"] > 0
    # Every attempt at the same (frozen) instant: no sale completed before another was asked,
    # so the checker claims no real-time inversion it cannot prove.
    assert history["counts"]["real_time_inversion"] == 0
    assert history["summary"].startswith("INVALID")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_reports_only_its_own_conflicts_and_operations(venue, frozen_clock):
    first = simulate("--count", "60", "--seats", "4", "--concurrency", "4", "--seed", "7", "--scenario", "major_drift")
    assert first["conflicts"] > 0
    node_offsets_clear()
    # A second run, in sync: the first run's double bookings are still in the database, not its own.
    second = simulate("--count", "30", "--seats", "3", "--concurrency", "3", "--seed", "8")
    assert seats_with_several_active() == first["conflicts"] > 0
    assert second["conflicts"] == 0
    assert second["history"]["run"] != first["history"]["run"]
    assert second["history"]["operations"] == 30
    assert second["history"]["valid"] is True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_nodes_in_sync_never_double_book(venue):
    report = simulate("--count", "80", "--seats", "3", "--concurrency", "6", "--seed", "1")
    assert report["conflicts"] == 0 == seats_with_several_active()
    assert report["history"]["valid"] is True and report["history"]["operations"] == 80
    assert report["accepted"] == Reservation.objects.count() <= 3
    assert report["rejected_409"] == 80 - report["accepted"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_nodes_option_limits_the_nodes_used(venue):
    report = simulate("--count", "20", "--seats", "10", "--concurrency", "2", "--nodes", "server-3,server-4")
    assert set(Reservation.objects.values_list("node_id", flat=True)) <= {"server-3", "server-4"}
    assert report["nodes"] == ["server-3", "server-4"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_text_report(venue):
    out = StringIO()
    call_command("simulate", "--count", "5", "--concurrency", "1", "--no-progress", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "Attempts:          5" in text
    assert "Latency (ms)" in text
    assert "History (run simulate-" in text and ": valid (5 operations on" in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [("--nodes", "server-1,server-99"), ("--scenario", "no_such_scenario")],
)
def test_bad_options_exit_2(venue, args):
    with pytest.raises(CommandError) as raised:
        simulate("--count", "1", *args)
    assert raised.value.returncode == 2
    assert Reservation.objects.count() == 0


@pytest.mark.django_db
def test_empty_venue_exits_2():
    with pytest.raises(CommandError) as raised:
        simulate("--count", "1")
    assert raised.value.returncode == 2
    assert "seed_venue" in str(raised.value)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_over_http_against_a_live_server(venue, live_server):
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    report = simulate("--url", live_server.url, "--count", "12", "--seats", "3", "--concurrency", "2")
    assert report["mode"].startswith("http")
    assert report["attempts"] == 12
    assert report["errors"] == 0, report["error_samples"]
    assert report["accepted"] == Reservation.objects.count()
    assert report["conflicts"] == seats_with_several_active()
    # The server tagged the run's operations (X-Seatclock-Run); the verdict came over /api/history.
    assert report["history"]["operations"] == 12
    assert report["history"]["valid"] is (report["conflicts"] == 0)


def test_zipf_weights_favour_the_first_seats():
    weights = loadgen.zipf_weights(5)
    assert weights == sorted(weights, reverse=True)
    assert weights[0] == 1.0
    assert weights[1] == pytest.approx(2**-1.1)


def test_same_seed_same_plan():
    config = loadgen.LoadConfig(seats=5, seed=42)
    a = loadgen.Plan(config, list(range(1, 101)), ["server-1", "server-2"])
    b = loadgen.Plan(config, list(range(1, 101)), ["server-1", "server-2"])
    assert [a.next() for _ in range(50)] == [b.next() for _ in range(50)]


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 50) == 50.0
    assert loadgen.percentile(values, 99) == 99.0
    assert loadgen.percentile([], 50) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (("--count", "5", "--url", "notaurl"), "argument --url: must be an http:// or https:// URL with a host"),
        (("--url", "ftp://127.0.0.1"), "argument --url: must be an http:// or https:// URL"),
        (("--url", "http://127.0.0.1:99999"), "argument --url: must be an http:// or https:// URL"),
        (("--count", "1e20"), "argument --count: must be an integer from 1 to 1000000, not '1e20'"),
        (("--count", "100000000000000000000"), "argument --count: must be an integer from 1 to 1000000"),
        (("--count", "0"), "argument --count: must be an integer from 1 to 1000000, not '0'"),
        (("--concurrency", "100000"), "argument --concurrency: must be an integer from 1 to 256, not '100000'"),
        (("--customers", "-5"), "argument --customers: must be an integer from 1 to 1000000"),
        (("--duration", "inf"), "argument --duration: must be a number above 0 and at most 3600, not 'inf'"),
        (("--token", "a\nb", "--url", "http://127.0.0.1:9"), "argument --token: must be printable ASCII"),
    ],
)
def test_bad_values_exit_2_with_one_sentence_before_any_load(venue, manage, args, message):
    status, out, err = manage("simulate", "--no-progress", *args)
    assert status == 2
    assert message in err and "Traceback" not in err
    assert out == "" and Reservation.objects.count() == 0
