"""What a node sees when it decides, under each consistency mode (DESIGN §2, §2b, §7).

One function, :func:`node_view`, says it for reservations and holds alike: the reservation rule
(``reservation_create``), the hold services and the experiment engine all ask it, so a mode
that is safe for reservations is applied — and shown safe, or not — for holds too.

A node reading ``t_node`` on its clock has two horizons:

- ``horizon``: the latest stamp (``created_at``) it sees; a row stamped later is in its future,
  invisible to it (a multi-version store's snapshot).
- ``expiry``: the latest instant it judges past; a hold whose ``expires_at`` is at or before it
  has expired *for this node*.

``naive``: both are ``t_node``.  ``bounded`` (CockroachDB's uncertainty interval): the node is
unsure of its clock by ``MAX_CLOCK_OFFSET`` either way, so it sees stamps up to
``t_node + MAX_CLOCK_OFFSET`` and lets a hold expire only once ``t_node − MAX_CLOCK_OFFSET``
is past it.  Provided every two writing nodes are within ``MAX_CLOCK_OFFSET`` of each other,
no hold is stolen; the price is a hold living up to ``2 × MAX_CLOCK_OFFSET`` past its true end.
``serializable``: one database, one clock — every row is seen and a hold expires at its
true end (``true_expires_at`` against true time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from timesync.consistency import Mode, max_clock_offset


def visibility_horizon(mode: str, t_node: datetime) -> datetime | None:
    """The latest ``created_at`` a node reading ``t_node`` sees; ``None``: it sees everything.

    ``naive``: ``t_node`` (a node cannot see what is stamped in its future); ``bounded``:
    ``t_node + MAX_CLOCK_OFFSET`` (CockroachDB's uncertainty interval); ``serializable``:
    everything (timestamps ignored).
    """
    if mode == Mode.SERIALIZABLE:
        return None
    if mode == Mode.BOUNDED:
        return t_node + timedelta(seconds=max_clock_offset())
    return t_node


def expiry_horizon(mode: str, t_node: datetime) -> datetime:
    """The latest node-clock instant a node reading ``t_node`` judges past: a hold whose
    ``expires_at`` is at or before it has expired for that node.  ``naive``: ``t_node``;
    ``bounded``: ``t_node − MAX_CLOCK_OFFSET`` (expired only once surely expired).  Not used in
    ``serializable``, which judges expiry on true time."""
    if mode == Mode.BOUNDED:
        return t_node - timedelta(seconds=max_clock_offset())
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
    """What one node sees at one instant: it read ``t_node`` on its clock at true time
    ``t_true`` and decides under ``mode``.  See the module's docstring for the horizons."""

    mode: str
    t_node: datetime
    t_true: datetime
    horizon: datetime | None
    expiry: datetime
    true_clock: bool = False  # expiry judged on true time (serializable)

    def sees(self, created_at: datetime) -> bool:
        """Whether a row stamped ``created_at`` is visible to the node."""
        return self.horizon is None or created_at <= self.horizon

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


def node_view(mode: str, *, t_node: datetime, t_true: datetime) -> NodeView:
    """What a node that read ``t_node`` at true time ``t_true`` sees under ``mode``."""
    if mode == Mode.SERIALIZABLE:
        return NodeView(mode, t_node, t_true, horizon=None, expiry=t_true, true_clock=True)
    return NodeView(mode, t_node, t_true, horizon=visibility_horizon(mode, t_node), expiry=expiry_horizon(mode, t_node))
