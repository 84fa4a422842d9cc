"""The rule's data access: what the writes that take a seat (``reservations.services``:
reserve, hold, confirm) read under the seat lock, and how they store their outcome with its
history row.  The rule itself — who sees what, who is refused (DESIGN §2, §2b, §7) — is decided
in Python, once (``services._decide``, :func:`reservations.visibility.node_view`,
``services.seat_refuse_if_taken``), from the objects this module returns; only the way they are
fetched and stored differs:

- :func:`seat_state_lock`: the seat, locked for the rest of the transaction, with the cluster's
  consistency mode, the node, the seat's active reservations and its active holds (both
  earliest stamp first, ties by id) — a :class:`SeatState` of model instances.
- :func:`row_insert`: a new reservation or hold and the operation's ``ok`` history row
  (``history.recording.OperationRecorder.ok_via``: the same row :meth:`ok` writes).

**On PostgreSQL** (``SEATCLOCK_RULE_SQL``, on by default): SQL built once per process from the
models' metadata, run through Django's connection cursor (no ORM compilation per request):

1. one round trip for the reads: two statements in one message (psycopg's client-side binding
   sends them as one simple query) — ``SELECT … FOR UPDATE`` of the seat with the mode, then the
   node and the seat's active reservations and holds as ``json_agg``.  The reads must be a *second*
   statement: in READ COMMITTED a statement reads the snapshot taken when it started, so
   subselects of the locking statement would miss what the previous holder of the lock
   committed while this one waited (a double booking; ``test_race`` catches it);
2. one round trip for the writes: a CTE inserting the row and its history row (the history's
   ``value`` gets the new row's id in SQL).

The statements are **prepared once per connection** (SQL ``PREPARE``, in a message of its own
before the connection's first use of them; then ``EXECUTE``): PostgreSQL keeps their plans
instead of planning every statement of every request — planning was about 40 % of the
database's CPU for these statements (``bench/pgbench_reservation.sql``, same statements and
round trips: 560–589 tps with ``-M simple``, planned each time, against 992–1,001 with
``-M prepared``).  A kept plan is made from the table sizes of its moment, so the reads leave it
one choice, the seat's index (:func:`_read_sql`); the price is that they read all of the seat's
reservations and holds, past ones included, and keep the active ones.  The statements stay in
the session until it ends, and the connection remembers that it has them (:func:`_run`): a
session that lost them behind our back (a pooler's ``DISCARD ALL``) answers one request 503 and
prepares them again.  Session-level connections are needed, as for Django's own server-side
binding: no transaction-mode pooler.  With per-request connections (``CONN_MAX_AGE`` 0, not
``serve.sh``) every request prepares: a round trip more, and no plan kept.

No SQL compilation or planning per request, and few round trips: a reservation or hold made with no
transaction open runs in :func:`seat_transaction`, which sends BEGIN with the reads and COMMIT with the
insert — 2 round trips for the whole rule (``test_seat_transaction.py``); inside a transaction
already, Django's savepoints around the 2 statements (``test_rule_access.py`` counts them).
**Elsewhere** (SQLite), or with the setting off: the ORM, one query per read.
``test_rule_access.py`` runs the same operations through both on PostgreSQL and compares rows,
answers and history.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import DateTimeField, FloatField, JSONField, Model

from core.ids import parse_id
from core.locks import LockTimeout, is_lock_timeout
from history.models import Operation
from history.recording import OperationRecorder
from seats.errors import SeatNotFound
from seats.locks import seat_lock
from seats.models import Seat
from timesync import consistency
from timesync.consistency import Mode
from timesync.errors import InvalidServerId
from timesync.models import ConsistencySettings, ServerNode
from timesync.selectors import node_get, parse_server_id

from .models import Hold, Reservation
from .selectors import seat_holds

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class SeatState:
    """What a write taking a seat decides on, read with the seat row locked: the ``seat``, the
    cluster's ``mode`` (read in the locking statement), the ``node`` writing, the seat's
    ``active`` reservations and active ``holds`` (earliest ``created_at`` first, ties by id)."""

    seat: Seat
    mode: Mode
    node: ServerNode
    active: list[Reservation]
    holds: list[Hold]


def sql_path() -> bool:
    """Whether this connection takes the SQL path (PostgreSQL and ``SEATCLOCK_RULE_SQL``)."""
    return connection.vendor == "postgresql" and settings.SEATCLOCK_RULE_SQL


logger = logging.getLogger(__name__)


class _OwnTransaction(threading.local):
    """Whether this thread is inside a :func:`seat_transaction` that manages the transaction
    itself (whether its BEGIN was sent yet is the connection's own state: :func:`_idle`)."""

    open = False


_own = _OwnTransaction()


@contextmanager
def seat_transaction() -> Iterator[None]:
    """The transaction of a reservation or a hold (``reservation_create``, ``hold_create``):
    commits on success, rolls back on any exception.

    On the SQL path with no transaction open (a plain ``POST /api/reservations`` or
    ``/api/holds``), it is sent
    by hand around Django's autocommit: ``BEGIN`` in the same message as the locked reads
    (:func:`seat_state_lock`), ``COMMIT`` in the same message as the insert (:func:`row_insert`)
    — 2 round trips for the whole rule instead of 4 (pgbench, ``bench/pgbench_reservation_own.sql``
    against ``pgbench_reservation.sql``: 3,786–3,920 tps against 3,198–3,303 at 8 clients,
    2,913–2,933 against 1,926–1,970 at 2).  The insert's message commits, so
    live events published after it (``transaction.on_commit``, run at once in autocommit) go
    out after the commit, as they do after ``atomic()``.  Only :func:`seat_state_lock`,
    :func:`row_insert` and plain reads may run inside; not re-entrant.

    Elsewhere — SQLite, the setting off, or inside a transaction already (an
    ``Idempotency-Key``'s, a test's) — it is ``transaction.atomic()``.
    """
    if _own.open:
        raise RuntimeError("seat_transaction() is not re-entrant")
    if not sql_path() or connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic():
            yield
        return
    _own.open = True
    try:
        yield
    except BaseException:
        _end(b"ROLLBACK")
        raise
    else:
        _end(b"COMMIT")  # still open only if nothing was inserted
    finally:
        _own.open = False


def _idle() -> bool:
    """Whether this thread's connection has no transaction open (none, closed, or idle)."""
    pg = connection.connection
    return pg is None or pg.closed or pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def _end(command: bytes) -> None:
    """Send ``command`` if this connection's transaction is still open; a connection that cannot
    take it is closed (Django opens a new one for the next request)."""
    if _idle():
        return
    try:
        with connection.wrap_database_errors:
            connection.connection.execute(command)
    except Exception:
        logger.warning("could not end a reservation's transaction (%s); closing the connection", command.decode())
        connection.close()
        if command == b"COMMIT":
            raise


def seat_state_lock(seat_id: object, server_id: object) -> SeatState:
    """Lock seat ``seat_id`` for the rest of the transaction and read what the rule decides on
    through node ``server_id`` (:class:`SeatState`).

    Raises ``SeatNotFound`` (404; checked first), ``InvalidServerId`` (400), ``LockTimeout``
    (409: the seat's lock was held longer than the lock timeout), ``RuntimeError`` outside a
    transaction — as ``seats.locks.seat_lock`` and ``timesync.selectors.node_get`` do.
    """
    if not sql_path():
        seat = seat_lock(seat_id, annotate=consistency.with_cluster_mode)
        node = node_get(server_id)
        active = list(Reservation.objects.active().for_seat(seat).by_stamp())
        return SeatState(seat, consistency.mode_of(seat), node, active, seat_holds(seat))
    pk, node_key = parse_id(seat_id), parse_server_id(server_id)
    if pk is None:
        raise SeatNotFound(seat_id)
    if not connection.in_atomic_block and not _own.open:
        raise RuntimeError("seat_state_lock() needs a transaction: wrap the caller in seat_transaction()")
    sql = _read_sql()
    begin = _own.open and _idle()
    try:
        with connection.cursor() as cursor:
            _run(cursor, f"BEGIN; {sql.text}" if begin else sql.text, {"seat": pk, "server": node_key})
            for _ in range(begin + sql.leading):
                cursor.nextset()  # BEGIN's result, SET's
            seat_row = cursor.fetchone()
            cursor.nextset()
            rest = cursor.fetchone()
    except DatabaseError as exc:
        if is_lock_timeout(exc):
            raise LockTimeout(details={"model": Seat._meta.label}) from exc
        raise
    if seat_row is None:
        raise SeatNotFound(pk)
    *node_values, active, holds = rest
    if node_values[0] is None:
        raise InvalidServerId(server_id if node_key is None else node_key)
    alias = connection.alias
    return SeatState(
        seat=Seat.from_db(alias, sql.seat_fields, seat_row[:-1]),
        mode=Mode(seat_row[-1] or Mode.NAIVE),
        node=ServerNode.from_db(alias, sql.node_fields, node_values),
        active=_rows(Reservation, active or ()),
        holds=_rows(Hold, holds or ()),
    )


def row_insert(row: Model, op: OperationRecorder, value: Mapping[str, Any], *, id_key: str) -> None:
    """Insert ``row`` (a new, unsaved ``Reservation`` or ``Hold``; its ``pk`` is set) and append
    ``op`` as done with ``value`` plus ``{id_key: row.pk}``, in the caller's transaction.

    SQL path: one statement (a CTE); ORM path: ``row.save`` then ``op.ok`` (two INSERTs).
    """
    if not sql_path():
        row.save(force_insert=True)
        op.ok(**{**value, id_key: row.pk})
        return

    def insert(history: Operation) -> None:
        sql = _insert_sql(type(row))
        params = [*_values(row, sql.fields), *_values(history, sql.history_fields), id_key]
        commit = _own.open  # seat_transaction's own, begun by the reads: the insert's message commits
        with connection.cursor() as cursor:
            _run(cursor, f"{sql.text}; COMMIT" if commit else sql.text, params)
            (row.pk,) = cursor.fetchone()
        row._state.adding, row._state.db = False, connection.alias

    op.ok_via(insert, **{**value, id_key: None})


# --- The SQL, built once per process from the models' metadata -------------------------------------


@dataclass(frozen=True)
class _Statement:
    """A statement prepared once per connection: ``PREPARE name AS body`` (parameters ``$1``…,
    their types inferred by PostgreSQL from the body), then run as ``EXECUTE name(…)``."""

    name: str
    body: str

    @property
    def prepare(self) -> str:
        return f"PREPARE {self.name} AS {self.body}"

    def execute(self, *placeholders: str) -> str:
        return f"EXECUTE {self.name}({', '.join(placeholders)})"


@dataclass(frozen=True)
class _ReadSql:
    text: str
    leading: int  # result sets of text before the seat's row
    statements: tuple[_Statement, ...]
    seat_fields: list[str]
    node_fields: list[str]


@dataclass(frozen=True)
class _InsertSql:
    text: str
    statement: _Statement
    fields: list[Any]
    history_fields: list[Any]


#: Set on a psycopg connection once the rule's statements are prepared in its session.
_PREPARED = "seatclock_rule_prepared"


@cache
def _preparation() -> str:
    """Every statement of the rule, prepared anew: ``DEALLOCATE ALL`` (a session that lost some
    of them may hold the others), then one ``PREPARE`` each."""
    statements = [*_read_sql().statements, *(_insert_sql(model).statement for model in (Reservation, Hold))]
    return "; ".join(["DEALLOCATE ALL", *(s.prepare for s in statements)])


def _run(cursor: Any, text: str, params: Any) -> None:
    """Send ``text`` (``EXECUTE``s of the rule's statements, perhaps with BEGIN or COMMIT) in one
    message; first, on a connection whose session does not have the statements yet,
    :func:`_preparation` in a message of its own (one round trip per connection).

    Raises Django's ``OperationalError`` (answered 503 + Retry-After): when the preparation fails
    (a migration holding a lock on one of the rule's tables makes ``PREPARE`` wait past the lock
    timeout: that is not the seat's lock, and nothing ran), or when the session lost the
    statements behind our back (SQLSTATE 26000: a ``DEALLOCATE``, a pooler's ``DISCARD ALL``; the
    next request prepares them again).  Other database errors as they come (the statements stay)."""
    pg = connection.connection
    if not getattr(pg, _PREPARED, False):
        try:
            cursor.execute(_preparation())
        except DatabaseError as exc:
            raise OperationalError(f"could not prepare the rule's statements: {exc}") from exc
        setattr(pg, _PREPARED, True)
    try:
        cursor.execute(text, params)
    except DatabaseError as exc:
        if isinstance(exc.__cause__, psycopg.errors.InvalidSqlStatementName):
            setattr(pg, _PREPARED, False)
            raise OperationalError(f"the rule's prepared statements were gone from this session: {exc}") from exc
        raise


def _q(name: object) -> str:
    """A table or column name, quoted (names come from the models' metadata)."""
    return connection.ops.quote_name(str(name))


@cache
def _read_sql() -> _ReadSql:
    """The two statements of :func:`seat_state_lock` (parameters ``seat``, ``server``): the
    seat's columns and the mode, locked; then the node's columns (NULL: no such node) and the
    seat's active reservations and holds as JSON arrays of rows (NULL: none)."""
    seat_fields = Seat._meta.concrete_fields
    node_fields = ServerNode._meta.concrete_fields
    active = Reservation.Status.ACTIVE.value
    held = Hold.Status.ACTIVE.value
    mode = f"(SELECT {_q('mode')} FROM {_q(ConsistencySettings._meta.db_table)} WHERE {_q('id')} = 1)"
    lock = _Statement(
        "seatclock_seat_lock",
        f"SELECT {', '.join('s.' + _q(f.column) for f in seat_fields)}, {mode}"
        f" FROM {_q(Seat._meta.db_table)} s WHERE s.{_q(Seat._meta.pk.column)} = $1 FOR UPDATE OF s",
    )

    def rows(model: type[Model], alias: str, status: str) -> str:
        # The seat's rows, then those with the status: the only index a plan can take is one on
        # the seat (a condition on the status would let a generic plan made from near-empty
        # tables read every active row through the status index, and keep doing so).
        meta = model._meta
        seat, stamp, pk = (getattr(meta.get_field(name), "column", name) for name in ("seat", "created_at", "id"))
        return (
            f"(SELECT json_agg({alias} ORDER BY {alias}.{_q(stamp)}, {alias}.{_q(pk)})"
            f" FILTER (WHERE {alias}.{_q('status')} = '{status}')"
            f" FROM {_q(meta.db_table)} {alias} WHERE {alias}.{_q(seat)} = $1)"
        )

    reads = _Statement(
        "seatclock_seat_reads",
        f"SELECT {', '.join('n.' + _q(f.column) for f in node_fields)},"
        f" {rows(Reservation, 'r', active)}, {rows(Hold, 'h', held)}"
        f" FROM (VALUES (1)) AS one LEFT JOIN {_q(ServerNode._meta.db_table)} n"
        f" ON n.{_q(ServerNode._meta.pk.column)} = $2",
    )
    # Index scans only, for these two statements (then RESET: a caller's transaction goes on
    # without the hint).  A prepared statement's generic plan is made once, from the table sizes
    # of the moment, and kept until ANALYZE changes them: made while the reservations or holds
    # were few (a new venue, a reset demo), it scanned them whole and went on doing so as they
    # grew — the database's CPU per reservation rose 3.0, 4.2, 5.5 ms over three 15 s runs from
    # an empty table, against 1.4–1.5 ms with this (2.1–2.6 planned every time).  SET and RESET
    # are not planned.  With the seat as the only indexed condition (rows()), each lookup has one
    # plan left: the seat's index.  test_prepared_statements.py checks the plan PostgreSQL keeps.
    return _ReadSql(
        text=(
            f"SET LOCAL enable_seqscan = off; {lock.execute('%(seat)s')};"
            f" {reads.execute('%(seat)s', '%(server)s')}; RESET enable_seqscan"
        ),
        leading=1,
        statements=(lock, reads),
        seat_fields=[f.attname for f in seat_fields],
        node_fields=[f.attname for f in node_fields],
    )


@cache
def _insert_sql(model: type[Model]) -> _InsertSql:
    """One statement inserting a row of ``model`` and a history row whose ``value`` gains the
    new id under the key given as the last parameter; returns the new id."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    value = Operation._meta.get_field("value")
    # The history's value comes last: its key parameter follows it.
    history_fields = [f for f in Operation._meta.concrete_fields if not f.primary_key and f is not value] + [value]
    n = len(fields)
    row_params = [f"${i}" for i in range(1, n + 1)]
    history_params = [f"${n + i}" for i in range(1, len(history_fields))]
    value_param, key_param = f"${n + len(history_fields)}", f"${n + len(history_fields) + 1}"
    body = (
        f"WITH new AS (INSERT INTO {_q(model._meta.db_table)} ({', '.join(_q(f.column) for f in fields)})"
        f" VALUES ({', '.join(row_params)}) RETURNING {_q(model._meta.pk.column)} AS id),"
        f" op AS (INSERT INTO {_q(Operation._meta.db_table)} ({', '.join(_q(f.column) for f in history_fields)})"
        f" SELECT {', '.join(history_params)}, {value_param}::jsonb || jsonb_build_object({key_param}::text, new.id)"
        " FROM new)"
        " SELECT id FROM new"
    )
    statement = _Statement(f"seatclock_insert_{model._meta.db_table}", body)
    return _InsertSql(
        text=statement.execute(*["%s"] * (n + len(history_fields) + 1)),
        statement=statement,
        fields=fields,
        history_fields=history_fields,
    )


def _values(row: Model, fields: list[Any]) -> list[Any]:
    """``row``'s values of ``fields`` as parameters: JSON as text, choices as their value."""
    out: list[Any] = []
    for f in fields:
        v = getattr(row, f.attname)
        if isinstance(f, JSONField):
            v = json.dumps(v)
        elif isinstance(v, str) and type(v) is not str:
            v = str(v)  # a TextChoices member: its value
        out.append(v)
    return out


@cache
def _loaders(model: type[Model]) -> tuple[list[str], list[tuple[str, Callable[[Any], Any] | None]]]:
    """``model``'s attnames, and per field its column and how to read its JSON value."""
    fields = model._meta.concrete_fields
    loads: list[tuple[str, Callable[[Any], Any] | None]] = []
    for f in fields:
        load: Callable[[Any], Any] | None = None
        if isinstance(f, DateTimeField):
            load = datetime.fromisoformat
        elif isinstance(f, FloatField):
            load = float
        loads.append((str(f.column), load))
    return [f.attname for f in fields], loads


def _rows(model: type[M], items: Any) -> list[M]:
    """Model instances (as loaded from the database) from ``json_agg``'s rows, keyed by column:
    timestamps from ISO 8601 (the session's time zone is UTC), floats as floats."""
    if not items:
        return []
    names, loads = _loaders(model)
    alias = connection.alias
    out = []
    for item in items:
        values = []
        for column, load in loads:
            v = item[column]
            values.append(v if load is None or v is None else load(v))
        out.append(model.from_db(alias, names, values))
    return out
