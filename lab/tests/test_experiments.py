"""The conflict-rate experiment: what each mode guarantees, measured through the engine on small
virtual-time runs; determinism; isolation from the user's data; the command's errors."""

from __future__ import annotations

import asyncio
import json
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command, load_command_class
from django.db import connection

from core import events
from core.permissions import Audience
from lab.experiments import (
    ExperimentConfig,
    ExperimentInputError,
    Workload,
    experiment_run,
    workload_draw,
)
from reservations.models import Reservation
from reservations.services import reservation_create
from seats.models import Seat
from simulation.models import Scenario, ScenarioOffset
from tests.sentinel import publish_sentinel, sentinel_message
from timesync.models import ServerNode
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db

# ~45 customers on 25 seats in 15 virtual seconds: most attempts contend, a trial is ~60 attempts.
SMALL = Workload(rate=3, duration=15, seats=25, think=6)
# A flash sale: 100 customers in 5 s, 1 s to decide — contention within fractions of a second.
FLASH = Workload(rate=20, duration=5, seats=30, think=1)


def run(workload: Workload = SMALL, *, seed: int = 7, modes=("naive",), scenarios=(), skews=(), **kw):
    config = ExperimentConfig(workload=workload, seed=seed, modes=modes, scenarios=scenarios, skews=skews, **kw)
    return {(r.trial.label, r.trial.skew, r.trial.mode): r for r in experiment_run(config).results}


def test_serializable_never_double_books_in_any_stored_scenario():
    results = run(modes=("serializable",), scenarios=None)
    assert sorted(label for label, _, _ in results) == ["extreme_drift", "major_drift", "minor_drift"]
    for result in results.values():
        assert result.conflicts == 0 == result.double_booked_seats == result.unfair
        assert result.refused_fenced == 0
        # Not vacuous: customers did race for the same seats.
        assert result.refused_seen > 0
        assert result.accepted == result.seats_sold > 0


def test_naive_under_extreme_drift_double_books_and_every_conflict_is_unfair():
    result = run(scenarios=("extreme_drift",))[("extreme_drift", None, "naive")]
    assert result.conflicts > 0
    assert result.unfair > 0
    # DESIGN §2: a node only misses reservations stamped in its future, so the later writer always
    # holds the earlier stamp: every conflict is unfair by construction.
    assert result.unfair == result.conflicts
    assert 0 < result.double_booked_seats <= result.conflicts
    assert result.conflict_rate == result.conflicts / result.accepted


def test_bounded_sees_through_lags_within_the_bound():
    results = run(FLASH, modes=("naive", "bounded"), skews=(0.1, 0.2))
    for lag in (0.1, 0.2):
        # The same customers double-book under naive...
        assert results[("server-2", lag, "naive")].conflicts > 0
        # ...and not under bounded, which fences nobody at these lags (limit 0.5 × 0.5 s).
        bounded = results[("server-2", lag, "bounded")]
        assert bounded.conflicts == 0 == bounded.double_booked_seats
        assert bounded.refused_fenced == 0
        assert bounded.accepted > 0


def test_bounded_fences_the_lagging_node_beyond_the_bound():
    results = run(FLASH, modes=("naive", "bounded"), skews=(0.5, 30.0))
    assert results[("server-2", 30.0, "naive")].conflicts > 0
    for lag in (0.5, 30.0):
        bounded = results[("server-2", lag, "bounded")]
        assert bounded.conflicts == 0
        assert bounded.refused_fenced > 0
        assert bounded.refused_rate > 0
        assert bounded.accepted > 0  # the other nodes still sell


def test_with_clocks_in_sync_the_three_modes_agree_exactly():
    # Every trial replays the same customers: without skew the modes cannot differ.
    results = run(modes=("naive", "bounded", "serializable"), skews=(0.0,))
    counts = {
        mode: (r.attempts, r.accepted, r.refused_seen, r.refused_fenced, r.conflicts, r.gave_up, r.sold_out)
        for (_, _, mode), r in results.items()
    }
    assert counts["naive"] == counts["bounded"] == counts["serializable"]
    assert counts["naive"][4] == 0


