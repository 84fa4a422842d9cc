"""The latency cost of the ``commit_wait`` mode (DESIGN §2b, Spanner's commit wait), measured.

Every write is one ``reservation_create`` (the rule, in its transaction, on the configured
database), each on a seat of its own (no contention: what is measured is the wait, not a queue
on a lock), through nodes synced for real against Seatclock's own NTP server.  The server's
announced root dispersion sets the nodes' error bound, hence their ε: ``--dispersions 0.001
0.01`` gives ε ≈ 1 ms and ≈ 10 ms (plus the measured |offset| and delay / 2, plus 200 ppm ×
the time since the sync; nodes are re-synced every ``--resync`` writes).  For each ε the same
writes run in ``naive`` and in ``commit_wait`` mode, under the host clock (the wait really
sleeps).  It prints, per mode and ε, the median and 95th percentile of the write latency and,
for commit_wait, the mean ε at write time and the extra latency against 2ε.

The writes go to a private store (temporary tables on PostgreSQL, an in-memory SQLite
database otherwise: :func:`lab.experiments.private_store`), never to the user's data.

Usage (from the repository root)::

    DATABASE_URL=postgres://… .venv/bin/python bench/commit_wait.py [--writes 200] [--dispersions 0.001 0.01]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import DEFAULT_DB_ALIAS, connections  # noqa: E402
from django.test import override_settings  # noqa: E402

from lab import experiments  # noqa: E402
from reservations.services import reservation_create  # noqa: E402
from timesync import clock, consistency  # noqa: E402
from timesync.models import ServerNode  # noqa: E402
from timesync.ntp_server import NtpServer  # noqa: E402
from timesync.services import node_sync  # noqa: E402

NODES = [f"server-{i}" for i in range(1, 6)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sync_all(address: str) -> None:
    with override_settings(SEATCLOCK_NTP_SAMPLES=4):
        for node in NODES:
            node_sync(server_id=node, ntp_server=address)


def measure(mode: str, seats: list[int], address: str, resync: int) -> tuple[list[float], list[float]]:
    """Latencies (s) of one write per seat under ``mode``, and each write's ε (commit_wait)."""
    latencies, epsilons = [], []
    for index, seat in enumerate(seats):
        if index % resync == 0:
            sync_all(address)
        node_id = NODES[index % len(NODES)]
        if mode == "commit_wait":
            node = ServerNode.objects.get(pk=node_id)
            epsilons.append(consistency.uncertainty(node, at=clock.reference_now()))
        started = clock.monotonic()
        reservation_create(seat_id=seat, customer_name=f"Bench {index}", server_id=node_id, mode=mode)
        latencies.append(clock.monotonic() - started)
    return latencies, epsilons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=200, help="writes per mode and ε (default 200)")
    parser.add_argument("--dispersions", type=float, nargs="+", default=[0.001, 0.01], help="root dispersions, s")
    parser.add_argument("--resync", type=int, default=50, help="re-sync every node every N writes (default 50)")
    args = parser.parse_args()
    logging.getLogger("seatclock.ntpserver").setLevel(logging.WARNING)

    vendor = connections[DEFAULT_DB_ALIAS].vendor
    print(f"database: {vendor}; load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'root disp.':>10}  {'mode':<12} {'writes':>6}  {'p50 (ms)':>9}  {'p95 (ms)':>9}  {'mean ε (ms)':>11}  "
        f"{'2ε (ms)':>8}  {'p50 - naive p50 (ms)':>20}"
    )
    for dispersion in args.dispersions:
        server = NtpServer(port=0, stratum=2, root_dispersion=dispersion)
        server.start_in_thread()
        try:
            naive_p50 = None
            for mode in ("naive", "commit_wait"):
                with experiments.private_store("auto", node_ids=NODES, seats=args.writes) as seats:
                    latencies, epsilons = measure(mode, seats, server.address, args.resync)
                p50, p95 = statistics.median(latencies) * 1000, percentile(latencies, 0.95) * 1000
                if mode == "naive":
                    naive_p50 = p50
                    print(f"{dispersion:>10g}  {mode:<12} {len(latencies):>6}  {p50:>9.2f}  {p95:>9.2f}")
                else:
                    eps = statistics.mean(epsilons) * 1000
                    print(
                        f"{dispersion:>10g}  {mode:<12} {len(latencies):>6}  {p50:>9.2f}  {p95:>9.2f}  {eps:>11.2f}  "
                        f"{2 * eps:>8.2f}  {p50 - naive_p50:>20.2f}"
                    )
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
