"""Benchmark data: a venue of ROWS × SEATS_PER_ROW seats, a fraction of them reserved.

    python bench/seed.py --rows 26 --seats-per-row 10000             # empty venue (POST bench)
    python bench/seed.py --rows 10 --seats-per-row 1000 --reserved 0.3   # GET /api/seats bench

Replaces the venue (and its reservations).  Reservations are bulk-inserted (not through the
reservation rule: this is data, not load), spread over the five nodes, stamped now; every
100th reserved seat gets a second, conflicting reservation so that holders are chosen
among several.  On PostgreSQL the replaced tables are then vacuumed (``VACUUM ANALYZE``), as
autovacuum would soon after: right after replacing a venue of 260,000 seats and 400,000
reservations, their dead rows made ``GET /api/seats`` on the new 10,000 seats take 62 ms
instead of 42 ms (p50, one client), a figure of the bulk delete rather than of the server.
Prints the first and last seat id for the load scripts.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from history.models import Operation  # noqa: E402
from reservations.models import Hold, Reservation  # noqa: E402
from reservations.services import venue_replace  # noqa: E402
from seats.models import Seat  # noqa: E402
from timesync import clock  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--seats-per-row", type=int, default=1000)
    parser.add_argument("--reserved", type=float, default=0.0, help="fraction of seats reserved (0-1)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    venue_replace(rows=args.rows, seats_per_row=args.seats_per_row, force=True)
    ids = list(Seat.objects.order_by("id").values_list("id", flat=True))
    now = clock.reference_now()
    chosen = rng.sample(ids, round(len(ids) * args.reserved))
    rows = []
    for i, seat_id in enumerate(chosen):
        node = f"server-{rng.randint(1, 5)}"
        stamp = now - timedelta(seconds=rng.uniform(0, 3600))
        rows.append(
            Reservation(
                seat_id=seat_id, node_id=node, customer_name=f"Client {i} Éloïse", created_at=stamp, recorded_at=stamp
            )
        )
        if i % 100 == 0:
            later = stamp + timedelta(seconds=1)
            rows.append(
                Reservation(
                    seat_id=seat_id,
                    node_id="server-2",
                    customer_name=f"Late {i}",
                    created_at=later,
                    recorded_at=later,
                    conflict_detected=True,
                )
            )
    Reservation.objects.bulk_create(rows, batch_size=5000)
    if connection.vendor == "postgresql":  # outside any transaction (autocommit): VACUUM needs it
        tables = [model._meta.db_table for model in (Seat, Reservation, Hold, Operation)]
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in tables))
    print(f"SEATS {ids[0]} {ids[-1]} reserved={len(chosen)} reservations={len(rows)}")


if __name__ == "__main__":
    main()
