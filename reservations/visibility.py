"""What a node sees when it decides, and when it may answer, under each consistency mode
(DESIGN §2, §2b).  Every write that decides who holds a seat (a reservation; a hold, DESIGN §7)
reads the node's clock once with :func:`node_view`, keeps what ``view.sees``, stamps its row
``view.stamp`` and, before committing, calls :func:`acknowledge`, all under the seat lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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


@dataclass(frozen=True)
class NodeView:
    """A node's clock read once, at true time ``t_true``, for one write under ``mode``.

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


def node_view(node: ServerNode, mode: str, *, at: datetime | None = None) -> NodeView:
    """Read ``node``'s clock once, at true time ``at`` (default: now), to write under ``mode``.

    Refuses first, before anything is read: in ``bounded`` a node beyond the fence raises
    ``NodeFenced``; in ``commit_wait`` a node whose ε is unbounded or too large raises
    ``NodeUncertain`` (both 503 ``TIME_DRIFT_DETECTED``).
    """
    chosen = Mode(mode)
    t_true = clock.reference_now() if at is None else at
    epsilon = None
    if chosen == Mode.BOUNDED:
        consistency.fence_check(node, at=t_true)
    elif chosen == Mode.COMMIT_WAIT:
        epsilon = consistency.uncertainty_check(node, at=t_true)
    offset = clock.offset_at(node, t_true)
    return NodeView(
        node=node,
        mode=chosen,
        t_true=t_true,
        offset=offset,
        t_node=clock.node_now(node, at=t_true),
        uncertainty=epsilon,
    )


def acknowledge(view: NodeView) -> float:
    """Hold the write (its transaction and seat lock) until it may be acknowledged; the seconds
    waited.  In ``commit_wait``, until the node's clock minus ε has passed ``view.stamp``
    (Spanner's commit wait, about 2ε); at once in the other modes."""
    if view.mode == Mode.COMMIT_WAIT:
        return consistency.commit_wait(view.node, stamp=view.stamp)
    return 0.0
