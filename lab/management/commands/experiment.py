"""``manage.py experiment``: conflict, unfair, refused, stolen-hold, zombie-hold and commit-wait measures per
workload, scenario and mode, and against one node's lag, each as a mean with a 95 % confidence
interval over a list of seeds (engine in ``lab.experiments``, report in ``lab.experiment_report``)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from core.commands import USAGE_ERROR, ServiceCommand, int_in, number_in
from core.ids import shown
from core.timefmt import iso_utc
from lab import experiment_report, experiments
from timesync import clock

#: Bounds of the options (argument validation: a finite run, no overflow in the engine's
#: exponential draws): a virtual day at most, 100 retries, 1,000 seeds, 100 lags.
MAX_VIRTUAL_SECONDS = 86400.0
MAX_RATE = 10_000.0
MAX_ZIPF = 10.0
MAX_RETRIES = 100
MAX_SEEDS = 1000
MAX_SKEWS = 100
MAX_JOBS = 256


def parse_seeds(text: str) -> tuple[int, ...]:
    """``1-10``, ``1,2,7`` or ``1-5,9``: distinct integers, in the order given, at most
    :data:`MAX_SEEDS` of them (``1-99999999999`` is refused before any list is built)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            values = range(int(low), int(high) + 1) if dash else range(int(low), int(low) + 1)
        except ValueError:
            raise experiments.ExperimentInputError(
                f"--seeds takes integers and ranges such as 1-10, not {shown(text)!r}"
            ) from None
        if len(seeds) + len(values) > MAX_SEEDS:
            raise experiments.ExperimentInputError(
                f"--seeds names more than {MAX_SEEDS} seeds; each seed is a full run, give fewer"
            )
        seeds.extend(values)
    if not seeds or len(set(seeds)) != len(seeds):
        raise experiments.ExperimentInputError(f"--seeds must name distinct seeds, not {shown(text)!r}")
    return tuple(seeds)


