"""Slow clients against a running server: can N stalled connections stop it answering others?

Opens ``--stalled`` connections that each trickle a request, one byte every ``--trickle``
seconds (``--mode headers``: the request line and headers never end — slowloris; ``--mode
body``: complete headers announcing a body that arrives a byte at a time — slow POST), and
keeps them trickling while one normal client sends ``GET --path`` one after another, each on a
fresh connection, and records its latency.  The same normal client runs first with no stalled
connection (the unloaded figure, same run), then under the stall.

A stalled connection the server closes is re-opened, so the pressure stays at N; the count of
those closes is reported (a server that times slow clients out closes them).  A normal GET
that fails or takes longer than ``--timeout`` counts as an error, and in the percentiles with
the time it took to fail.

    .venv/bin/python bench/slow_clients.py --url http://127.0.0.1:8100 --stalled 50 --seconds 10

Prints a human line and one ``RESULT {json}`` line (p50/p99/max in ms, unloaded and stalled,
and the p99 difference).  Every connection goes to the given URL only (this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from urllib.parse import urlsplit


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def normal_client(host: str, port: int, path: str, seconds: float, timeout: float) -> tuple[list[float], int]:
    """Sequential GETs, a fresh connection each, for ``seconds``: latencies (ms) and errors."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        xff = f"127.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Forwarded-For: {xff}\r\nConnection: close\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        ok = False
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.write(request)
            await writer.drain()
            response = await asyncio.wait_for(reader.read(), timeout)  # until the server closes
            writer.close()
            ok = response.startswith(b"HTTP/1.1 200 ") or response.startswith(b"HTTP/1.0 200 ")
        except (TimeoutError, OSError):
            pass
        # A failed GET counts with the time it took to fail (a timeout: at least --timeout).
        latencies.append(1000 * (time.perf_counter() - started))
        errors += not ok
    return latencies, errors


class Staller:
    """One connection trickling a request that never completes; re-opened when closed."""

    def __init__(self, host: str, port: int, path: str, mode: str, trickle: float) -> None:
        self.host, self.port, self.path, self.mode, self.trickle = host, port, path, mode, trickle
        self.closed_by_server = 0
        self.open_failures = 0

    def opening(self) -> bytes:
        if self.mode == "headers":
            return f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode()
        return (
            f"POST /api/reservations HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        ).encode()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.open_failures += 1
                await asyncio.sleep(self.trickle)
                continue
            try:
                writer.write(self.opening())
                await writer.drain()
                while not stop.is_set():
                    # A server that gives up on us closes (or answers 408/400): re-open.
                    try:
                        data = await asyncio.wait_for(reader.read(1024), self.trickle)
                    except TimeoutError:
                        data = None
                    if data is not None:
                        self.closed_by_server += 1
                        break
                    writer.write(b"X-a: b\r\n" if self.mode == "headers" else b" ")
                    await writer.drain()
            except OSError:
                self.closed_by_server += 1
            finally:
                writer.close()


def summary(latencies: list[float], errors: int) -> dict:
    return {
        "requests": len(latencies),  # errors included
        "errors": errors,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
    }


async def main_async(args: argparse.Namespace) -> dict:
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    unloaded = summary(*await normal_client(host, port, args.path, args.seconds, args.timeout))
    stop = asyncio.Event()
    stallers = [Staller(host, port, args.path, args.mode, args.trickle) for _ in range(args.stalled)]
    tasks = [asyncio.create_task(s.run(stop)) for s in stallers]
    await asyncio.sleep(args.settle)  # let every stalled connection open and start trickling
    stalled = summary(*await normal_client(host, port, args.path, args.seconds, args.timeout))
    stop.set()
    await asyncio.wait(tasks, timeout=args.trickle + 5)
    return {
        "mode": args.mode,
        "stalled_connections": args.stalled,
        "trickle_s": args.trickle,
        "path": args.path,
        "unloaded": unloaded,
        "stalled": stalled,
        "p99_increase_ms": round(stalled["p99_ms"] - unloaded["p99_ms"], 2),
        "stalled_closed_by_server": sum(s.closed_by_server for s in stallers),
        "stalled_open_failures": sum(s.open_failures for s in stallers),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8100")
    parser.add_argument("--path", default="/health/live", help="what the normal client GETs")
    parser.add_argument("--stalled", type=int, default=50)
    parser.add_argument("--mode", choices=("headers", "body"), default="headers")
    parser.add_argument("--trickle", type=float, default=1.0, help="seconds between two bytes of a stalled request")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each normal-client phase")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds for the stalled connections to open")
    parser.add_argument("--timeout", type=float, default=10.0, help="a normal GET slower than this is an error")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    u, s = result["unloaded"], result["stalled"]
    print(
        f"{args.stalled} stalled ({args.mode}) | normal GET {args.path}:"
        f" unloaded p50 {u['p50_ms']} / p99 {u['p99_ms']} ms"
        f" ({u['requests']} GETs, {u['errors']} errors); stalled p50 {s['p50_ms']} / p99 {s['p99_ms']} ms"
        f" ({s['requests']} GETs, {s['errors']} errors); p99 +{result['p99_increase_ms']} ms;"
        f" stalled connections closed by the server: {result['stalled_closed_by_server']}"
    )
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