def test_a_stored_scenario_drift_is_applied_in_virtual_time():
    # server-3 gains 0.1 s per virtual second: bounded fences it once it is 0.4 s ahead (4 s in).
    server_3 = ServerNode.objects.get(pk="server-3")
    ScenarioOffset.objects.create(scenario=Scenario.objects.create(name="drifting"), node=server_3, drift_ppm=100_000)
    ScenarioOffset.objects.create(scenario=Scenario.objects.create(name="steady"), node=server_3, drift_ppm=0)
    results = run(modes=("bounded",), scenarios=("drifting", "steady"))
    assert results[("drifting", None, "bounded")].refused_fenced > 0
    assert results[("steady", None, "bounded")].refused_fenced == 0


def test_workload_is_a_function_of_the_seed():
    nodes = ["server-1", "server-2", "server-3"]
    a = workload_draw(SMALL, seed=1, nodes=nodes)
    assert a == workload_draw(SMALL, seed=1, nodes=nodes)
    assert a != workload_draw(SMALL, seed=2, nodes=nodes)
    arrivals = [c.arrival_us for c in a]
    assert arrivals == sorted(arrivals)
    assert 0 < arrivals[-1] < SMALL.duration * 1_000_000
    for customer in a:
        assert len(customer.choices) == len(customer.nodes) == len(customer.thinks_us) == SMALL.retries + 1
        assert set(customer.nodes) <= set(nodes)
        assert all(0 <= seat < SMALL.seats for choice in customer.choices for seat in choice.candidates)


def test_popular_seats_draw_most_first_choices():
    customers = workload_draw(Workload(rate=50, duration=20, seats=50), seed=3, nodes=["server-1"])
    firsts = [c.choices[0].candidates[0] for c in customers]
    top = max(set(firsts), key=firsts.count)
    # With weights 1/k**1.1 the favourite seat gets ~22 % of first picks; uniform would be 2 %.
    assert firsts.count(top) > 0.1 * len(firsts)


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"rate": -1}, {"duration": 0}, {"seats": 0}, {"retries": -1}, {"think": -2}],
)
def test_workload_rejects_unusable_parameters(kwargs):
    with pytest.raises(ExperimentInputError):
        Workload(**kwargs)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_experiment_leaves_the_users_data_and_live_subscribers_alone(settings, venue):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    for topic in ("reservations", "conflicts", "time_sync"):
        async_to_sync(layer.group_add)(events.group_name(topic, Audience.STAFF), channel)

    def received() -> list[dict]:
        """Every message the probe got, up to a sentinel published now (no waiting for silence)."""
        marker = publish_sentinel("time_sync")

        async def drain() -> list[dict]:
            messages = []
            while (message := await asyncio.wait_for(layer.receive(channel), 5))["message"] != sentinel_message(marker):
                messages.append(message)
            return messages

        return async_to_sync(drain)()

    node_offset_set(server_id="server-4", offset_seconds=2.5)
    live = reservation_create(seat_id=venue[0].pk, customer_name="Live customer", server_id="server-1")
    assert len(received()) >= 2  # the probe hears the live writes above
    seats_before = list(Seat.objects.values_list("pk", "row", "number"))
    nodes_before = list(ServerNode.objects.values_list("pk", "offset_seconds", "drift_ppm", "offset_since"))

    results = run(modes=("naive", "bounded"), scenarios=("extreme_drift",))
    assert results[("extreme_drift", None, "naive")].accepted > 0

    assert list(Reservation.objects.values_list("pk", flat=True)) == [live.reservation.pk]
    assert list(Seat.objects.values_list("pk", "row", "number")) == seats_before
    assert list(ServerNode.objects.values_list("pk", "offset_seconds", "drift_ppm", "offset_since")) == nodes_before
    assert received() == []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 't'")
            assert cursor.fetchone()[0] == 0  # the private tables are gone
    # And the live system still publishes.
    reservation_create(seat_id=venue[1].pk, customer_name="Another", server_id="server-2")
    assert any(m["message"]["type"] == "reservation_created" for m in received())


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_on_postgresql_the_database_store_and_the_memory_store_agree():
    database = run(modes=("naive", "bounded"), scenarios=("major_drift",), skews=(30.0,), store="database")
    memory = run(modes=("naive", "bounded"), scenarios=("major_drift",), skews=(30.0,), store="memory")
    assert {k: vars(r) for k, r in database.items()} == {k: vars(r) for k, r in memory.items()}
    assert database[("major_drift", None, "naive")].conflicts > 0


