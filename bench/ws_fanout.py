"""WebSocket fan-out benchmark (not a test).

Connects N subscribers to ``/ws/updates`` of a running server (topic ``reservations``), then
POSTs M reservations one after another (on distinct free seats) and measures, for every
subscriber and every reservation, the delay from the moment the client received the 201 to
the moment that subscriber received the matching ``reservation_created``.  Because the event
is published on commit, *before* the HTTP response is written, a subscriber can receive it
before the 201 arrives: such deliveries count as 0 ms late (and are reported separately).
The delay from sending the POST is reported too.  The reservations are cancelled afterwards.

    python bench/ws_fanout.py --url http://127.0.0.1:8000 --subscribers 100 500 --reservations 20
    # serve.sh (one origin), one event every 0.25 s, as bench/run_all.sh runs it
    python bench/ws_fanout.py --url http://127.0.0.1:8000 \
        --subscribers 500 --reservations 40 --interval 0.25

Requests carry a random ``X-Forwarded-For``, so a server trusting one proxy (NUM_PROXIES=1)
does not rate-limit the benchmark as a single client.  The last line of each run is
``RESULT {json}`` for bench/run_all.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets  # noqa: E402


def _http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    # A fresh client address per request: with NUM_PROXIES=1 (bench/run_all.sh) the server counts
    # its rate limits per X-Forwarded-For, so the benchmark is not throttled as one client.
    client = f"127.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    headers = {"Content-Type": "application/json", "X-Forwarded-For": client}
    if token is not None:  # production: cancelling needs the reservation's cancel token
        headers["X-Cancel-Token"] = token
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def subscriber(ws_url: str, origin: str, ready: asyncio.Event, arrivals: dict, expected: int, go) -> None:
    async with websockets.connect(ws_url, origin=origin, open_timeout=60, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "subscribed", ack
        go()
        seen = 0
        while seen < expected:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "reservation_created":
                arrivals.setdefault(message["data"]["id"], []).append(time.monotonic())
                seen += 1
        await ready.wait()


async def run(base: str, n: int, m: int, ws_base: str | None = None, interval: float = 0.0) -> dict:
    ws_base = ws_base or base.replace("http://", "ws://").replace("https://", "wss://")
    ws_url = ws_base + "/ws/updates"
    _, seats = await asyncio.to_thread(_http, "GET", base + "/api/seats")
    free = [s["id"] for s in seats if s["is_available"]][:m]
    if len(free) < m:
        raise SystemExit(f"only {len(free)} free seats for {m} reservations")
    arrivals: dict[int, list[float]] = {}
    connected = 0
    all_connected = asyncio.Event()
    done = asyncio.Event()

    def go() -> None:
        nonlocal connected
        connected += 1
        if connected == n:
            all_connected.set()

    t_connect = time.monotonic()
    tasks = [asyncio.create_task(subscriber(ws_url, base, done, arrivals, m, go)) for _ in range(n)]
    await asyncio.wait_for(all_connected.wait(), 120)
    connect_s = time.monotonic() - t_connect

    sent: dict[int, float] = {}
    got_201: dict[int, float] = {}
    tokens: dict[int, str] = {}
    for seat_id in free:
        t0 = time.monotonic()
        status, body = await asyncio.to_thread(
            _http,
            "POST",
            base + "/api/reservations",
            {"seat_id": seat_id, "customer_name": "Bench", "server_id": "server-1"},
        )
        t1 = time.monotonic()
        assert status == 201, (status, body)
        sent[body["id"]], got_201[body["id"]] = t0, t1
        tokens[body["id"]] = body["cancel_token"]
        if interval:
            await asyncio.sleep(interval)  # pace the events: latency, not the fan-out's throughput
    done.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    for rid in sent:
        await asyncio.to_thread(_http, "DELETE", f"{base}/api/reservations/{rid}", None, tokens[rid])

    after_201 = [max(0.0, t - got_201[rid]) * 1000 for rid, ts in arrivals.items() for t in ts]
    early = sum(1 for rid, ts in arrivals.items() for t in ts if t < got_201[rid])
    after_send = [(t - sent[rid]) * 1000 for rid, ts in arrivals.items() for t in ts]
    assert len(after_201) == n * m, (len(after_201), n * m)
    return {
        "subscribers": n,
        "reservations": m,
        "deliveries": len(after_201),
        "connect_s": connect_s,
        "p50_after_201_ms": percentile(after_201, 50),
        "p99_after_201_ms": percentile(after_201, 99),
        "max_after_201_ms": max(after_201),
        "before_201": early,
        "p50_after_post_ms": percentile(after_send, 50),
        "p99_after_post_ms": percentile(after_send, 99),
        "mean_after_post_ms": statistics.fmean(after_send),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--reservations", type=int, default=20)
    parser.add_argument("--ws-url", default=None, help="WebSocket server when not on --url's origin")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between POSTs (default 0: back to back)")
    args = parser.parse_args()
    for n in args.subscribers:
        ws_url = args.ws_url and args.ws_url.rstrip("/")
        r = asyncio.run(run(args.url.rstrip("/"), n, args.reservations, ws_url, args.interval))
        print(
            f"N={r['subscribers']:4d} M={r['reservations']} deliveries={r['deliveries']} "
            f"(connect {r['connect_s']:.1f} s) | after 201: p50 {r['p50_after_201_ms']:.1f} ms, "
            f"p99 {r['p99_after_201_ms']:.1f} ms, max {r['max_after_201_ms']:.1f} ms, "
            f"{r['before_201']} before the 201 | after POST sent: p50 {r['p50_after_post_ms']:.1f} ms, "
            f"p99 {r['p99_after_post_ms']:.1f} ms",
            flush=True,
        )
        print("RESULT " + json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}), flush=True)


if __name__ == "__main__":
    main()
