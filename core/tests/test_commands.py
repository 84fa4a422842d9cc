"""core.commands: argument types that refuse junk in one sentence, and the quiet exit of
``manage.py`` when the reader of its standard output goes away (``… | head -1``)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.commands import CLOSED_STDOUT, database_id, int_in, number_in

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["1", "9223372036854775807", "42"])
def test_database_id_reads_ids(value):
    assert database_id(value) == int(value)


@pytest.mark.parametrize(
    "value", ["0", "-1", "9223372036854775808", "99999999999999999999999", "abc", "1.0", " 1", "١", ""]
)
def test_database_id_refuses_what_cannot_be_an_id(value):
    with pytest.raises(argparse.ArgumentTypeError, match="must be an id from 1 to 9223372036854775807"):
        database_id(value)


def test_int_in_bounds():
    count = int_in(1, 10)
    assert [count("1"), count("10"), count("+3")] == [1, 10, 3]
    for junk in ["0", "11", "-1", "1e2", "2.0", "x", "9" * 5000, ""]:
        with pytest.raises(argparse.ArgumentTypeError, match="must be an integer from 1 to 10"):
            count(junk)


def test_number_in_bounds():
    seconds = number_in(0, 60)
    assert [seconds("0"), seconds("60"), seconds("1.5")] == [0.0, 60.0, 1.5]
    for junk in ["-0.1", "60.5", "nan", "inf", "x", "1e400"]:
        with pytest.raises(argparse.ArgumentTypeError, match="must be a number from 0 to 60"):
            seconds(junk)
    positive = number_in(0, 60, low_open=True)
    with pytest.raises(argparse.ArgumentTypeError, match="must be a number above 0 and at most 60"):
        positive("0")


def _manage_into_closed_pipe(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``manage.py *argv`` writing into a pipe whose reader has already gone (what ``| head -1``
    does once it has its line), deterministically: the read end is closed before the start."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=BASE_DIR,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.slow
def test_a_closed_pipe_ends_every_command_quietly(tmp_path):
    """``export_history | head -1``, ``show_clocks | head -3``…: no BrokenPipeError traceback,
    nothing on stderr, status 141 (what a shell reports for a tool killed by SIGPIPE)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"SEATCLOCK_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=300)
    subprocess.run(
        [sys.executable, "manage.py", "set_offset", "server-2", "-3"], cwd=BASE_DIR, env=env, check=True, timeout=120
    )
    for command in ("export_history", "check_history", "consistency_mode", "show_clocks", "list_scenarios"):
        done = _manage_into_closed_pipe(command, env=env)
        assert (command, done.returncode, done.stderr) == (command, CLOSED_STDOUT, "")


@pytest.mark.slow
def test_a_broken_pipe_that_is_not_stdout_still_raises(tmp_path):
    """Only standard output's reader going away is quiet: a BrokenPipeError from anything else
    (a socket) keeps its traceback and status 1."""
    code = (
        "import sys; sys.argv = ['manage.py', 'version']\n"
        "from core.commands import quiet_when_stdout_closes\n"
        "with quiet_when_stdout_closes():\n"
        "    raise BrokenPipeError(32, 'Broken pipe (a socket)')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "BrokenPipeError" in done.stderr and "a socket" in done.stderr