# --- The command --------------------------------------------------------------------------------

SMALL_ARGS = ["--rate", "3", "--duration", "15", "--seats", "25", "--think", "6", "--no-progress"]


def experiment(out: Path, *args: str) -> str:
    stdout = StringIO()
    call_command("experiment", *SMALL_ARGS, "--out", str(out), *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def test_same_seed_same_csv_bytes_other_seed_other_csv(tmp_path):
    args = ("--modes", "naive", "--scenarios", "extreme_drift", "--skews", "30", "--no-plot")
    experiment(tmp_path / "a", "--seed", "11", *args)
    experiment(tmp_path / "b", "--seed", "11", *args)
    experiment(tmp_path / "c", "--seed", "12", *args)
    a, b, c = ((tmp_path / d / "report.csv").read_bytes() for d in "abc")
    assert a == b
    assert a != c
    assert a.count(b"\n") == 1 + 2  # header, extreme_drift, lag 30 s
    meta = json.loads((tmp_path / "a" / "report.json").read_text())
    assert meta["seed"] == 11
    assert meta["parameters"]["rate"] == 3.0
    assert meta["attempts"] > 0 and meta["wall_seconds"] > 0 and meta["attempts_per_second"] > 0
    assert meta["files"]["plot"] is None
    assert "--seed 11" in meta["command"]


def test_command_writes_csv_json_and_plot_and_prints_the_rates(tmp_path):
    out = experiment(tmp_path, "--seed", "5", "--modes", "naive", "--scenarios", "major_drift", "--skews", "0,10")
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads((tmp_path / "report.json").read_text())["files"]["plot"] == "report.png"
    header, *rows = (tmp_path / "report.csv").read_text().splitlines()
    assert header.startswith("sweep,scenario,skew_node,skew_seconds,mode,customers,attempts,accepted")
    assert [r.split(",")[:5] for r in rows] == [
        ["scenario", "major_drift", "", "", "naive"],
        ["skew", "", "server-2", "0.000", "naive"],
        ["skew", "", "server-2", "10.000", "naive"],
    ]
    assert "major_drift" in out and "server-2 lag 10 s" in out and "attempts/s" in out


def run_from_argv(*argv: str) -> int:
    command = load_command_class("lab", "experiment")
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "experiment", *argv])
    return exited.value.code


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rate", "-1"], "rate must be a positive number"),
        (["--duration", "0"], "duration must be a positive number"),
        (["--seats", "0"], "seats must be between 1 and 10000"),
        (["--seats", "20000"], "seats must be between 1 and 10000"),
        (["--modes", "naive,eventual"], "unknown mode(s): eventual"),
        (["--scenarios", "no_such_scenario"], "unknown scenario(s): no_such_scenario"),
        (["--skew-node", "server-99"], "unknown skew node 'server-99'"),
        (["--skews", "-1"], "skews are lags between 0 and"),
        (["--skews", "one,two"], "--skews must be comma-separated numbers"),
        (["--rate", "fast"], "invalid number value: 'fast'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys, args, message):
    assert run_from_argv("--quick", "--out", str(tmp_path), *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.skipif("connection.vendor == 'postgresql'")
def test_database_store_is_refused_on_sqlite(tmp_path, capsys):
    assert run_from_argv("--quick", "--out", str(tmp_path), "--store", "database") == 2
    assert "needs PostgreSQL" in capsys.readouterr().err
