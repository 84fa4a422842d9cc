"""The wire shapes of the history: one record per operation (the API), and the Jepsen-like
pair of events per operation (the JSON-lines export, which ``lab.checker`` reads back).

Jepsen writes a history as events ``{process, type, f, value, time}``: an ``invoke`` when a
client asks, then ``ok``, ``fail`` (it certainly did not happen) or ``info`` (unknown) when the
answer comes; ``time`` in nanoseconds.  Ours, one JSON object per line, in true-time order:

- ``index``: position in the file; ``op``: the operation's id, shared by its two events;
- ``process``: the node that decided (Jepsen's processes are single-threaded clients; a node
  serves several at once, so pair events by ``op``, not by ``process``), or ``actor`` for an
  operation that no node decided (a release, a mode switch);
- ``type``: ``invoke`` | ``ok`` | ``fail`` | ``info``; ``f``: the operation;
- ``value``: the arguments on ``invoke``, the result (ids, stamps) on completion, the error's
  details on ``fail`` (with ``error``: its code);
- ``time``: true time, integer nanoseconds since the Unix epoch;
- on completion also ``node_time`` (what the node's clock read), ``mode``, ``seat_id``,
  ``actor`` and ``run``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from core.timefmt import iso_utc, iso_utc_or_none

from .models import Operation

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def nanoseconds(value: datetime) -> int:
    """``value`` as integer nanoseconds since the Unix epoch (exact: datetimes hold microseconds)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def operation(op: Operation) -> dict[str, Any]:
    """One operation as a record (``GET /api/history``)."""
    return {
        "id": op.pk,
        "f": op.f,
        "outcome": op.outcome,
        "error": op.error or None,
        "invoked_at": iso_utc(op.invoked_at),
        "completed_at": iso_utc(op.completed_at),
        "node": op.node or None,
        "node_time": iso_utc_or_none(op.node_time),
        "mode": op.mode or None,
        "seat_id": op.seat_id,
        "actor": {"kind": op.actor_kind, "name": op.actor_name},
        "run": op.run or None,
        "args": op.args,
        "value": op.value,
    }


def events(op: Operation) -> tuple[dict[str, Any], dict[str, Any]]:
    """The operation's ``invoke`` and completion events (without ``index``)."""
    process = op.node or op.actor
    invoke = {"op": op.pk, "process": process, "type": "invoke", "f": op.f, "value": op.args}
    invoke["time"] = nanoseconds(op.invoked_at)
    done: dict[str, Any] = {"op": op.pk, "process": process, "type": op.outcome, "f": op.f, "value": op.value}
    if op.error:
        done["error"] = op.error
    done.update(
        time=nanoseconds(op.completed_at),
        node_time=iso_utc_or_none(op.node_time),
        mode=op.mode or None,
        seat_id=op.seat_id,
        actor=op.actor,
        run=op.run or None,
    )
    return invoke, done


def jepsen_lines(ops: Iterable[Operation]) -> Iterator[dict[str, Any]]:
    """Every event of ``ops`` in true-time order (at the same nanosecond, by operation id, each
    invoke before its completion), numbered by ``index``."""
    evs = [e for op in ops for e in events(op)]
    evs.sort(key=lambda e: (e["time"], e["op"], e["type"] != "invoke"))
    for index, event in enumerate(evs):
        yield {"index": index, **event}
