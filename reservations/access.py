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
   node and the seat's reservations and holds as ``json_agg``.  The reads must be a *second*
   statement: in READ COMMITTED a statement reads the snapshot taken when it started, so
   subselects of the locking statement would miss what the previous holder of the lock
   committed while this one waited (a double booking; ``test_race`` catches it);
2. one round trip for the writes: a CTE inserting the row and its history row (the history's
   ``value`` gets the new row's id in SQL).

No SQL compilation per request, and few round trips: a reservation or hold made with no
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
from django.db import DatabaseError, connection, transaction
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
            cursor.execute(f"BEGIN; {sql.text}" if begin else sql.text, {"seat": pk, "server": node_key})
            if begin:
                cursor.nextset()  # BEGIN's result
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
            cursor.execute(f"{sql.text}; COMMIT" if commit else sql.text, params)
            (row.pk,) = cursor.fetchone()
        row._state.adding, row._state.db = False, connection.alias

    op.ok_via(insert, **{**value, id_key: None})


# --- The SQL, built once per process from the models' metadata -------------------------------------


@dataclass(frozen=True)
class _ReadSql:
    text: str
    seat_fields: list[str]
    node_fields: list[str]


@dataclass(frozen=True)
class _InsertSql:
    text: str
    fields: list[Any]
    history_fields: list[Any]


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
    lock = (
        f"SELECT {', '.join('s.' + _q(f.column) for f in seat_fields)}, {mode}"
        f" FROM {_q(Seat._meta.db_table)} s WHERE s.{_q(Seat._meta.pk.column)} = %(seat)s FOR UPDATE OF s"
    )

    def rows(model: type[Model], alias: str, status: str) -> str:
        meta = model._meta
        seat, stamp, pk = (getattr(meta.get_field(name), "column", name) for name in ("seat", "created_at", "id"))
        return (
            f"(SELECT json_agg({alias} ORDER BY {alias}.{_q(stamp)}, {alias}.{_q(pk)}) FROM {_q(meta.db_table)} {alias}"
            f" WHERE {alias}.{_q(seat)} = %(seat)s AND {alias}.{_q('status')} = '{status}')"
        )

    reads = (
        f"SELECT {', '.join('n.' + _q(f.column) for f in node_fields)},"
        f" {rows(Reservation, 'r', active)}, {rows(Hold, 'h', held)}"
        f" FROM (VALUES (1)) AS one LEFT JOIN {_q(ServerNode._meta.db_table)} n"
        f" ON n.{_q(ServerNode._meta.pk.column)} = %(server)s"
    )
    return _ReadSql(
        text=f"{lock}; {reads}",
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

    def placeholder(field: Any) -> str:
        return "%s::jsonb" if isinstance(field, JSONField) else "%s"

    selected = [placeholder(f) for f in history_fields[:-1]] + ["%s::jsonb || jsonb_build_object(%s::text, new.id)"]
    text = (
        f"WITH new AS (INSERT INTO {_q(model._meta.db_table)} ({', '.join(_q(f.column) for f in fields)})"
        f" VALUES ({', '.join(placeholder(f) for f in fields)}) RETURNING {_q(model._meta.pk.column)} AS id),"
        f" op AS (INSERT INTO {_q(Operation._meta.db_table)} ({', '.join(_q(f.column) for f in history_fields)})"
        f" SELECT {', '.join(selected)} FROM new)"
        " SELECT id FROM new"
    )
    return _InsertSql(text=text, fields=fields, history_fields=history_fields)


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
