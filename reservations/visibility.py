"""What a node sees when it decides, under each consistency mode (DESIGN §2, §2b)."""

from __future__ import annotations

from datetime import datetime, timedelta

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
