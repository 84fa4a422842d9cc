"""The experiment's report: ``report.csv`` (one row per trial), ``report.json`` (metadata) and
``report.png`` (the skew sweep), written to ``DATA_DIR/experiments`` by default; and reading the
latest report back for the ``/experiments`` page.

The CSV is a pure function of the seed and the parameters: no ids, no wall-clock times, and
every number formatted explicitly (counts as integers, rates with 6 decimals, seconds with 3),
so one seed gives a byte-identical file.  Wall time and speed go to the JSON only.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from timesync.consistency import fence_limit, max_clock_offset

from .experiments import CANDIDATES, VIRTUAL_START, ExperimentResult, TrialResult

CSV_NAME, JSON_NAME, PLOT_NAME = "report.csv", "report.json", "report.png"

COUNT_COLUMNS = (
    "customers",
    "attempts",
    "accepted",
    "refused_seen",
    "refused_fenced",
    "gave_up",
    "sold_out",
    "conflicts",
    "unfair",
    "double_booked_seats",
    "seats_sold",
)
RATE_COLUMNS = ("conflict_rate", "unfair_rate", "refused_rate", "contended_rate")
CSV_COLUMNS = ("sweep", "scenario", "skew_node", "skew_seconds", "mode", *COUNT_COLUMNS, *RATE_COLUMNS)

# Lines overlap at 0 (bounded and serializable often both are): sizes and hollow markers keep
# each visible.
MODE_STYLES = {
    "naive": {"marker": "o", "linestyle": "-", "color": "#c0392b", "markersize": 6},
    "bounded": {"marker": "s", "linestyle": "--", "color": "#2471a3", "markersize": 6},
    "serializable": {
        "marker": "^",
        "linestyle": ":",
        "color": "#1e8449",
        "markersize": 10,
        "markerfacecolor": "none",
        "markeredgewidth": 1.5,
    },
}


def experiments_dir() -> Path:
    """Where reports go by default: ``DATA_DIR/experiments``."""
    return Path(settings.SEATCLOCK_DATA_DIR) / "experiments"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def trial_row(result: TrialResult) -> dict[str, str]:
    trial = result.trial
    row = {
        "sweep": trial.sweep,
        "scenario": trial.label if trial.sweep == "scenario" else "",
        "skew_node": trial.label if trial.sweep == "skew" else "",
        "skew_seconds": f"{trial.skew:.3f}" if trial.skew is not None else "",
        "mode": trial.mode,
    }
    row.update({column: str(int(getattr(result, column))) for column in COUNT_COLUMNS})
    row.update({column: _rate(getattr(result, column)) for column in RATE_COLUMNS})
    return row


def report_csv(experiment: ExperimentResult) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in experiment.results:
        writer.writerow(trial_row(result))
    return out.getvalue()


def report_metadata(experiment: ExperimentResult, *, generated_at: str, command: str = "") -> dict[str, Any]:
    config, workload = experiment.config, experiment.config.workload
    return {
        "seed": config.seed,
        "command": command,
        "parameters": {
            "rate": workload.rate,
            "duration": workload.duration,
            "seats": workload.seats,
            "retries": workload.retries,
            "think": workload.think,
            "zipf_exponent": workload.zipf_exponent,
            "candidates": CANDIDATES,
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
        "nodes": experiment.node_ids,
        "store": experiment.store,
        "database": experiment.vendor,
        "customers": experiment.customers,
        "trials": len(experiment.results),
        "attempts": experiment.attempts,
        "wall_seconds": round(experiment.wall_seconds, 3),
        "attempts_per_second": round(experiment.attempts_per_second or 0.0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "generated_at": generated_at,
        "files": {"csv": CSV_NAME, "json": JSON_NAME, "plot": None},
    }


def report_plot(experiment: ExperimentResult, path: Path) -> bool:
    """The skew sweep: conflict, unfair and refused rates against the lag, one line per mode.

    Returns False (and writes nothing) when the run had no skew sweep.
    """
    skew_results = [r for r in experiment.results if r.trial.sweep == "skew"]
    if not skew_results:
        return False
    # The object-oriented API only: no pyplot, no global backend state (Agg canvas, headless).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    workload = experiment.config.workload
    fig = Figure(figsize=(13, 4.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3, sharex=True)
    panels = (
        ("conflict_rate", "Conflict rate (conflicts / accepted)"),
        ("unfair_rate", "Unfair rate (unfair / accepted)"),
        ("refused_rate", "Refused rate (fenced 503 / attempts)"),
    )
    for ax, (attribute, title) in zip(axes, panels, strict=True):
        for mode in experiment.config.modes:
            points = [
                (r.trial.skew, 100 * getattr(r, attribute))
                for r in skew_results
                if r.trial.mode == mode and getattr(r, attribute) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=mode, linewidth=1.6, **MODE_STYLES.get(mode, {}))
        ax.axvline(fence_limit(), color="#7f8c8d", linewidth=1, linestyle="-.")
        ax.set_xscale("symlog", linthresh=0.1, linscale=0.5)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"lag of {experiment.skew_node} (s, symlog)")
        ax.set_ylabel("%")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(title="mode", fontsize=9)
    axes[2].annotate(
        f"fence: {fence_limit():g} s",
        xy=(fence_limit(), 0),
        xytext=(4, 4),
        textcoords="offset points",
        fontsize=8,
        color="#7f8c8d",
    )
    fig.suptitle(
        f"Skew sweep — seed {experiment.config.seed}: {workload.rate:g} arrivals/s for {workload.duration:g} s, "
        f"{workload.seats} seats, think {workload.think:g} s, {workload.retries} retries",
        fontsize=11,
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
    """Write the CSV, the plot (unless ``plot`` is false) and the JSON; returns the metadata.

    Each file is replaced atomically, the JSON last, so the page never reads half a report.  A
    run without a plot removes an older plot, which would describe another run.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = report_metadata(experiment, generated_at=generated_at, command=command)
    _write_atomically(out_dir / CSV_NAME, report_csv(experiment).encode())
    png = out_dir / PLOT_NAME
    tmp = out_dir / f".{PLOT_NAME}.tmp"
    if plot and report_plot(experiment, tmp):
        os.replace(tmp, png)
        meta["files"]["plot"] = PLOT_NAME
    else:
        png.unlink(missing_ok=True)
    _write_atomically(out_dir / JSON_NAME, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode())
    return meta


