"""The targets table of docs/benchmarks.md from one bench/run_all.sh run (its ``.jsonl``).

    .venv/bin/python bench/summary.py bench/results/run-<time>.jsonl

Per target: the figure of this run, the target, met or missed (by how much), with the load
average the figure was taken under; then the ratios: reservation POSTs to PostgreSQL's lock +
insert ceiling (pgbench) and to the reference view (one INSERT in a minimal Django view, same
server), all from the same run.  POSTs at 32 connections ran in interleaved rounds with the
reference: the median round counts, and the worst p99 of the rounds is shown beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys


def load(path: str) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                runs.setdefault(row["bench"], []).append(row)
    return runs


def median_round(rows: list[dict]) -> dict:
    ordered = sorted(rows, key=lambda r: r["result"]["rps"])
    return ordered[len(ordered) // 2]


def verdict(ok: bool, miss: str) -> str:
    return "**yes**" if ok else f"**no**: {miss}"


def main(path: str) -> int:
    runs = load(path)
    rows: list[tuple[str, str, str, str]] = []
    ratios: list[str] = []
    post = runs.get("post c=32")
    if post:
        mid = median_round(post)
        r = mid["result"]
        rps = [x["result"]["rps"] for x in post]
        worst_p99 = max(x["result"]["p99_ms"] for x in post)
        errors = sum(x["result"]["errors"] for x in post)
        conflicts = sum(x["result"]["conflict_409"] for x in post)
        requests = sum(x["result"]["requests"] for x in post)
        rows.append(
            (
                "POST /api/reservations, 32 connections, production (rate limits on): ≥ 600 req/s",
                f"{statistics.median(rps):.1f} req/s (rounds: {', '.join(f'{x:.1f}' for x in rps)}); "
                f"server CPU {r.get('server_cpu_ms_per_request', float('nan')):.2f} ms/request",
                verdict(r["rps"] >= 600, f"{600 / r['rps']:.2f}× short" if r["rps"] else "no answer"),
                mid["load_before"],
            )
        )
        rows.append(
            (
                "… p99 ≤ 100 ms",
                f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms (worst round {worst_p99:.0f} ms)",
                verdict(r["p99_ms"] <= 100, f"{r['p99_ms'] - 100:.0f} ms over"),
                mid["load_before"],
            )
        )
        rows.append(
            (
                "… zero errors (409s counted apart)",
                f"{errors} errors in {requests} requests; {conflicts} × 409",
                verdict(errors == 0, f"{errors} errors"),
                "",
            )
        )
        ceiling = runs.get("pgbench lock_insert c=32")
        if ceiling:
            tps = ceiling[0]["result"]["tps"]
            share = 100 * statistics.median(rps) / tps if tps else 0.0
            rows.append(
                (
                    "… ≥ 10 % of pgbench lock + insert (32 clients, same run)",
                    f"{share:.1f} % of {tps:,.0f} tps",
                    verdict(share >= 10, f"{10 / share:.2f}× short" if share else "no figure"),
                    ceiling[0]["load_before"],
                )
            )
            ratios.append(f"reservation POSTs / pgbench lock + insert: {share:.1f} %")
        reference = runs.get("reference c=32")
        if reference:
            ref = statistics.median(x["result"]["rps"] for x in reference)
            ref_cpu = median_round(reference)["result"].get("server_cpu_ms_per_request", float("nan"))
            ratios.append(
                f"reservation POSTs / reference view (one INSERT, same server): "
                f"{statistics.median(rps):.1f} / {ref:.1f} req/s = {statistics.median(rps) / ref:.2f} "
                f"(server CPU {r.get('server_cpu_ms_per_request', float('nan')):.2f} / {ref_cpu:.2f} ms per request)"
            )
            if ceiling and tps:  # tps 0: pgbench failed (its error is in the results)
                ratios.append(f"reference view / pgbench lock + insert: {100 * ref / tps:.1f} %")
        if "machine_busy_ms_per_request" in r:  # the median round's CPU, machine-wide (run_all.sh)
            cores = os.cpu_count() or 1
            busy = r["machine_busy_ms_per_request"]
            ratios.append(
                f"CPU per POST, machine-wide: server {r['server_cpu_ms_per_request']:.2f}, PostgreSQL "
                f"{r['postgres_cpu_ms_per_request']:.2f}, Redis {r['redis_cpu_ms_per_request']:.2f}, the whole machine "
                f"{busy:.2f} ms ({100 * busy * r['rps'] / 1000 / cores:.0f} % of {cores} cores busy; "
                f"600 req/s at full use needs ≤ {1000 * cores / 600:.2f} ms)"
            )
    for mode in ("headers", "body"):
        slow = runs.get(f"slow {mode}")
        if slow:
            r = slow[0]["result"]
            u, s = r["unloaded"], r["stalled"]
            rows.append(
                (
                    f"50 stalled connections ({mode} trickled): normal GET p99 ≤ 100 ms above unloaded",
                    f"p99 {s['p99_ms']:.1f} ms vs {u['p99_ms']:.1f} unloaded (+{r['p99_increase_ms']:.1f}); "
                    f"{s['errors']} errors",
                    verdict(r["p99_increase_ms"] <= 100 and s["errors"] == 0, f"+{r['p99_increase_ms']:.0f} ms"),
                    slow[0]["load_before"],
                )
            )
    get = runs.get("get c=1")
    if get:
        r = get[0]["result"]
        rows.append(
            (
                "GET /api/seats, 10,000 seats, one client: p50 ≤ 60 ms",
                f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, {r['errors']} errors",
                verdict(r["p50_ms"] <= 60 and r["errors"] == 0, f"{r['p50_ms'] - 60:.0f} ms over"),
                get[0]["load_before"],
            )
        )
    ws = runs.get("ws 500")
    if ws:
        r = ws[0]["result"]
        rows.append(
            (
                "WebSocket, 500 subscribers: reservation_created p99 ≤ 250 ms after the 201",
                f"p99 {r['p99_after_201_ms']:.0f} ms (p50 {r['p50_after_201_ms']:.0f}); "
                f"{r['p99_after_post_ms']:.0f} ms p99 after the POST was sent",
                verdict(r["p99_after_201_ms"] <= 250, f"{r['p99_after_201_ms'] - 250:.0f} ms over"),
                ws[0]["load_before"],
            )
        )
    print("\n## Targets (this run)\n")
    print("| Target | Measured | Met? | load before |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if ratios:
        print("\nSame-run ratios: " + "; ".join(ratios) + ".")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
