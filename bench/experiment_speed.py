"""Speed of the experiment engine: simulated reservation attempts per second of wall time.

Runs the default workload (``lab.experiments.Workload()``, seed 1) over every stored
scenario, one consistency mode at a time, ``--repeat`` times, in each private store the
configured database allows (``memory`` always; ``database`` — temporary tables — on
PostgreSQL), and prints attempts/s per store and mode, the speed-up over real time (virtual
seconds replayed per wall second), what setting a store up costs, and the load average (the
machine may be shared).

Usage (from the repository root; the database must be migrated)::

    .venv/bin/python bench/experiment_speed.py [--repeat 3] [--seed 1]
    DATABASE_URL=postgres://… .venv/bin/python bench/experiment_speed.py

Every trial runs through ``reservation_create``, so the figure is the rule's own cost (three
to four ORM queries per attempt) plus the engine's bookkeeping.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, connections  # noqa: E402

from lab import experiments  # noqa: E402
from timesync import clock  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def store_setup_seconds(store: str, seats: int, node_ids: list[str]) -> float:
    started = clock.monotonic()
    with experiments.private_store(store, node_ids=node_ids, seats=seats):
        pass
    return clock.monotonic() - started


def migrate_in_memory_seconds() -> float:
    """What a full ``migrate`` of an in-memory SQLite database costs (the alternative to creating
    only the rule's tables)."""
    from django.db.utils import load_backend

    settings_dict = connections.configure_settings(
        {DEFAULT_DB_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )[DEFAULT_DB_ALIAS]
    private = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, DEFAULT_DB_ALIAS)
    previous = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = private
    try:
        started = clock.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        return clock.monotonic() - started
    finally:
        connections[DEFAULT_DB_ALIAS] = previous
        private.connection.close()
        private.connection = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    vendor = connections[DEFAULT_DB_ALIAS].vendor
    stores = ["memory", "database"] if vendor == "postgresql" else ["memory"]
    workload = experiments.Workload()
    print(f"database {vendor}; workload {workload}; seed {args.seed}; load average before: {load()}")
    node_ids, scenarios, _ = experiments.experiment_plan(
        experiments.ExperimentConfig(workload=workload, seed=args.seed, skews=())
    )
    for store in stores:
        setups = [store_setup_seconds(store, workload.seats, node_ids) for _ in range(args.repeat)]
        print(
            f"store {store}: setup (tables, {len(node_ids)} nodes, {workload.seats} seats) "
            f"median {1000 * statistics.median(setups):.1f} ms"
        )
    if vendor == "sqlite":
        print(f"for comparison, a full migrate of an in-memory database: {migrate_in_memory_seconds():.2f} s")

    rows = []
    for store in stores:
        for mode in experiments.MODES:
            speeds, attempts, walls = [], 0, []
            for _ in range(args.repeat):
                config = experiments.ExperimentConfig(
                    workload=workload, seed=args.seed, modes=(mode,), skews=(), store=store
                )
                result = experiments.experiment_run(config)
                speeds.append(result.attempts_per_second)
                walls.append(result.wall_seconds)
                attempts = result.attempts
            virtual = len(result.results) * workload.duration
            row = (
                store,
                mode,
                len(result.results),
                attempts,
                statistics.median(walls),
                statistics.median(speeds),
                min(speeds),
                max(speeds),
                virtual / statistics.median(walls),
                load(),
            )
            rows.append(row)
            print(
                f"{store:<8} {mode:<12} trials {row[2]} attempts {attempts:>5} wall {row[4]:6.2f} s  "
                f"{row[5]:7.1f} attempts/s (min {row[6]:.1f}, max {row[7]:.1f})  "
                f"×{row[8]:.0f} real time  load {row[9]}"
            )

    print()
    print(
        "| database | store | mode | trials | attempts | wall (median) | attempts/s median (min–max) "
        "| × real time | load average (1/5/15 min) |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for store, mode, trials, attempts, wall, med, lo, hi, speedup, avg in rows:
        print(
            f"| {vendor} | {store} | {mode} | {trials} | {attempts} | {wall:.2f} s | "
            f"{med:.0f} ({lo:.0f}–{hi:.0f}) | {speedup:.0f} | {avg} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