# --- Reading the latest report (the /experiments page) -------------------------------------------


@dataclass
class LoadedReport:
    meta: dict[str, Any]
    scenario_rows: list[dict[str, str]] = field(default_factory=list)
    skew_rows: list[dict[str, str]] = field(default_factory=list)
    plot_path: Path | None = None


class ReportUnreadable(Exception):
    pass


def report_load(out_dir: Path | None = None) -> LoadedReport | None:
    """The report in ``out_dir`` (default :func:`experiments_dir`), or None when there is none.

    Raises ``ReportUnreadable`` when the files exist but cannot be read.
    """
    out_dir = experiments_dir() if out_dir is None else out_dir
    json_path, csv_path = out_dir / JSON_NAME, out_dir / CSV_NAME
    if not json_path.is_file():
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        with csv_path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError) as exc:
        raise ReportUnreadable(f"{out_dir}: {exc}") from exc
    if not isinstance(meta, dict) or any(set(CSV_COLUMNS) - set(row) for row in rows):
        raise ReportUnreadable(f"{out_dir}: not a report of this version of Seatclock")
    plot_name = (meta.get("files") or {}).get("plot")
    plot_path = out_dir / PLOT_NAME if plot_name and (out_dir / PLOT_NAME).is_file() else None
    return LoadedReport(
        meta=meta,
        scenario_rows=[r for r in rows if r["sweep"] == "scenario"],
        skew_rows=[r for r in rows if r["sweep"] == "skew"],
        plot_path=plot_path,
    )
