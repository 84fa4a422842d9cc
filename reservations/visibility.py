"""What a node sees when it decides, and when it may answer, under each consistency mode
(DESIGN §2, §2b, §7).  Every write that decides who holds a seat — a reservation, a hold, a
hold's confirmation — reads the node's clock once with :func:`node_view`, keeps what
``view.sees``, refuses a seat on which it sees a live hold (``view.hold_live``), judges a hold's
expiry with ``view.hold_expired``, stamps its row ``view.stamp`` and, before committing, calls
:func:`acknowledge`, all under the seat lock.  One view for reservations and holds alike, so a
mode that is safe for reservations is applied — and shown safe, or not — for holds too.

A node reading ``t_node`` has two horizons:

- ``horizon``: the latest stamp it sees; a row stamped later is in its future, invisible to it.
- ``expiry``: the latest instant it judges past; a hold whose ``expires_at`` is at or before it
  has expired *for this node*.

``naive``: both are ``t_node``.  ``bounded`` (CockroachDB's uncertainty interval): the node is
unsure of its clock by ``MAX_CLOCK_OFFSET`` either way, so it sees stamps up to
``t_node + MAX_CLOCK_OFFSET`` and lets a hold expire only once ``t_node − MAX_CLOCK_OFFSET``
has passed it; provided every two writing nodes are within ``MAX_CLOCK_OFFSET``, no hold is
stolen, at the price of a hold living up to ``2 × MAX_CLOCK_OFFSET`` past its true end.
``commit_wait`` (Spanner's TrueTime): the same with the node's own uncertainty ε —
``t_node + ε`` and ``t_node − ε`` (TrueTime's ``TT.after(expires_at)``) — stamps at
``t_node + ε`` and waits out the uncertainty before answering.  ``serializable``: one database,
one clock — every row is seen and a hold expires at its true end (``true_expires_at`` against
true time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from timesync import clock, consistency
from timesync.consistency import Mode, max_clock_offset
from timesync.models import ServerNode


def visibility_horizon(mode: str, t_node: datetime, *, uncertainty: float | None = None) -> datetime | None:
    """The latest ``created_at`` a node reading ``t_node`` sees; ``None``: it sees everything.

    ``naive``: ``t_node`` (a node cannot see what is stamped in its future); ``bounded``:
    ``t_node + MAX_CLOCK_OFFSET`` (CockroachDB's uncertainty interval); ``commit_wait``:
    ``t_node + ε``, the node's ``uncertainty`` in seconds (Spanner's TrueTime: every write
    acknowledged before ``t_node - ε`` is stamped below ``t_node + ε``); ``serializable``:
    everything (timestamps ignored).
    """
    if mode == Mode.SERIALIZABLE:
        return None
    if mode == Mode.BOUNDED:
        return t_node + timedelta(seconds=max_clock_offset())
    if mode == Mode.COMMIT_WAIT:
        return t_node + timedelta(seconds=uncertainty or 0.0)
    return t_node


def expiry_horizon(mode: str, t_node: datetime, *, uncertainty: float | None = None) -> datetime:
    """The latest node-clock instant a node reading ``t_node`` judges past: a hold whose
    ``expires_at`` is at or before it has expired for that node.  ``naive``: ``t_node``;
    ``bounded``: ``t_node − MAX_CLOCK_OFFSET``; ``commit_wait``: ``t_node − ε`` (expired only
    once surely expired).  Not used in ``serializable``, which judges expiry on true time."""
    if mode == Mode.BOUNDED:
        return t_node - timedelta(seconds=max_clock_offset())
    if mode == Mode.COMMIT_WAIT:
        return t_node - timedelta(seconds=uncertainty or 0.0)
    return t_node


class Stamped(Protocol):
    """A reservation as the rule reads it (``Reservation``, or the experiment engine's row)."""

    @property
    def pk(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...


class HoldStamps(Stamped, Protocol):
    """A hold as the rule reads it (``Hold``, or the experiment engine's row)."""

    @property
    def expires_at(self) -> datetime: ...
    @property
    def true_expires_at(self) -> datetime: ...


S = TypeVar("S", bound=Stamped)
H = TypeVar("H", bound=HoldStamps)


@dataclass(frozen=True)
class NodeView:
    """A node's clock read once, at true time ``t_true``, for one decision under ``mode``.

    ``offset`` seconds; ``uncertainty`` is the node's ε in seconds (``commit_wait`` only).
    """

    node: ServerNode
    mode: Mode
    t_true: datetime
    offset: float
    t_node: datetime
    uncertainty: float | None = None

    @property
    def horizon(self) -> datetime | None:
        """See :func:`visibility_horizon`."""
        return visibility_horizon(self.mode, self.t_node, uncertainty=self.uncertainty)

    @property
    def expiry(self) -> datetime:
        """See :func:`expiry_horizon` (true time in ``serializable``)."""
        if self.true_clock:
            return self.t_true
        return expiry_horizon(self.mode, self.t_node, uncertainty=self.uncertainty)

    @property
    def true_clock(self) -> bool:
        """Whether holds expire on true time (``serializable``: one database, one clock)."""
        return self.mode == Mode.SERIALIZABLE

    def sees(self, created_at: datetime) -> bool:
        """Whether the node sees a row stamped ``created_at``."""
        horizon = self.horizon
        return horizon is None or created_at <= horizon

    @property
    def stamp(self) -> datetime:
        """What the write is stamped: the node's clock, plus ε in ``commit_wait`` (Spanner
        stamps a commit at ``TT.now().latest``)."""
        if self.mode == Mode.COMMIT_WAIT:
            return self.t_node + timedelta(seconds=self.uncertainty or 0.0)
        return self.t_node

    def hold_expired(self, hold: HoldStamps) -> bool:
        """Whether ``hold`` has expired for this node (its own clock against the hold's expiry)."""
        if self.true_clock:
            return hold.true_expires_at <= self.t_true
        return hold.expires_at <= self.expiry

    def hold_remaining(self, hold: HoldStamps) -> float:
        """Seconds until ``hold`` expires for this node (negative: expired that long ago)."""
        if self.true_clock:
            return (hold.true_expires_at - self.t_true).total_seconds()
        return (hold.expires_at - self.expiry).total_seconds()

    def hold_live(self, hold: HoldStamps) -> bool:
        """Whether the node sees ``hold`` holding its seat: visible and not expired for it."""
        return self.sees(hold.created_at) and not self.hold_expired(hold)

    def seen_holder(self, active: Iterable[S]) -> S | None:
        """The first of a seat's ``active`` reservations (earliest stamp first) the node sees."""
        return next((r for r in active if self.sees(r.created_at)), None)

    def seen_hold(self, holds: Iterable[H], *, other_than: int | None = None) -> H | None:
        """The first of a seat's active ``holds`` the node sees live (``other_than``: a hold's own
        confirmation does not see itself)."""
        return next((h for h in holds if h.pk != other_than and self.hold_live(h)), None)


def read_view(node: ServerNode, mode: str, *, at: datetime, uncertainty: float | None = None) -> NodeView:
    """``node``'s clock read at true time ``at`` under ``mode``, refusing nothing (reads: the
    holds as every node judges them; the experiment's zombie windows)."""
    return NodeView(
        node=node,
        mode=Mode(mode),
        t_true=at,
        offset=clock.offset_at(node, at),
        t_node=clock.node_now(node, at=at),
        uncertainty=uncertainty,
    )


def node_view(
    node: ServerNode, mode: str, *, at: datetime | None = None, nodes: Iterable[ServerNode] | None = None
) -> NodeView:
    """Read ``node``'s clock once, at true time ``at`` (default: now), to write under ``mode``.

    Refuses first, before anything is read: in ``bounded`` a node beyond the fence (judged among
    ``nodes``, default every node in the database) raises ``NodeFenced``; in ``commit_wait`` a
    node whose ε is unbounded or too large raises ``NodeUncertain`` (both 503
    ``TIME_DRIFT_DETECTED``).
    """
    chosen = Mode(mode)
    t_true = clock.reference_now() if at is None else at
    epsilon = None
    if chosen == Mode.BOUNDED:
        consistency.fence_check(node, at=t_true, nodes=nodes)
    elif chosen == Mode.COMMIT_WAIT:
        epsilon = consistency.uncertainty_check(node, at=t_true)
    return read_view(node, chosen, at=t_true, uncertainty=epsilon)


def acknowledge(view: NodeView) -> float:
    """Hold the write (its transaction and seat lock) until it may be acknowledged; the seconds
    waited.  In ``commit_wait``, until the node's clock minus ε has passed ``view.stamp``
    (Spanner's commit wait, about 2ε); at once in the other modes."""
    if view.mode == Mode.COMMIT_WAIT:
        return consistency.commit_wait(view.node, stamp=view.stamp)
    return 0.0
