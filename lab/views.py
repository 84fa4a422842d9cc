"""Pages (not the API): the latest experiment report at ``/experiments`` and its plots."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .experiment_report import GUIDE_CLAIMS, MEASURES, LoadedReport, Measure, ReportUnreadable, report_load


def figure(measure: Measure, mean: str, ci: str, n: str) -> str:
    """``12.3 % ± 1.4`` (percent), ``85.2 s ± 9.1`` (seconds) or ``21.4 ms ± 0.3`` (the
    measure's unit); ``—`` when undefined."""
    if mean == "":
        return "—"
    unit = " %" if measure.percent else f" {measure.unit}"
    text = f"{measure.shown(float(mean)):.1f}{unit}"
    return text + (f" ± {measure.shown(float(ci)):.1f}" if ci != "" else "")


def _display(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Summary rows with each measure as ``mean ± half-width`` (the CSV keeps the raw numbers)."""
    out = []
    for row in rows:
        shown: dict[str, Any] = dict(row)
        shown["figures"] = [
            figure(m, row[f"{m.name}_mean"], row[f"{m.name}_ci95"], row[f"{m.name}_n"])
            if row["workload"] in m.workloads
            else "—"
            for m in MEASURES
        ]
        shown["skew_label"] = f"{float(row['skew_seconds']):g} s" if row["skew_seconds"] else ""
        out.append(shown)
    return out


def _scenario_offsets(report: LoadedReport) -> dict[str, str]:
    """``server-2 −1 s, server-3 +0.5 s`` per scenario, from the report's metadata."""
    summaries = {}
    for name, nodes in (report.meta.get("scenarios") or {}).items():
        parts = []
        for node, clock in nodes.items():
            offset, drift = clock.get("offset_seconds", 0.0), clock.get("drift_ppm", 0.0)
            if offset or drift:
                parts.append(f"{node} {offset:+g} s" + (f" {drift:+g} ppm" if drift else ""))
        summaries[name] = ", ".join(parts) or "0"
    return summaries


def _claims(report: LoadedReport) -> list[dict[str, str]]:
    """The guide's claim beside the measured naive conflict rate, per scenario and workload."""
    conflict = MEASURES[0]
    out = []
    for name, claim in GUIDE_CLAIMS.items():
        measured = {
            row["workload"]: figure(
                conflict, row["conflict_rate_mean"], row["conflict_rate_ci95"], row["conflict_rate_n"]
            )
            for row in report.rows
            if row["sweep"] == "scenario" and row["scenario"] == name and row["mode"] == "naive"
        }
        if measured:
            out.append(
                {
                    "scenario": name,
                    "claim": claim,
                    "reserve": measured.get("reserve", "—"),
                    "hold": measured.get("hold", "—"),
                }
            )
    return out


def experiments_page(request: HttpRequest) -> HttpResponse:
    """The latest report of ``manage.py experiment``: parameters, measures with their 95 %
    intervals, the guide's claims beside them, a plot per measure; or how to make one."""
    context: dict[str, Any] = {"report": None, "error": None}
    try:
        report = report_load()
    except ReportUnreadable as exc:
        report, context["error"] = None, str(exc)
    if report is not None:
        offsets = _scenario_offsets(report)
        rows = _display(report.rows)
        for row in rows:
            row["offsets"] = offsets.get(row["scenario"], "")
        seeds = report.meta.get("seeds") or []
        context.update(
            report=report,
            meta=report.meta,
            parameters=report.meta.get("parameters", {}),
            seeds=", ".join(map(str, seeds)),
            seed_count=len(seeds),
            measures=MEASURES,
            scenario_rows=[r for r in rows if r["sweep"] == "scenario"],
            skew_rows=[r for r in rows if r["sweep"] == "skew"],
            claims=_claims(report),
            plots=[(m, m.name in report.plots) for m in MEASURES if m.name in report.plots],
        )
    return render(request, "experiments.html", context)


def experiments_plot(request: HttpRequest, measure: str) -> FileResponse:
    """One plot of the latest report, from the data directory."""
    try:
        report = report_load()
    except ReportUnreadable:
        report = None
    if report is None or measure not in report.plots:
        raise Http404("no such experiment plot")
    response = FileResponse(report.plots[measure].open("rb"), content_type="image/png")
    response["Cache-Control"] = "no-cache"
    return response
