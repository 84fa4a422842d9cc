"""Pages (not the API): the latest experiment report at ``/experiments`` and its plot."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .experiment_report import RATE_COLUMNS, LoadedReport, ReportUnreadable, report_load


def _percent(value: str) -> str:
    return "—" if value == "" else f"{100 * float(value):.1f} %"


def _display(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """CSV rows with their rates as percentages (the CSV keeps the raw fractions)."""
    out = []
    for row in rows:
        shown: dict[str, Any] = dict(row)
        for column in RATE_COLUMNS:
            shown[f"{column}_percent"] = _percent(row[column])
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


def experiments_page(request: HttpRequest) -> HttpResponse:
    """The latest report of ``manage.py experiment``: parameters, rates, plot; or how to make one."""
    context: dict[str, Any] = {"report": None, "error": None}
    try:
        report = report_load()
    except ReportUnreadable as exc:
        report, context["error"] = None, str(exc)
    if report is not None:
        offsets = _scenario_offsets(report)
        scenario_rows = _display(report.scenario_rows)
        for row in scenario_rows:
            row["offsets"] = offsets.get(row["scenario"], "")
        context.update(
            report=report,
            meta=report.meta,
            parameters=report.meta.get("parameters", {}),
            scenario_rows=scenario_rows,
            skew_rows=_display(report.skew_rows),
            has_plot=report.plot_path is not None,
        )
    return render(request, "experiments.html", context)


def experiments_plot(request: HttpRequest) -> FileResponse:
    """The latest report's PNG, from the data directory."""
    try:
        report = report_load()
    except ReportUnreadable:
        report = None
    if report is None or report.plot_path is None:
        raise Http404("no experiment plot yet")
    response = FileResponse(report.plot_path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "no-cache"
    return response
