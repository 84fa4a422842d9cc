"""Appending to the operations history, from inside the service that performs the operation.

::

    with operation("reserve", clock.reference_now, actor=actor, seat_id=seat_id, args={...}) as op, \\
            transaction.atomic():
        ...                                    # lock, read the clock (t_true, t_node)
        op.decided(node=node.pk, node_time=t_node, mode=mode)
        ...                                    # may raise a DomainError: a refusal
        op.ok(reservation_id=r.pk, ...)        # one INSERT, in the write's transaction

The recorder is entered *before* the transaction, so it leaves *after* it: a refusal raised in
the block is rolled back first, then appended (``fail``, with the error's code and details) on
its own — what the node refused is part of the history too.  An operation that never reached a
decision (unknown seat or node, bad input, a lock timeout) is not recorded: it asked nothing of
a node.  An unexpected exception after the decision is appended as ``info`` when the database
still answers (Jepsen's indeterminate outcome).

History never reads the time itself: the caller passes its clock (``timesync.clock.reference_now``,
the only reader of time; a frozen or virtual clock in tests and experiments).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from django.db import transaction

from core.errors import DomainError
from core.timefmt import iso_utc

from .actors import SYSTEM, Actor
from .models import Operation

logger = logging.getLogger("seatclock.history")

Clock = Callable[[], datetime]
T = TypeVar("T")


def jsonable(value: Any) -> Any:
    """``value`` with every datetime written as :func:`core.timefmt.iso_utc` (microseconds kept;
    Django's JSON encoder would cut them to milliseconds)."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class OperationRecorder:
    """One operation being performed; see the module's docstring."""

    def __init__(
        self, f: str, now: Clock, *, actor: Actor | None, args: Mapping[str, Any], seat_id: int | None = None
    ) -> None:
        self.f = f
        self.now = now
        self.actor = actor or SYSTEM
        self.args = jsonable(args)
        self.seat_id = seat_id
        self.node = ""
        self.node_time: datetime | None = None
        self.mode = ""
        self.reached = False
        self.recorded = False
        self.invoked_at = now()

    def __enter__(self) -> OperationRecorder:
        return self

    def decided(
        self, *, node: str = "", node_time: datetime | None = None, mode: str = "", seat_id: int | None = None
    ) -> None:
        """The operation reached its decision: through ``node``, whose clock read ``node_time``,
        under ``mode``.  From here on a refusal is recorded."""
        self.node, self.node_time, self.mode = node, node_time, str(mode)
        if seat_id is not None:
            self.seat_id = seat_id
        self.reached = True

    def _row(
        self,
        outcome: str,
        value: Mapping[str, Any],
        *,
        error: str = "",
        node: str | None = None,
        seat_id: int | None = None,
    ) -> Operation:
        return Operation(
            f=self.f,
            outcome=outcome,
            error=error,
            invoked_at=self.invoked_at,
            completed_at=self.now(),
            node=self.node if node is None else node,
            node_time=self.node_time,
            mode=self.mode,
            seat_id=self.seat_id if seat_id is None else seat_id,
            actor_kind=self.actor.kind,
            actor_name=self.actor.name,
            run=self.actor.run,
            args=self.args,
            value=jsonable(value),
        )

    def ok(self, **value: Any) -> None:
        """Append the operation as done (one INSERT, in the caller's transaction)."""
        self._row(Operation.Outcome.OK, value).save(force_insert=True)
        self.recorded = True

    def ok_via(self, insert: Callable[[Operation], T], **value: Any) -> T:
        """Append the operation as done through ``insert``, which inserts the given (unsaved)
        row in the caller's transaction — e.g. in the same statement as the write it describes
        (``reservations.access``: one round trip for both); returns what ``insert`` returns.
        The row is :meth:`ok`'s, field for field."""
        result = insert(self._row(Operation.Outcome.OK, value))
        self.recorded = True
        return result

    def ok_per_node(self, values: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Append one ``ok`` row per node (an operation on several clocks at once: a scenario)."""
        Operation.objects.bulk_create([self._row(Operation.Outcome.OK, value, node=node) for node, value in values])
        self.recorded = True

    def ok_per_seat(self, values: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """Append one ``ok`` row per seat (an operation on many seats at once: the demo's reset)."""
        Operation.objects.bulk_create(
            [self._row(Operation.Outcome.OK, value, seat_id=seat_id) for seat_id, value in values]
        )
        self.recorded = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or self.recorded or not self.reached:
            return
        if isinstance(exc, DomainError):
            # The write's transaction has rolled back; the refusal is appended on its own.
            self._row(Operation.Outcome.FAIL, exc.details, error=exc.code).save(force_insert=True)
            return
        try:
            with transaction.atomic():
                self._row(Operation.Outcome.INFO, {"exception": type(exc).__name__}, error="INDETERMINATE").save(
                    force_insert=True
                )
        except Exception:  # the database may be what failed; the original error goes on
            logger.warning("could not append %s to the history", self.f, exc_info=True)


def operation(
    f: str, now: Clock, *, actor: Actor | None = None, args: Mapping[str, Any], seat_id: int | None = None
) -> OperationRecorder:
    """Start recording operation ``f`` (``Operation.F``) asked with ``args``; ``now`` is the
    caller's true-time clock, read at once (``invoked_at``) and at completion."""
    return OperationRecorder(f, now, actor=actor, args=args, seat_id=seat_id)
