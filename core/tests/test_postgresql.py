"""The health check of a reused PostgreSQL connection (``core.postgresql.DatabaseWrapper.is_usable``):
no ``SELECT 1`` for a connection that answered just now and has nothing to read, and still a
new connection when the server ended the session in the meantime.

Each test opens its own connection of the ``default`` alias (``connections.create_connection``,
what Django makes per thread) and watches its backend from the test's connection through
``pg_stat_activity`` (``query``: the last statement the backend ran)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections

from core import postgresql
from core.postgresql.base import DatabaseWrapper
from tests.processes import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="core.postgresql is PostgreSQL's backend"),
]


@pytest.fixture
def reused() -> Iterator[DatabaseWrapper]:
    """A connection as a server's thread keeps it between requests (health checks on)."""
    wrapper = connections.create_connection("default")
    assert isinstance(wrapper, DatabaseWrapper)
    wrapper.ensure_connection()
    assert wrapper.health_check_enabled
    assert wrapper.settings_dict["NAME"] == connection.settings_dict["NAME"]  # the test database
    try:
        yield wrapper
    finally:
        wrapper.close()


def last_statement(pid: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row[0] if row else None


def next_request(wrapper: DatabaseWrapper) -> None:
    """What Django does before a request's first query on a kept connection."""
    wrapper.health_check_done = False
    wrapper.close_if_health_check_failed()


def run(wrapper: DatabaseWrapper, sql: str) -> object:
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_a_connection_that_just_answered_is_reused_without_select_1(reused):
    run(reused, "SELECT 'marker'")
    pid = reused.connection.info.backend_pid
    next_request(reused)
    assert reused.connection is not None and reused.connection.info.backend_pid == pid
    assert last_statement(pid) == "SELECT 'marker'"  # nothing was sent


def test_a_connection_idle_for_longer_is_checked_with_select_1(reused, monkeypatch):
    run(reused, "SELECT 'marker'")
    pid = reused.connection.info.backend_pid
    monkeypatch.setattr(postgresql.base, "HEALTH_CHECK_IDLE", 0.05)
    time.sleep(0.1)
    next_request(reused)
    assert reused.connection.info.backend_pid == pid  # usable: kept
    assert last_statement(pid) == "SELECT 1"


def test_a_session_the_server_ended_is_replaced_before_the_next_query(reused):
    """The server ends the session (what a restart does to every session): it sends its FATAL
    error and closes, the socket turns readable, and the next request opens a new connection
    rather than failing its first query."""
    run(reused, "SELECT 'marker'")
    pid = reused.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for("the backend gone", lambda: last_statement(pid) is None, timeout=10, interval=0.02)
    next_request(reused)
    assert run(reused, "SELECT pg_backend_pid()") != pid


def test_a_connection_inside_a_transaction_is_asked(reused):
    """Not idle (a transaction left open): ``SELECT 1``, as Django's check does, whatever the socket."""
    reused.connection.execute("BEGIN")
    pid = reused.connection.info.backend_pid
    assert reused.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    next_request(reused)
    assert last_statement(pid) == "SELECT 1"