def _check_writable(out_dir: Path) -> None:
    """A usage error (exit 2) unless ``out_dir`` is, or can be made, a writable directory."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise PermissionError(f"{out_dir} is not writable")
    except OSError as exc:
        raise CommandError(f"--out: cannot write in {out_dir}: {exc}", returncode=USAGE_ERROR) from exc


def _seed_text(seeds: tuple[int, ...]) -> str:
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def _cell(measure: experiment_report.Measure, mean: str, ci: str) -> str:
    if mean == "":
        return "—"
    if measure.percent:
        return f"{100 * float(mean):.1f}" + (f"±{100 * float(ci):.1f}" if ci else "") + "%"
    return f"{measure.shown(float(mean)):.1f}" + (f"±{measure.shown(float(ci)):.1f}" if ci else "") + measure.unit


#: What the summary table's columns mean (docs/experiments.md has the full definitions).
#: What the summary table's columns mean (docs/experiments.md has the full definitions).
COLUMNS = """\
  each figure: mean over the seeds ± half-width of its 95 % confidence interval (Student's t); — undefined
  Conflict rate     sales that double-booked their seat, per seat sold     Unfair rate  those whose seat
                    went to the customer who truly came second, per seat sold
  Refused rate      refusals of a fenced node (503), per attempt
  Stolen-hold rate  holds whose seat went to another customer while they were live in true time, per hold
  Zombie-hold seat-s  seconds holds stayed live on some unfenced node after their true end, per trial
  Commit-wait latency  ms each acknowledged write waited (seat lock held) before its answer: commit_wait
                    only; nodes synced every --resync s (error bound --sync-error), ε growing at the
                    assumed drift in between"""


class Command(ServiceCommand):
    help = (
        "Replay seeded workloads of customers (reserving, or holding then confirming) in virtual time through "
        "the reservation rule, for every stored scenario and for one node lagging by 0…30 s, under each "
        "consistency mode, for each seed (default 1-10, in parallel processes); write trials.csv, summary.csv "
        "(means with 95 % confidence intervals), report.json and one plot per measure (default: "
        "DATA_DIR/experiments). The user's data is never written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        w = experiments.Workload()
        q = experiments.QUICK
        seeds = parser.add_mutually_exclusive_group()
        seeds.add_argument(
            "--seeds", help="Seeds, e.g. 1-10 or 1,4,9 (default 1-10; --quick 1-3). One seed list, one output."
        )
        seeds.add_argument("--seed", type=int, help="A single seed (no confidence interval).")
        seconds = number_in(0, MAX_VIRTUAL_SECONDS)
        parser.add_argument(
            "--rate",
            type=number_in(0, MAX_RATE, low_open=True),
            help=f"Customer arrivals per virtual second (default {w.rate:g}).",
        )
        parser.add_argument(
            "--duration",
            type=number_in(0, MAX_VIRTUAL_SECONDS, low_open=True),
            help=f"Virtual seconds during which customers arrive (default {w.duration:g}).",
        )
        parser.add_argument("--seats", type=int, help=f"Seats of the experiment's own venue (default {w.seats}).")
        parser.add_argument(
            "--retries", type=int_in(0, MAX_RETRIES), help=f"Attempts after a refusal (default {w.retries})."
        )
        parser.add_argument(
            "--think", type=seconds, help=f"Mean seconds from looking at the map to submitting (default {w.think:g})."
        )
        parser.add_argument(
            "--zipf",
            type=number_in(0, MAX_ZIPF),
            help=f"Popularity exponent: seat k has weight 1/k^s (default {w.zipf_exponent:g}).",
        )
        parser.add_argument("--hold-ttl", type=int, help=f"Seconds a hold lasts (default {w.hold_ttl}).")
        parser.add_argument("--pay", type=seconds, help=f"Mean seconds from hold to confirmation (default {w.pay:g}).")
        parser.add_argument(
            "--abandon", type=number_in(0, 1), help=f"Share of holders who never confirm (default {w.abandon:g})."
        )
        parser.add_argument(
            "--sync-error",
            type=seconds,
            help=f"Error bound, in seconds, of every node's sync at the start of a trial: commit_wait's ε starts "
            f"there and grows at the assumed drift (default {w.sync_error:g}).",
        )
        parser.add_argument(
            "--resync",
            type=seconds,
            help=f"Seconds between two syncs of every node, each with that error bound (ε back to it; the "
            f"offsets stay: they are faults the sync does not see); 0: only at the start (default {w.resync:g}).",
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"A small run: rate {q['rate']:g}, duration {q['duration']:g}, {q['seats']} seats, seeds 1-3 "
            "(explicit options win).",
        )
        parser.add_argument(
            "--workloads", default=",".join(experiments.WORKLOADS), help="Comma-separated workloads (default: both)."
        )
        parser.add_argument(
            "--modes", default=",".join(experiments.MODES), help="Comma-separated modes (default: all four)."
        )
        parser.add_argument("--scenarios", help="Comma-separated stored scenarios (default: every stored one).")
        parser.add_argument(
            "--skews",
            default=",".join(f"{s:g}" for s in experiments.DEFAULT_SKEWS),
            help="Comma-separated lags in seconds for the skew sweep, or 'none' (default: %(default)s).",
        )
        parser.add_argument("--skew-node", help="The node that lags in the skew sweep (default: the second node).")
        parser.add_argument(
            "--engine",
            choices=experiments.ENGINES,
            default="fast",
            help="'fast': the rule's decisions on rows in memory (default); 'rule': every attempt through the "
            "services in a private database (about 30 times slower; the same outcomes, a test checks it).",
        )
        parser.add_argument(
            "--store",
            choices=experiments.STORES,
            default="auto",
            help="The rule engine's private database: 'memory' (in-memory SQLite), 'database' (PostgreSQL "
            "temporary tables); 'auto' picks 'database' on PostgreSQL, else 'memory'.",
        )
        parser.add_argument("--jobs", type=int_in(0, MAX_JOBS), default=0, help="Processes (default: one per core).")
        parser.add_argument("--out", type=Path, help="Output directory (default: DATA_DIR/experiments).")
        parser.add_argument("--no-plot", action="store_true", help="Write the CSVs and JSON only.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (none anyway without a TTY).")

    def handle(self, *args, **opts):
        config = self._config(opts)
        out_dir = opts["out"] or experiment_report.experiments_dir()
        _check_writable(out_dir)  # before the run, not after minutes of it
        show_bar = not opts["no_progress"] and self.stdout.isatty()
        bar = tqdm(total=0, unit="seed", desc="experiment", disable=not show_bar, file=self.stderr._out)
        try:
            result = experiments.experiment_run(
                config, on_start=lambda n: bar.reset(total=n), on_seed=lambda _seed: bar.update(1)
            )
        except experiments.ExperimentInputError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR)
        finally:
            bar.close()
        try:
            meta = experiment_report.report_write(
                result,
                out_dir,
                generated_at=iso_utc(clock.reference_now()),
                command=self._command_line(opts, config),
                plot=not opts["no_plot"],
            )
        except OSError as exc:
            raise CommandError(f"cannot write the report in {out_dir}: {exc}", returncode=USAGE_ERROR) from exc
        self._summary(result, out_dir, meta)

    def _config(self, opts) -> experiments.ExperimentConfig:
        defaults = experiments.Workload()
        preset = experiments.QUICK if opts["quick"] else {}

        def pick(option: str, field: str):
            if opts[option] is not None:
                return opts[option]
            return preset.get(field, getattr(defaults, field))

        try:
            if opts["seed"] is not None:
                seeds: tuple[int, ...] = (opts["seed"],)
            elif opts["seeds"] is not None:
                seeds = parse_seeds(opts["seeds"])
            else:
                seeds = experiments.QUICK_SEEDS if opts["quick"] else experiments.DEFAULT_SEEDS
            workload = experiments.Workload(
                rate=pick("rate", "rate"),
                duration=pick("duration", "duration"),
                seats=pick("seats", "seats"),
                retries=pick("retries", "retries"),
                think=pick("think", "think"),
                zipf_exponent=pick("zipf", "zipf_exponent"),
                hold_ttl=pick("hold_ttl", "hold_ttl"),
                pay=pick("pay", "pay"),
                abandon=pick("abandon", "abandon"),
                sync_error=pick("sync_error", "sync_error"),
                resync=pick("resync", "resync"),
            )
            modes = tuple(m.strip() for m in opts["modes"].split(",") if m.strip())
            if not modes:
                raise experiments.ExperimentInputError("--modes names no mode")
            workloads = tuple(w.strip() for w in opts["workloads"].split(",") if w.strip())
            scenarios = None
            if opts["scenarios"] is not None:
                scenarios = tuple(s.strip() for s in opts["scenarios"].split(",") if s.strip())
            skews: tuple[float, ...] = ()
            if opts["skews"].strip().lower() not in {"", "none"}:
                try:
                    skews = tuple(float(s) for s in opts["skews"].split(",") if s.strip())
                except ValueError:
                    raise experiments.ExperimentInputError(
                        f"--skews must be comma-separated numbers of seconds, not {shown(opts['skews'])!r}"
                    )
                if len(skews) > MAX_SKEWS:
                    raise experiments.ExperimentInputError(f"--skews lists more than {MAX_SKEWS} lags")
        except experiments.ExperimentInputError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR)
        return experiments.ExperimentConfig(
            workload=workload,
            seeds=seeds,
            modes=modes,
            workloads=workloads,
            scenarios=scenarios,
            skews=skews,
            skew_node=opts["skew_node"],
            engine=opts["engine"],
            store=opts["store"],
            jobs=opts["jobs"],
        )

    @staticmethod
    def _command_line(opts, config: experiments.ExperimentConfig) -> str:
        w = config.workload
        parts = [
            "manage.py experiment",
            f"--seeds {_seed_text(config.seeds)}",
            f"--rate {w.rate:g} --duration {w.duration:g} --seats {w.seats}",
            f"--think {w.think:g} --retries {w.retries} --zipf {w.zipf_exponent:g}",
            f"--hold-ttl {w.hold_ttl} --pay {w.pay:g} --abandon {w.abandon:g}",
            f"--sync-error {w.sync_error:g} --resync {w.resync:g}",
        ]
        if opts["workloads"] != ",".join(experiments.WORKLOADS):
            parts.append(f"--workloads {shlex.quote(opts['workloads'])}")
        if opts["modes"] != ",".join(experiments.MODES):
            parts.append(f"--modes {shlex.quote(opts['modes'])}")
        if opts["scenarios"] is not None:
            parts.append(f"--scenarios {shlex.quote(opts['scenarios'])}")
        parts.append(f"--skews {shlex.quote(','.join(f'{s:g}' for s in config.skews) or 'none')}")
        if opts["skew_node"]:
            parts.append(f"--skew-node {shlex.quote(opts['skew_node'])}")
        if config.engine != "fast":
            parts.append(f"--engine {config.engine}")
        return " ".join(parts)

    def _summary(self, result: experiments.ExperimentResult, out_dir: Path, meta: dict) -> None:
        w, config = result.config.workload, result.config
        customers = sorted(result.customers.values())
        self.stdout.write(
            f"Seeds {_seed_text(config.seeds)} ({len(config.seeds)}): {customers[0]}–{customers[-1]} customers "
            f"per seed "
            f"({w.rate:g}/s for {w.duration:g} virtual s), {w.seats} seats, think {w.think:g} s, {w.retries} retries; "
            f"holds {w.hold_ttl} s, pay {w.pay:g} s, {w.abandon:.0%} abandon; "
            f"sync error {w.sync_error:g} s every {w.resync:g} s; "
            f"engine {result.engine}" + (f" ({result.store}, {result.vendor})" if result.engine == "rule" else "")
        )
        measures = experiment_report.MEASURES
        header = f"{'workload':<8} {'':<22} {'mode':<13}" + "".join(f" {str(m.title)[:19]:>19}" for m in measures)
        self.stdout.write(header)
        for row in experiment_report.summarize(result):
            cells = row.cells()
            label = cells["scenario"] or f"{cells['skew_node']} lag {float(cells['skew_seconds']):g} s"
            figures = "".join(f" {_cell(m, cells[f'{m.name}_mean'], cells[f'{m.name}_ci95']):>19}" for m in measures)
            self.stdout.write(f"{cells['workload']:<8} {label:<22} {cells['mode']:<13}{figures}")
        self.stdout.write(COLUMNS)
        self.stdout.write(
            f"{len(result.results)} trials, {result.attempts} attempts in {result.wall_seconds:.1f} s of wall time "
            f"({result.attempts_per_second or 0:.0f} attempts/s, {result.jobs} process(es))."
        )
        files = [meta["files"]["trials"], meta["files"]["summary"], meta["files"]["json"]]
        files += list(meta["files"]["plots"].values())
        self.stdout.write(self.style.SUCCESS(f"Wrote {', '.join(files)} in {out_dir}"))
