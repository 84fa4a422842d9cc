"""The one module that knows what time it is.

*True time* is the host clock (``reference_now()``), assumed disciplined by the host's own
NTP.  Every simulated node reads ``node_now(node) = reference_now() + offset(node)`` where
``offset = offset_seconds + drift_ppm * 1e-6 * (t - offset_since)`` (DESIGN §1).

Nothing else in Seatclock calls ``time.time()``, ``datetime.now()`` or ``timezone.now()``
(ruff's banned-api rule enforces it), and nothing else waits for time to pass: :func:`sleep`
really sleeps under the host clock and advances a virtual one.  Tests and the virtual-time
experiment engine replace the reference with :func:`use_reference_clock`.  The override is module-level rather than a
``ContextVar`` on purpose: plain worker threads (the load generator, race tests) must see it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _host_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _host_now


class ClockState(Protocol):
    """What a node must expose for its clock to be computed (``timesync.models.ServerNode``)."""

    offset_seconds: float
    drift_ppm: float
    offset_since: datetime | None


def reference_now() -> datetime:
    """True time: an aware UTC datetime from the host clock, or from the installed override."""
    return _source()


def monotonic() -> float:
    """Seconds from a monotonic clock, for measuring durations (never for timestamps)."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    """Let ``seconds`` of true time pass (a commit wait, DESIGN §2b).

    Under the host clock this really sleeps.  Under a virtual reference clock, one with an
    ``advance(seconds)`` method such as :class:`FrozenClock` (tests, the experiment engine),
    it advances that clock instead and returns at once: waits cost nothing in virtual time.
    """
    if seconds <= 0:
        return
    advance = getattr(_source, "advance", None)
    if callable(advance):
        advance(seconds)
    else:
        time.sleep(seconds)


def host_timestamp() -> float:
    """True time as POSIX seconds (float), for wire protocols such as NTP."""
    return (reference_now() - _EPOCH).total_seconds()


def offset_at(state: ClockState, at: datetime) -> float:
    """A node's clock offset, in seconds, at true time ``at`` (drift included)."""
    offset = float(state.offset_seconds)
    if state.drift_ppm and state.offset_since is not None:
        offset += state.drift_ppm * 1e-6 * (at - state.offset_since).total_seconds()
    return offset


def node_now(state: ClockState, *, at: datetime | None = None) -> datetime:
    """What the node's clock reads at true time ``at`` (default: now)."""
    t = reference_now() if at is None else at
    return t + timedelta(seconds=offset_at(state, t))


def true_time_of_reading(state: ClockState, reading: datetime) -> datetime:
    """The true instant at which the node's clock reads ``reading``: the inverse of
    :func:`node_now` (``reading = t + offset_at(t)``, linear in ``t``; drift above −10⁶ ppm)."""
    if not state.drift_ppm or state.offset_since is None:
        return reading - timedelta(seconds=float(state.offset_seconds))
    rate = 1.0 + state.drift_ppm * 1e-6
    since = state.offset_since
    elapsed = ((reading - since).total_seconds() - float(state.offset_seconds)) / rate
    return since + timedelta(seconds=elapsed)


@contextmanager
def use_reference_clock(source: Callable[[], datetime]) -> Iterator[None]:
    """Replace the reference clock for the duration of the block (tests, virtual time)."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous


class FrozenClock:
    """A settable reference clock: ``with use_reference_clock(FrozenClock(t0)) as ...``.

    ``advance(seconds)`` moves it forward; calling it returns the current instant.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now = self.now + timedelta(seconds=seconds)
        return self.now
