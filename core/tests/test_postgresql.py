"""``core.postgresql``: the health check of a persistent connection, skipped while it is busy."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from core.postgresql import base

# Real connections, one of them terminated: no test transaction around it.
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's backend"),
]


def _request(checks: list[int]) -> int:
    """What Django does around one request using the database: the connection kept (as with
    CONN_MAX_AGE), its per-request flags reset, one query; the health checks it cost."""
    before = len(checks)
    connection.close_at = None  # persistent, as serve.sh runs it
    connection.close_if_unusable_or_obsolete()  # request_started
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 42")
            assert cursor.fetchone() == (42,)
    finally:
        connection.close_at = None
        connection.close_if_unusable_or_obsolete()  # request_finished, after an error too
    return len(checks) - before


def test_a_busy_connection_is_not_checked_an_idle_one_is(monkeypatch):
    assert connection.health_check_enabled
    checks: list[int] = []
    original = base.DatabaseWrapper.is_usable

    def counting(self):
        checks.append(1)
        return original(self)

    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", counting)
    connection.ensure_connection()
    connection._health_seen = -1e9  # idle for ages
    assert _request(checks) == 1
    assert [_request(checks) for _ in range(5)] == [0] * 5  # back to back: no SELECT 1
    connection._health_seen -= base.HEALTH_CHECK_IDLE  # idle for the threshold
    assert _request(checks) == 1


def test_a_connection_cut_while_busy_fails_one_request_then_reconnects():
    connection.ensure_connection()
    _request([])
    pid = connection.connection.info.backend_pid
    # Another session cuts this connection (a database restart, an administrator).
    other = connection.copy("other")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    with pytest.raises(OperationalError):
        _request([])  # the check was skipped (busy): the request's own query finds the cut
    assert connection.connection is None  # closed when that request ended
    assert _request([]) == 0  # the next request connects anew
    assert connection.connection.info.backend_pid != pid
