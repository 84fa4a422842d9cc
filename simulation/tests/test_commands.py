"""Clock-control commands: each one's effect, its errors, and exit code 2 on bad input."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from timesync.models import ServerNode

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_from_argv(*argv) -> int:
    """Run a command as ``manage.py`` would; return its exit status."""
    command = load_command_class("simulation", argv[0])
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", *argv])
    return exited.value.code


def offsets() -> dict[str, tuple[float, float]]:
    return {n.server_id: (n.offset_seconds, n.drift_ppm) for n in ServerNode.objects.all()}


def test_set_offset_sets_offset_and_drift():
    out = run("set_offset", "server-2", "-10", "--drift-ppm", "50")
    node = ServerNode.objects.get(pk="server-2")
    assert (node.offset_seconds, node.drift_ppm, node.ntp_synced) == (-10.0, 50.0, False)
    assert "server-2" in out


def test_set_offset_negative_value_is_not_an_option():
    run("set_offset", "server-3", "-2.5")
    assert offsets()["server-3"] == (-2.5, 0.0)


def test_set_offset_unknown_server_exits_2():
    with pytest.raises(CommandError) as raised:
        run("set_offset", "server-99", "1")
    assert raised.value.returncode == 2
    assert str(raised.value) == (
        "Unknown server id: server-99. Valid names: server-1, server-2, server-3, server-4, server-5. "
        "[INVALID_SERVER_ID]"
    )


def test_set_offset_out_of_range_exits_2():
    with pytest.raises(CommandError) as raised:
        run("set_offset", "server-1", "1e9")
    assert raised.value.returncode == 2
    # Sentences naming the command's own argument, not a dict of the service's fields.
    assert str(raised.value) == (
        "Invalid input. SECONDS: Must be a finite number of seconds within ±86400. [VALIDATION_ERROR]"
    )
    assert offsets()["server-1"] == (0.0, 0.0)


@pytest.mark.parametrize(
    "argv",
    [
        ("set_offset", "server-1"),  # missing SECONDS
        ("set_offset", "server-1", "soon"),  # not a number
        ("set_offset", "server-99", "3"),  # unknown server
        ("remove_offset",),
        ("remove_offset", "nope"),
        ("apply_scenario", "no_such_scenario"),
        ("apply_scenario",),
    ],
)
def test_bad_arguments_exit_with_status_2(argv, capsys):
    assert run_from_argv(*argv) == 2
    assert capsys.readouterr().err.strip()


def test_remove_offset():
    run("set_offset", "server-2", "4")
    run("remove_offset", "server-2")
    node = ServerNode.objects.get(pk="server-2")
    assert (node.offset_seconds, node.drift_ppm, node.ntp_synced) == (0.0, 0.0, True)


def test_clear_offsets():
    run("set_offset", "server-2", "4")
    run("set_offset", "server-3", "-4", "--drift-ppm", "10")
    out = run("clear_offsets")
    assert set(offsets().values()) == {(0.0, 0.0)}
    assert "cleared" in out


def test_apply_scenario():
    out = run("apply_scenario", "extreme_drift")
    assert {k: v[0] for k, v in offsets().items()} == {
        "server-1": 0.0,
        "server-2": -30.0,
        "server-3": 15.0,
        "server-4": -8.0,
        "server-5": 12.0,
    }
    assert "extreme_drift" in out


def test_apply_scenario_unknown_exits_2_and_changes_nothing():
    run("set_offset", "server-2", "4")
    with pytest.raises(CommandError) as raised:
        run("apply_scenario", "nope")
    assert raised.value.returncode == 2
    assert str(raised.value) == (
        "Unknown scenario: nope. Valid names: minor_drift, major_drift, extreme_drift. [SCENARIO_NOT_FOUND]"
    )
    assert offsets()["server-2"] == (4.0, 0.0)


def test_list_scenarios():
    out = run("list_scenarios")
    for name in ("minor_drift", "major_drift", "extreme_drift"):
        assert name in out
    assert "-10.000000 s" in out  # offsets to the microsecond


def test_commands_print_instants_as_the_api_does_and_offsets_to_the_microsecond(frozen_clock, api):
    """show_clocks and set_offset write an instant as core.timefmt.iso_utc does (µs, Z), the
    string GET /api/time/servers gives; offsets are rounded to the microsecond."""
    out = run("set_offset", "server-2", "-0.1234564")
    assert out.strip() == "server-2: offset -0.123456 s; its clock reads 2026-06-28T10:29:59.876544Z."
    servers = {s["server_id"]: s for s in api.get("/api/time/servers").json()["servers"]}
    assert servers["server-2"]["current_time"] == "2026-06-28T10:29:59.876544Z"
    clocks = run("show_clocks")
    assert "True time: 2026-06-28T10:30:00Z" in clocks
    (row,) = [line for line in clocks.splitlines() if line.startswith("server-2 ")]
    assert row.split()[1:3] == ["2026-06-28T10:29:59.876544Z", "-0.123456"]
    assert "+00:00" not in out + clocks
    applied = run("apply_scenario", "major_drift")
    assert "server-2         -10.000000 s" in applied


def test_show_clocks_lists_every_node_with_its_offset(frozen_clock):
    run("set_offset", "server-2", "-10", "--drift-ppm", "25")
    out = run("show_clocks")
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.startswith("server-")}
    assert set(lines) == {f"server-{i}" for i in range(1, 6)}
    assert "2026-06-28T10:29:50Z" in lines["server-2"]  # core.timefmt.iso_utc, as the API writes it
    assert "-10.000000" in lines["server-2"]
    assert "+25" in lines["server-2"]
    assert " no " in lines["server-2"]
    assert " yes " in lines["server-1"]
    # Every column header is explained under the table.
    legend = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert {"NODE", "OFFSET", "DRIFT", "SYNCED", "LAST"} <= legend


@pytest.mark.parametrize(
    "name", ["apply_scenario", "set_offset", "remove_offset", "clear_offsets", "list_scenarios", "show_clocks"]
)
def test_help(name, capsys):
    assert run_from_argv(name, "--help") == 0
    assert "usage:" in capsys.readouterr().out
