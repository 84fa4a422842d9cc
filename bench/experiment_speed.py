"""Speed of the experiment engine: the default sweep over ten seeds, and attempts per second of
wall time for each engine.

1. The default sweep (both workloads, every stored scenario and the skew sweep, the four modes;
   the default workload) for seeds 1–10 with the fast engine, on every core and on one — the
   figure ``manage.py experiment`` is held to (≤ 60 s on this 2-core machine).
2. Attempts per second of each engine on the scenario trials of one seed: ``fast`` (the rule's
   decisions on rows in memory) and ``rule`` (every attempt through the services) in each private
   store the database allows (``memory``; ``database`` — temporary tables — on PostgreSQL).

The load average is printed with each figure: the machine is shared.

Usage (from the repository root; the database must be migrated)::

    .venv/bin/python bench/experiment_speed.py [--seeds 1-10] [--repeat 1]
    DATABASE_URL=postgres://… .venv/bin/python bench/experiment_speed.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import DEFAULT_DB_ALIAS, connections  # noqa: E402

from lab import experiments  # noqa: E402
from lab.management.commands.experiment import parse_seeds  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    workload = experiments.Workload()
    print(f"database {vendor}; {os.cpu_count()} cores; workload {workload}")

    print("\n| sweep | seeds | processes | trials | attempts | wall | attempts/s | load before → after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for jobs in (0, 1):
        for _ in range(args.repeat):
            before = load()
            result = experiments.experiment_run(experiments.ExperimentConfig(workload=workload, seeds=seeds, jobs=jobs))
            print(
                f"| default, both workloads | {len(seeds)} | {result.jobs} | {len(result.results)} | {result.attempts} "
                f"| {result.wall_seconds:.1f} s | {result.attempts_per_second:.0f} | {before} → {load()} |"
            )

    print("\n| engine | store | trials | attempts | wall | attempts/s | load before → after |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    engines = [("fast", "auto"), ("rule", "memory")] + ([("rule", "database")] if vendor == "postgresql" else [])
    for engine, store in engines:
        before = load()
        config = experiments.ExperimentConfig(
            workload=workload, seeds=seeds[:1], skews=(), engine=engine, store=store, jobs=1
        )
        result = experiments.experiment_run(config)
        print(
            f"| {engine} | {store if engine == 'rule' else 'in memory'} | {len(result.results)} | {result.attempts} "
            f"| {result.wall_seconds:.2f} s | {result.attempts_per_second:.0f} | {before} → {load()} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
