"""Django's PostgreSQL backend, plus what a hung database needs on the client side.

PostgreSQL enforces ``statement_timeout`` and ``lock_timeout`` itself (set per connection in
settings, sent once when the connection opens).  A server that stops answering altogether (a
frozen host, a SIGSTOPped postmaster) enforces nothing: its kernel still acknowledges every
packet, so neither libpq's ``connect_timeout`` on an open connection nor TCP keepalives fire,
and a request waits until the web server kills its worker.  Two additions bound that:

- **a deadline on every wait for the server** (:class:`DeadlineConnection`): psycopg waits for
  each result with an optional timeout; here it is ``SEATCLOCK_DB_STATEMENT_TIMEOUT`` + 1 s
  (the server's own timeout fires first whenever the server is alive), and the connection
  health check that Django runs before reusing a persistent connection gets the connect
  timeout.  A missed deadline closes the connection and raises ``OperationalError``, which
  the API answers with 503 ``SERVICE_UNAVAILABLE`` (:func:`core.errors.database_unavailable`).
- **a backoff on reconnect** (:class:`ConnectBackoff`): after a failed connection attempt, the
  process does not try again for 0.5 s, then 1, 2, 4, 5 s (reset by a success).  Meanwhile a
  request that needs the database fails at once with ``OperationalError`` (503) instead of
  spending the connect timeout of its own, so a database outage never ties up every worker.

Both cost nothing per request: the deadline is an argument of the wait psycopg performs anyway.

Django's health check of a persistent connection (``CONN_HEALTH_CHECKS``, before the first
query of each request) is a ``SELECT 1`` round trip — 5 % of a reservation's CPU, and a query
for PostgreSQL.  :meth:`DatabaseWrapper.is_usable` skips it for a connection that answered
within the last :data:`HEALTH_CHECK_IDLE` seconds and has nothing to read: an idle PostgreSQL
session sends nothing unless it ends (a server stopping or restarting sends its FATAL error and
closes, and the socket becomes readable), so a busy server's connections are checked by a
``poll()`` of their socket, and the ``SELECT 1`` stays for any other case.  What the poll cannot
see is a server gone without closing (its host lost): the request's first query then waits for
the statement deadline rather than the connect timeout, and is answered 503 all the same.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Generator
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base

#: Extra time the client gives a live server to report its own statement timeout.
DEADLINE_MARGIN = 1.0

#: Seconds after its last answer during which a connection with nothing to read is reused
#: without a ``SELECT 1`` (:meth:`DatabaseWrapper.is_usable`).
HEALTH_CHECK_IDLE = 1.0

_WaitTimeout: type[Exception] = getattr(psycopg.errors, "_WaitTimeout", psycopg.errors.OperationalError)


def statement_deadline() -> float | None:
    """Seconds the client waits for any one answer of the server (``None``: no deadline)."""
    seconds = float(settings.SEATCLOCK_DB_STATEMENT_TIMEOUT)
    return seconds + DEADLINE_MARGIN if seconds > 0 else None


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends after ``deadline`` seconds.

    Raises ``psycopg.OperationalError`` (connection closed) when the server does not answer in
    time.  Used for queries, commits, rollbacks and health checks alike (they all wait here).
    """

    deadline: float | None = None
    #: ``time.monotonic()`` of the server's last answer (0: none yet).
    answered_at: float = 0.0

    def wait(self, gen: Generator[Any, Any, Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self.deadline if timeout is None else timeout
        try:
            result = super().wait(gen, interval=interval, timeout=limit)
        except _WaitTimeout:
            self.close()  # a result may still be pending: this connection is done
            raise psycopg.OperationalError(f"the database did not answer within {limit:g} s") from None
        self.answered_at = time.monotonic()
        return result

    def quietly_alive(self) -> bool:
        """Whether this connection is open, idle (no transaction), answered within the last
        :data:`HEALTH_CHECK_IDLE` seconds, and has nothing to read (the server sent nothing since:
        a server that ends the session sends an error, then closes).  ``False`` means "ask the
        server", not "dead"."""
        if self.closed or self.broken or time.monotonic() - self.answered_at > HEALTH_CHECK_IDLE:
            return False
        if self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return False
        poller = select.poll()  # not select.select: a descriptor may be above FD_SETSIZE
        poller.register(self.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)


class ConnectBackoff:
    """Fail fast for a while after a failed connection attempt, per database (thread-safe).

    Delays: 0.5 s, doubling, at most :attr:`MAXIMUM` seconds; a successful connection resets it.
    """

    INITIAL = 0.5
    MAXIMUM = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[tuple[Any, ...], tuple[float, float]] = {}  # key -> (retry at, last delay)

    def check(self, key: tuple[Any, ...]) -> None:
        """Raise ``psycopg.OperationalError`` while ``key`` is backing off."""
        with self._lock:
            retry_at, _delay = self._state.get(key, (0.0, 0.0))
        remaining = retry_at - time.monotonic()
        if remaining > 0:
            raise psycopg.OperationalError(
                f"database unavailable: not reconnecting for {remaining:.1f} s after a failed attempt"
            )

    def failed(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            _retry_at, delay = self._state.get(key, (0.0, 0.0))
            delay = self.INITIAL if delay == 0 else min(self.MAXIMUM, delay * 2)
            self._state[key] = (time.monotonic() + delay, delay)

    def succeeded(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            self._state.pop(key, None)


backoff = ConnectBackoff()


class _Driver:
    """The psycopg module as Django's backend sees it, except that ``connect()`` makes a
    :class:`DeadlineConnection` (Django's backend calls ``self.Database.connect``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> DeadlineConnection:
        return DeadlineConnection.connect(*args, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    """``django.db.backends.postgresql`` with a deadline on every answer and a reconnect backoff."""

    Database = _Driver()  # type: ignore[assignment]  # psycopg, duck-typed

    def __init__(self, settings_dict: dict[str, Any], alias: str = "default") -> None:
        options = settings_dict.get("OPTIONS", {})
        if isinstance(options.get("pool"), dict):  # psycopg's pool makes connections of this class too
            pool = {**options["pool"], "connection_class": DeadlineConnection}
            settings_dict = {**settings_dict, "OPTIONS": {**options, "pool": pool}}
        super().__init__(settings_dict, alias)

    def _backoff_key(self) -> tuple[Any, ...]:
        s = self.settings_dict
        return (s.get("HOST"), s.get("PORT"), s.get("NAME"), s.get("USER"))

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        key = self._backoff_key()
        backoff.check(key)
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError:
            backoff.failed(key)
            raise
        backoff.succeeded(key)
        if isinstance(connection, DeadlineConnection):
            connection.deadline = statement_deadline()
        return connection

    def is_usable(self) -> bool:
        """Django's health check of a reused connection: true at once for a connection that is
        :meth:`DeadlineConnection.quietly_alive` (module docstring), else ``SELECT 1`` within the
        connect timeout (Django's check)."""
        connection = self.connection
        if not isinstance(connection, DeadlineConnection):
            return bool(super().is_usable())
        if connection.quietly_alive():
            return True
        previous = connection.deadline
        connection.deadline = float(settings.SEATCLOCK_DB_CONNECT_TIMEOUT)
        try:
            return bool(super().is_usable())
        finally:
            connection.deadline = previous
