"""What the operations history costs a reservation: ``reservation_create`` timed with its history
append, without it, and without the read of the seat's holds (the other query holds added).

Runs against a scratch PostgreSQL database (``seatclock_bench_history`` on the server of
``DATABASE_URL``, dropped and re-created), on fresh seats (every call succeeds: the hot path of
``POST /api/reservations``), in interleaved rounds so that the machine's load hits the three
variants alike, and prints the median wall microseconds per call, this process's CPU per call
(what the append costs the web worker, whatever the load) and the load average.

Usage (from the repository root)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anything \
        .venv/bin/python bench/history_append.py [--calls 400 --rounds 6]

The variants without the append or the holds read exist only here (the append is patched out of
``history.recording.OperationRecorder``, the holds read out of the services): the service always
does both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SCRATCH = "seatclock_bench_history"


def scratch_url() -> str:
    import psycopg

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must point at a PostgreSQL server (its database is not touched)")
    server = base.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    return f"{server}/{SCRATCH}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per variant and round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = scratch_url()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from history import recording
    from history.models import Operation
    from reservations import services
    from reservations.services import reservation_create
    from seats.models import Seat
    from seats.services import venue_seed
    from timesync import clock

    call_command("migrate", verbosity=0, interactive=False)
    seats_needed = 3 * args.calls * args.rounds
    venue_seed(rows=max(1, -(-seats_needed // 10_000)), seats_per_row=min(10_000, seats_needed))
    seats = iter(Seat.objects.order_by("id").values_list("pk", flat=True))
    real_ok, real_exit, real_holds = (
        recording.OperationRecorder.ok,
        recording.OperationRecorder.__exit__,
        services.seat_holds,
    )

    def no_append(self, **value):
        self.recorded = True

    variants = {
        "full (history + holds read)": lambda: None,
        "without the history append": lambda: setattr(recording.OperationRecorder, "ok", no_append),
        "without the holds read": lambda: setattr(services, "seat_holds", lambda seat: []),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, patch in variants.items():
            recording.OperationRecorder.ok, recording.OperationRecorder.__exit__ = real_ok, real_exit
            services.seat_holds = real_holds
            patch()
            for _ in range(args.calls):
                started, cpu_started = clock.monotonic(), time.process_time()
                reservation_create(seat_id=next(seats), customer_name="Bench Customer", server_id="server-2")
                times[name].append(clock.monotonic() - started)
                cpu[name].append(time.process_time() - cpu_started)
    recording.OperationRecorder.ok = real_ok
    services.seat_holds = real_holds
    load_after = os.getloadavg()

    print(f"PostgreSQL {connection.pg_version}, {args.rounds} rounds × {args.calls} calls per variant, fresh seats")
    before, after = (" ".join(f"{x:.2f}" for x in avg) for avg in (load_before, load_after))
    print(f"load average before {before}, after {after}")
    full = statistics.median(times["full (history + holds read)"])
    for name, values in times.items():
        med = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        delta = ""
        if med != full:
            delta = f"  (full − this: {1e6 * (full - med):+.0f} µs, {100 * (full - med) / full:+.1f} %)"
        print(f"{name:<30} median {1e6 * med:7.0f} µs  p90 {1e6 * p90:7.0f} µs{delta}")
        print(f"{'':<30} this process's CPU per call: mean {1e6 * statistics.fmean(cpu[name]):6.0f} µs")
    print(f"history rows appended: {Operation.objects.count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
