"""What ``manage.py experiment`` prints: its own report and a legend, nothing from the libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.servers import BASE_DIR, manage, server_env

SMALL_ARGS = ["--rate", "3", "--duration", "15", "--seats", "25", "--think", "6", "--no-progress"]


@pytest.mark.slow
def test_command_output_has_no_library_log_lines(tmp_path):
    """A fresh matplotlib (no font cache yet) logs an INFO line while building one: it must not
    reach the output of ``manage.py experiment`` (libraries log warnings only; Seatclock's own
    loggers keep SEATCLOCK_LOG_LEVEL).  The real command, with the shipped settings."""
    env = server_env(SEATCLOCK_DATA_DIR=str(tmp_path / "data"), MPLCONFIGDIR=str(tmp_path / "mpl"))
    env.pop("SEATCLOCK_LOG_LEVEL")  # the default level, INFO, as a user runs it
    manage(env, "migrate", "--noinput")
    args = [*SMALL_ARGS, "--modes", "naive", "--scenarios", "major_drift", "--skews", "0,10", "--seeds", "1-3"]
    done = subprocess.run(
        [sys.executable, "manage.py", "experiment", *args, "--out", str(tmp_path / "out")],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mpl").is_dir()  # matplotlib really started from an empty cache
    assert "Wrote trials.csv, summary.csv, report.json" in done.stdout
    assert "Stolen-hold rate  holds whose seat went to another customer" in done.stdout  # the columns explained
    assert " INFO " not in done.stdout + done.stderr
