"""Shared fixtures: an API client, a venue, and a replaceable reference clock."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from timesync import clock

T0 = datetime(2026, 6, 28, 10, 30, 0, tzinfo=UTC)


def pytest_sessionstart(session):
    """Under CI=true the suite must run on PostgreSQL: a missing server is a failure, not a skip.

    The processes the tests start get Ctrl-C as from a terminal: a suite launched in the
    background of a non-interactive shell (``cmd &``) inherits SIGINT *ignored*, and so would
    every server it starts, whose Ctrl-C tests (``ops/tests/test_shutdown.py``) would then fail
    for a reason of the launcher's.  A handled signal is reset to its default across ``exec``."""
    if os.environ.get("CI") == "true" and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("CI=true but DATABASE_URL does not point at PostgreSQL")
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def frozen_clock():
    """The reference clock stopped at T0; ``frozen_clock.advance(s)`` moves it."""
    fake = clock.FrozenClock(T0)
    with clock.use_reference_clock(fake):
        yield fake


@pytest.fixture
def venue(db):
    """The default venue: 10 rows (A-J) × 10 seats."""
    from seats.services import venue_seed

    venue_seed(rows=10, seats_per_row=10)
    from seats.models import Seat

    return list(Seat.objects.order_by("row", "number"))


@pytest.fixture
def manage(capsys, monkeypatch):
    """``manage(*argv)`` runs ``manage.py *argv`` in this process the way the shell does (the
    command's ``run_from_argv``: argparse errors, ``CommandError`` → stderr and an exit status)
    and returns ``(status, stdout, stderr)``.  Not ``ManagementUtility.execute``: its
    ``django.setup()`` would bind the LOGGING handlers to this test's captured stderr.  The
    database connection stays open: the command's final ``connections.close_all()`` would break
    the test's transaction."""
    from django.core.management import ManagementUtility
    from django.db import connections

    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        command = ManagementUtility(["manage.py", *argv]).fetch_command(argv[0])
        try:
            command.run_from_argv(["manage.py", *argv])
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return status, out, err

    return run
