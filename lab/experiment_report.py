"""The experiment's report, written to ``DATA_DIR/experiments`` by default, and read back for the
``/experiments`` page:

- ``trials.csv``: one row per seed × trial (counts and measures);
- ``summary.csv``: one row per trial over the seeds — each measure's mean, the half-width of its
  95 % confidence interval (Student's t, n − 1 degrees of freedom) and n;
- ``report.json``: the seed list, the parameters, the scenarios' offsets, wall time, load average;
- ``plot-<measure>.png``: one figure per measure (scenarios × modes, and the skew sweep), with
  the intervals as error bars.

Both CSVs are pure functions of the seed list and the parameters: no ids, no wall-clock times,
every number formatted explicitly (counts as integers, rates with 6 decimals, seconds with 3),
so one seed list gives byte-identical files whatever the number of processes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from timesync.consistency import assumed_drift_ppm, fence_limit, max_clock_offset

from .experiments import CANDIDATES, VIRTUAL_START, WORKLOADS, ExperimentResult, Trial, TrialResult

TRIALS_NAME, SUMMARY_NAME, JSON_NAME = "trials.csv", "summary.csv", "report.json"


@dataclass(frozen=True)
class Measure:
    """A measure of a trial: ``name`` is a :class:`TrialResult` property; ``percent``: a rate
    shown as a percentage (else seconds); ``workloads``: where it is defined.  Seconds are
    written with ``decimals`` decimals in the CSVs and shown × ``scale`` in ``unit`` (``axis``:
    the plot's label)."""

    name: str
    title: str | Promise
    definition: str | Promise
    percent: bool = True
    workloads: tuple[str, ...] = WORKLOADS
    decimals: int = 3
    scale: float = 1.0
    unit: str = "s"
    axis: str = "seat-seconds"

    @property
    def plot_name(self) -> str:
        return f"plot-{self.name.replace('_', '-')}.png"

    def shown(self, value: float) -> float:
        """``value`` in the unit it is shown in (percent, or ``unit``)."""
        return 100 * value if self.percent else self.scale * value


#: The measures with an interval over the seeds, in the report's order.
MEASURES: tuple[Measure, ...] = (
    Measure("conflict_rate", _("Conflict rate"), _("sales that double-booked their seat / seats sold")),
    Measure(
        "unfair_rate",
        _("Unfair rate"),
        _("conflicts whose timestamp winner did not truly come first / seats sold"),
    ),
    Measure("refused_rate", _("Refused rate"), _("refusals of a fenced node (503) / attempts")),
    Measure(
        "stolen_hold_rate",
        _("Stolen-hold rate"),
        _("holds whose seat went to another customer while they were live in true time / holds granted"),
        workloads=("hold",),
    ),
    Measure(
        "zombie_seat_seconds",
        _("Zombie-hold seat-seconds"),
        _("seconds a hold stayed live on some unfenced node after its true end, summed over holds (per trial)"),
        percent=False,
        workloads=("hold",),
    ),
    Measure(
        "commit_wait_latency",
        _("Commit-wait latency"),
        _("seconds each acknowledged write waited, seat lock held, before its answer (commit_wait; 0 elsewhere)"),
        percent=False,
        decimals=6,
        scale=1000.0,
        unit="ms",
        axis="ms per write",
    ),
)

#: What the spec's simulation guide claimed for the conflict rate of each scenario (naive nodes).
GUIDE_CLAIMS = {"minor_drift": "< 5 %", "major_drift": "20–30 %", "extreme_drift": "> 50 %"}

COUNT_COLUMNS = (
    "customers",
    "attempts",
    "accepted",
    "refused_seen",
    "refused_held",
    "refused_fenced",
    "gave_up",
    "sold_out",
    "conflicts",
    "unfair",
    "double_booked_seats",
    "seats_sold",
    "holds",
    "confirmed",
    "expired_confirms",
    "stolen_confirms",
    "released",
    "stolen_holds",
    "double_sales",
    "inversions",
    "stale_acceptances",
    "stale_refusals",
    "writes",
    "commit_wait_us",
    "lock_wait_us",
)
KEY_COLUMNS = ("workload", "sweep", "scenario", "skew_node", "skew_seconds", "mode")
TRIAL_MEASURES = (*(m.name for m in MEASURES), "contended_rate")
TRIAL_COLUMNS = ("seed", *KEY_COLUMNS, *COUNT_COLUMNS, *TRIAL_MEASURES)
SUMMARY_COLUMNS = (
    *KEY_COLUMNS,
    "seeds",
    *(f"{m.name}_{part}" for m in MEASURES for part in ("mean", "ci95", "n")),
)

# Two-sided 95 % quantiles of Student's t by degrees of freedom (NIST/SEMATECH e-Handbook of
# Statistical Methods, table 1.3.6.7.2); between tabulated values the smaller df is used
# (a slightly wider, conservative interval); beyond 120, the normal 1.960.
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
    20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
    29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip


def t95(df: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``df`` degrees of freedom (df ≥ 1)."""
    if df > 120:
        return 1.960
    return _T95[max(k for k in _T95 if k <= df)]


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` seeds and the half-width of its 95 % confidence interval (``None``
    below two values)."""

    mean: float | None
    ci95: float | None
    n: int


def estimate(values: Sequence[float]) -> Estimate:
    """Mean ± t(0.975, n − 1) · s / √n of ``values`` (the seeds' results of one trial)."""
    n = len(values)
    if n == 0:
        return Estimate(None, None, 0)
    mean = statistics.fmean(values)
    if n < 2:
        return Estimate(mean, None, 1)
    return Estimate(mean, t95(n - 1) * statistics.stdev(values) / math.sqrt(n), n)


def experiments_dir() -> Path:
    """Where reports go by default: ``DATA_DIR/experiments``."""
    return Path(settings.SEATCLOCK_DATA_DIR) / "experiments"


def _number(value: float | None, percent: bool = True, decimals: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.6f}" if percent else f"{value:.{decimals}f}"


def key_cells(trial: Trial) -> dict[str, str]:
    return {
        "workload": trial.workload,
        "sweep": trial.sweep,
        "scenario": trial.label if trial.sweep == "scenario" else "",
        "skew_node": trial.label if trial.sweep == "skew" else "",
        "skew_seconds": f"{trial.skew:.3f}" if trial.skew is not None else "",
        "mode": trial.mode,
    }


_FORMAT = {m.name: (m.percent, m.decimals) for m in MEASURES} | {"contended_rate": (True, 6)}


def trial_row(result: TrialResult) -> dict[str, str]:
    row = {"seed": str(result.seed), **key_cells(result.trial)}
    row.update({column: str(int(getattr(result, column))) for column in COUNT_COLUMNS})
    row.update({column: _number(getattr(result, column), *_FORMAT[column]) for column in TRIAL_MEASURES})
    return row


@dataclass
class SummaryRow:
    trial: Trial
    seeds: int
    estimates: dict[str, Estimate]

    def cells(self) -> dict[str, str]:
        row = {**key_cells(self.trial), "seeds": str(self.seeds)}
        for m in MEASURES:
            e = self.estimates[m.name]
            row[f"{m.name}_mean"] = _number(e.mean, m.percent, m.decimals)
            row[f"{m.name}_ci95"] = _number(e.ci95, m.percent, m.decimals)
            row[f"{m.name}_n"] = str(e.n)
        return row


def summarize(experiment: ExperimentResult) -> list[SummaryRow]:
    """One row per trial (in the run's order): every measure's estimate over the seeds."""
    groups: dict[tuple, list[TrialResult]] = {}
    for result in experiment.results:
        groups.setdefault(result.trial.key, []).append(result)
    rows = []
    for results in groups.values():
        estimates = {}
        for m in MEASURES:
            values = [v for r in results if (v := getattr(r, m.name)) is not None]
            estimates[m.name] = estimate(values)
        rows.append(SummaryRow(results[0].trial, len(results), estimates))
    return rows


def _csv(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def trials_csv(experiment: ExperimentResult) -> str:
    return _csv(TRIAL_COLUMNS, [trial_row(r) for r in experiment.results])


def summary_csv(experiment: ExperimentResult) -> str:
    return _csv(SUMMARY_COLUMNS, [row.cells() for row in summarize(experiment)])


def report_metadata(experiment: ExperimentResult, *, generated_at: str, command: str = "") -> dict[str, Any]:
    config, workload = experiment.config, experiment.config.workload
    return {
        "seeds": list(config.seeds),
        "command": command,
        "parameters": {
            "rate": workload.rate,
            "duration": workload.duration,
            "seats": workload.seats,
            "retries": workload.retries,
            "think": workload.think,
            "zipf_exponent": workload.zipf_exponent,
            "hold_ttl": workload.hold_ttl,
            "pay": workload.pay,
            "abandon": workload.abandon,
            "release": workload.release,
            "sync_error": workload.sync_error,
            "resync": workload.resync,
            "assumed_drift_ppm": assumed_drift_ppm(),
            "candidates": CANDIDATES,
            "workloads": list(config.workloads),
            "modes": list(config.modes),
            "scenarios": list(experiment.scenarios),
            "skews": list(config.skews),
            "skew_node": experiment.skew_node,
            "max_clock_offset": max_clock_offset(),
            "fence_limit": fence_limit(),
            "virtual_start": VIRTUAL_START.isoformat(),
        },
        "scenarios": {
            name: {node: {"offset_seconds": o, "drift_ppm": d} for node, (o, d) in offsets.items()}
            for name, offsets in experiment.scenarios.items()
        },
        "measures": [
            {"name": m.name, "title": str(m.title), "definition": str(m.definition), "percent": m.percent}
            for m in MEASURES
        ],
        "guide_claims": GUIDE_CLAIMS,
        "nodes": experiment.node_ids,
        "engine": experiment.engine,
        "store": experiment.store if experiment.engine == "rule" else None,
        "database": experiment.vendor,
        "jobs": experiment.jobs,
        "cpu_count": os.cpu_count(),
        "customers": {str(seed): n for seed, n in experiment.customers.items()},
        "trials": len(experiment.results),
        "attempts": experiment.attempts,
        "wall_seconds": round(experiment.wall_seconds, 3),
        "attempts_per_second": round(experiment.attempts_per_second or 0.0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "generated_at": generated_at,
        "files": {"trials": TRIALS_NAME, "summary": SUMMARY_NAME, "json": JSON_NAME, "plots": {}},
    }


# --- Plots ---------------------------------------------------------------------------------------

MODE_COLORS = {"naive": "#c0392b", "bounded": "#2471a3", "serializable": "#1e8449", "commit_wait": "#8e44ad"}
MODE_MARKERS = {"naive": "o", "bounded": "s", "serializable": "^", "commit_wait": "D"}
WORKLOAD_STYLES = {"reserve": {"linestyle": "-", "hatch": ""}, "hold": {"linestyle": "--", "hatch": "//"}}


def _scale(measure: Measure, value: float | None) -> float:
    return 0.0 if value is None else measure.shown(value)


def report_plot(experiment: ExperimentResult, measure: Measure, rows: list[SummaryRow], path: Path) -> bool:
    """One measure: mean and 95 % interval per scenario × mode (bars), and against the skew
    node's lag (lines), per workload.  False (nothing written) when no trial defines it."""
    rows = [r for r in rows if r.trial.workload in measure.workloads and r.estimates[measure.name].n]
    if not rows:
        return False
    # The object-oriented API only: no pyplot, no global backend state (Agg canvas, headless).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    config, workload = experiment.config, experiment.config.workload
    workloads = [w for w in config.workloads if w in measure.workloads]
    scenario_rows = [r for r in rows if r.trial.sweep == "scenario"]
    skew_rows = [r for r in rows if r.trial.sweep == "skew"]
    fig = Figure(figsize=(13, 4.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, width_ratios=[1, 1.2])
    unit = "%" if measure.percent else measure.axis

    ax = axes[0]
    scenarios = list(dict.fromkeys(r.trial.label for r in scenario_rows))
    series = [(w, m) for w in workloads for m in config.modes]
    width = 0.8 / max(1, len(series))
    for k, (w, m) in enumerate(series):
        xs, ys, errs = [], [], []
        for i, name in enumerate(scenarios):
            row = next(
                (r for r in scenario_rows if r.trial.label == name and r.trial.mode == m and r.trial.workload == w),
                None,
            )
            if row is None:
                continue
            e = row.estimates[measure.name]
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(_scale(measure, e.mean))
            errs.append(_scale(measure, e.ci95))
        if xs:
            ax.bar(
                xs, ys, width, yerr=errs, capsize=3, color=MODE_COLORS.get(m, "#777"), alpha=0.85,
                hatch=WORKLOAD_STYLES[w]["hatch"], edgecolor="white", label=f"{m} · {w}",
            )  # fmt: skip
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(unit)
    ax.set_title("Scenarios × modes (mean, 95 % interval)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    if series and scenario_rows:
        ax.legend(fontsize=8, ncol=2)

    ax = axes[1]
    if skew_rows:
        for w in workloads:
            for m in config.modes:
                points = sorted(
                    (r.trial.skew or 0.0, r.estimates[measure.name])
                    for r in skew_rows
                    if r.trial.mode == m and r.trial.workload == w and r.estimates[measure.name].n
                )
                if not points:
                    continue
                ax.errorbar(
                    [p[0] for p in points], [_scale(measure, p[1].mean) for p in points],
                    yerr=[_scale(measure, p[1].ci95) for p in points], capsize=3, linewidth=1.5,
                    color=MODE_COLORS.get(m, "#777"), marker=MODE_MARKERS.get(m, "o"),
                    linestyle=WORKLOAD_STYLES[w]["linestyle"], label=f"{m} · {w}",
                )  # fmt: skip
        ax.axvline(fence_limit(), color="#7f8c8d", linewidth=1, linestyle="-.")
        ax.set_xscale("symlog", linthresh=0.1, linscale=0.5)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"lag of {experiment.skew_node} (s, symlog); dash-dot: fence limit")
        ax.set_ylabel(unit)
        ax.set_title("Skew sweep: one node lags", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.set_axis_off()
    seeds = config.seeds
    seed_text = f"seeds {seeds[0]}–{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else "seeds"
    fig.suptitle(
        f"{measure.title} — {measure.definition}\n{seed_text} (n = {len(seeds)}): {workload.rate:g} arrivals/s for "
        f"{workload.duration:g} s, {workload.seats} seats, think {workload.think:g} s; holds {workload.hold_ttl} s, "
        f"pay {workload.pay:g} s",
        fontsize=10,
    )
    fig.savefig(path, format="png", metadata={"Software": None})
    return True


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def report_write(
    experiment: ExperimentResult, out_dir: Path, *, generated_at: str, command: str = "", plot: bool = True
) -> dict[str, Any]:
    """Write both CSVs, the plots (unless ``plot`` is false) and the JSON; returns the metadata.

    Each file is replaced atomically, the JSON last, so the page never reads half a report.
    Plots of an older run are removed: they would describe another run.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = report_metadata(experiment, generated_at=generated_at, command=command)
    _write_atomically(out_dir / TRIALS_NAME, trials_csv(experiment).encode())
    _write_atomically(out_dir / SUMMARY_NAME, summary_csv(experiment).encode())
    for old in out_dir.glob("plot-*.png"):
        old.unlink()
    for stale in ("report.csv", "report.png"):  # an older version's files
        (out_dir / stale).unlink(missing_ok=True)
    if plot:
        rows = summarize(experiment)
        for measure in MEASURES:
            tmp = out_dir / f".{measure.plot_name}.tmp"
            if report_plot(experiment, measure, rows, tmp):
                os.replace(tmp, out_dir / measure.plot_name)
                meta["files"]["plots"][measure.name] = measure.plot_name
    _write_atomically(out_dir / JSON_NAME, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode())
    return meta


# --- Reading the latest report (the /experiments page) -------------------------------------------


@dataclass
class LoadedReport:
    meta: dict[str, Any]
    rows: list[dict[str, str]] = field(default_factory=list)  # summary.csv
    plots: dict[str, Path] = field(default_factory=dict)  # measure name -> PNG


class ReportUnreadable(Exception):
    pass


def report_load(out_dir: Path | None = None) -> LoadedReport | None:
    """The report in ``out_dir`` (default :func:`experiments_dir`), or None when there is none.

    Raises ``ReportUnreadable`` when the files exist but cannot be read (or come from another
    version of Seatclock).
    """
    out_dir = experiments_dir() if out_dir is None else out_dir
    json_path, csv_path = out_dir / JSON_NAME, out_dir / SUMMARY_NAME
    if not json_path.is_file():
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        with csv_path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError) as exc:
        raise ReportUnreadable(f"{out_dir}: {exc}") from exc
    if not isinstance(meta, dict) or any(set(SUMMARY_COLUMNS) - set(row) for row in rows):
        raise ReportUnreadable(f"{out_dir}: not a report of this version of Seatclock")
    plots = {}
    for name, file in ((meta.get("files") or {}).get("plots") or {}).items():
        if isinstance(file, str) and (out_dir / file).is_file() and file == Path(file).name:
            plots[name] = out_dir / file
    return LoadedReport(meta=meta, rows=rows, plots=plots)
