"""``manage.py experiment``: conflict, unfair and refused rates per scenario and mode, and against
one node's lag, from a virtual-time workload (engine in ``lab.experiments``)."""

from __future__ import annotations

import shlex
from pathlib import Path

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from core.commands import USAGE_ERROR, ServiceCommand
from core.timefmt import iso_utc
from lab import experiment_report, experiments
from timesync import clock


def _number(value: str) -> float:
    return float(value)


_number.__name__ = "number"


def _percent(value: str) -> str:
    return "     -" if value == "" else f"{100 * float(value):5.1f}%"


#: What the summary table's columns mean (docs/experiments.md has the full definitions).
COLUMNS = """\
  attempts  reservation requests sent    201 accepted    409 refused: the node saw a holder
  503       refused: the node was fenced (bounded mode)
  confl.    accepted reservations that double-booked their seat; unfair: those whose seat went to
            the customer who truly came second (timestamp winner is not the true first)
  confl.%, unfair%  per accepted reservation    refus.%  503s per attempt
  contd.%   attempts on a seat someone truly held already (409s + conflicts), per attempt"""


class Command(ServiceCommand):
    help = (
        "Replay a Poisson workload of customers in virtual time through the reservation rule, for every "
        "stored scenario and for one node lagging by 0…30 s, under each consistency mode; write report.csv, "
        "report.json and report.png (default: DATA_DIR/experiments). The user's data is never written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        w = experiments.Workload()
        q = experiments.QUICK
        parser.add_argument("--seed", type=int, help="Seed of the workload; the same seed gives the same CSV.")
        parser.add_argument("--rate", type=_number, help=f"Customer arrivals per virtual second (default {w.rate:g}).")
        parser.add_argument(
            "--duration", type=_number, help=f"Virtual seconds during which customers arrive (default {w.duration:g})."
        )
        parser.add_argument("--seats", type=int, help=f"Seats of the experiment's own venue (default {w.seats}).")
        parser.add_argument("--retries", type=int, help=f"Attempts after a refusal (default {w.retries}).")
        parser.add_argument(
            "--think", type=_number, help=f"Mean seconds from looking at the map to submitting (default {w.think:g})."
        )
        parser.add_argument(
            "--zipf", type=_number, help=f"Popularity exponent: seat k has weight 1/k^s (default {w.zipf_exponent:g})."
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"A small run: rate {q['rate']:g}, duration {q['duration']:g}, {q['seats']} seats "
            "(explicit options win).",
        )
        parser.add_argument(
            "--modes", default=",".join(experiments.MODES), help="Comma-separated modes (default: all three)."
        )
        parser.add_argument("--scenarios", help="Comma-separated stored scenarios (default: every stored one).")
        parser.add_argument(
            "--skews",
            default=",".join(f"{s:g}" for s in experiments.DEFAULT_SKEWS),
            help="Comma-separated lags in seconds for the skew sweep, or 'none' (default: %(default)s).",
        )
        parser.add_argument("--skew-node", help="The node that lags in the skew sweep (default: the second node).")
        parser.add_argument(
            "--store",
            choices=experiments.STORES,
            default="auto",
            help="Where trials run: 'memory' (private in-memory SQLite), 'database' (PostgreSQL temporary "
            "tables); 'auto' picks 'database' on PostgreSQL, else 'memory'.",
        )
        parser.add_argument("--out", type=Path, help="Output directory (default: DATA_DIR/experiments).")
        parser.add_argument("--no-plot", action="store_true", help="Write the CSV and JSON only.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (none anyway without a TTY).")

    def handle(self, *args, **opts):
        config = self._config(opts)
        out_dir = opts["out"] or experiment_report.experiments_dir()
        show_bar = not opts["no_progress"] and self.stdout.isatty()
        bar = tqdm(total=0, unit="customer", desc="experiment", disable=not show_bar, file=self.stderr._out)

        def on_start(total: int) -> None:
            bar.reset(total=total)

        try:
            result = experiments.experiment_run(config, on_start=on_start, on_customer=lambda: bar.update(1))
        except experiments.ExperimentInputError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR)
        finally:
            bar.close()
        meta = experiment_report.report_write(
            result,
            out_dir,
            generated_at=iso_utc(clock.reference_now()),
            command=self._command_line(opts, config),
            plot=not opts["no_plot"],
        )
        self._summary(result, out_dir, meta)

    def _config(self, opts) -> experiments.ExperimentConfig:
        defaults = experiments.Workload()
        preset = experiments.QUICK if opts["quick"] else {}

        def pick(option: str, field: str):
            if opts[option] is not None:
                return opts[option]
            return preset.get(field, getattr(defaults, field))

        seed = opts["seed"]
        if seed is None:
            seed = experiments.random_seed()
        try:
            workload = experiments.Workload(
                rate=pick("rate", "rate"),
                duration=pick("duration", "duration"),
                seats=pick("seats", "seats"),
                retries=pick("retries", "retries"),
                think=pick("think", "think"),
                zipf_exponent=pick("zipf", "zipf_exponent"),
            )
            modes = tuple(m.strip() for m in opts["modes"].split(",") if m.strip())
            if not modes:
                raise experiments.ExperimentInputError("--modes names no mode")
            scenarios = None
            if opts["scenarios"] is not None:
                scenarios = tuple(s.strip() for s in opts["scenarios"].split(",") if s.strip())
            skews: tuple[float, ...] = ()
            if opts["skews"].strip().lower() not in {"", "none"}:
                try:
                    skews = tuple(float(s) for s in opts["skews"].split(",") if s.strip())
                except ValueError:
                    raise experiments.ExperimentInputError(
                        f"--skews must be comma-separated numbers of seconds, not {opts['skews']!r}"
                    )
        except experiments.ExperimentInputError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR)
        return experiments.ExperimentConfig(
            workload=workload,
            seed=seed,
            modes=modes,
            scenarios=scenarios,
            skews=skews,
            skew_node=opts["skew_node"],
            store=opts["store"],
        )

    @staticmethod
    def _command_line(opts, config: experiments.ExperimentConfig) -> str:
        w = config.workload
        parts = [
            "manage.py experiment",
            f"--seed {config.seed}",
            f"--rate {w.rate:g} --duration {w.duration:g} --seats {w.seats}",
            f"--think {w.think:g} --retries {w.retries} --zipf {w.zipf_exponent:g}",
        ]
        if opts["modes"] != ",".join(experiments.MODES):
            parts.append(f"--modes {shlex.quote(opts['modes'])}")
        if opts["scenarios"] is not None:
            parts.append(f"--scenarios {shlex.quote(opts['scenarios'])}")
        parts.append(f"--skews {shlex.quote(','.join(f'{s:g}' for s in config.skews) or 'none')}")
        if opts["skew_node"]:
            parts.append(f"--skew-node {shlex.quote(opts['skew_node'])}")
        return " ".join(parts)

    def _summary(self, result: experiments.ExperimentResult, out_dir: Path, meta: dict) -> None:
        w = result.config.workload
        self.stdout.write(
            f"Seed {result.config.seed}: {result.customers} customers ({w.rate:g}/s for {w.duration:g} virtual s), "
            f"{w.seats} seats, think {w.think:g} s, {w.retries} retries; store {result.store} ({result.vendor})"
        )
        header = (
            f"{'':<24} {'mode':<13} {'attempts':>8} {'201':>6} {'409':>6} {'503':>6} {'confl.':>6} {'unfair':>6}"
            f" {'confl.%':>7} {'unfair%':>7} {'refus.%':>7} {'contd.%':>7}"
        )
        self.stdout.write(header)
        for result_row in result.results:
            row = experiment_report.trial_row(result_row)
            label = row["scenario"] or f"{row['skew_node']} lag {float(row['skew_seconds']):g} s"
            self.stdout.write(
                f"{label:<24} {row['mode']:<13} {row['attempts']:>8} {row['accepted']:>6} {row['refused_seen']:>6}"
                f" {row['refused_fenced']:>6} {row['conflicts']:>6} {row['unfair']:>6}"
                f" {_percent(row['conflict_rate']):>7} {_percent(row['unfair_rate']):>7}"
                f" {_percent(row['refused_rate']):>7} {_percent(row['contended_rate']):>7}"
            )
        self.stdout.write(COLUMNS)
        self.stdout.write(
            f"{result.attempts} attempts in {result.wall_seconds:.1f} s of wall time "
            f"({result.attempts_per_second or 0:.0f} attempts/s)."
        )
        files = [
            meta["files"]["csv"],
            meta["files"]["json"],
            *([meta["files"]["plot"]] if meta["files"]["plot"] else []),
        ]
        self.stdout.write(self.style.SUCCESS(f"Wrote {', '.join(files)} in {out_dir}"))
