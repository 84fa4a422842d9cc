"""CPU cost of one reservation POST, in process: the WSGI application called directly, no server.

Builds the production WSGI application (``config.wsgi``, whatever ``DJANGO_SETTINGS_MODULE``
says) and calls it with reservation POSTs on random seats of the venue through random nodes,
each from a random client address (``X-Forwarded-For``, ``NUM_PROXIES=1``, so the rate limits
count thousands of clients, as ``bench/reserve.lua`` does).  Reports, after a warm-up:

- CPU per request (``time.process_time``: every thread of this process, so the event
  publisher's thread counts too) and wall time per request — CPU time is what the two cores
  run out of, and it stays steady when other work shares the machine;
- with ``--profile``: where that CPU goes, per middleware, DRF step, throttle, the rule and
  its queries, events, metrics (a sampling profiler on CPU time, :class:`CpuSampler`: no
  per-call cost, so its split is not skewed the way cProfile's is), then the functions with
  the most own samples.  The CPU figure of a profiled run includes the sampler's small cost.

Usage (a migrated, seeded database; Redis; the repository root as working directory)::

    DATABASE_URL=postgres://…/seatclock_bench REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/profile_post.py --requests 2000 [--profile] [--path /api/reservations]
    # the reference view (one INSERT, bench/reference/):
    DJANGO_SETTINGS_MODULE=bench.reference.settings … bench/profile_post.py --path /bench/insert

Prints one ``RESULT {json}`` line.  Reservations made here stay (the venue has 260,000 seats).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "--root" in sys.argv:  # bench/ab_cpu.sh: measure another source tree with this script
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SEATCLOCK_MODE", "production")
os.environ.setdefault("SECRET_KEY", "bench-profile-not-a-secret-" + "x" * 30)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("NUM_PROXIES", "1")
os.environ.setdefault("SEATCLOCK_DB_CONN_MAX_AGE", "600")
os.environ.setdefault("SEATCLOCK_LOG_LEVEL", "WARNING")
os.environ.setdefault("SEATCLOCK_CHANNEL_PREFIX", "bench-profile")
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # as serve.sh runs it: metrics in shared files
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="seatclock-profile-metrics-")

# (label, file fragment, function name): cumulative CPU of these functions, per request.  A
# label listed several times adds its entries up (e.g. a middleware's request and response hooks).
PARTS = [
    ("whole request (WSGIHandler.__call__)", "handlers/wsgi.py", "__call__"),
    ("  request_started/finished signals (connection checks)", "db/__init__.py", "close_old_connections"),
    ("  WSGIRequest construction", "handlers/wsgi.py", "__init__"),
    ("  URL resolving", "handlers/base.py", "resolve_request"),
    ("  DRF APIView.dispatch (view, throttles, rendering)", "rest_framework/views.py", "dispatch"),
    ("    DRF initialize_request (Request wrapper, parsers)", "rest_framework/views.py", "initialize_request"),
    ("    DRF authentication", "rest_framework/views.py", "perform_authentication"),
    ("    DRF permissions", "rest_framework/views.py", "check_permissions"),
    ("    rate limits (DRF check_throttles)", "rest_framework/views.py", "check_throttles"),
    ("      the rate-limit script in Redis (redis-py Script call)", "redis/commands/core.py", "__call__"),
    ("    request body parse (DRF request.data)", "rest_framework/request.py", "_load_data_and_files"),
    ("    input validation (serializer.is_valid)", "rest_framework/serializers.py", "is_valid"),
    ("    reservation_create (the rule, incl. commit + publish)", "reservations/services.py", "reservation_create"),
    ("      transaction.atomic enter (BEGIN is lazy)", "django/db/transaction.py", "__enter__"),
    ("      the rule's reads, locked (reservations.access: SQL path)", "reservations/access.py", "seat_state_lock"),
    ("      the rule's writes + history (reservations.access: SQL path)", "reservations/access.py", "row_insert"),
    ("      Django connection health check (SELECT 1)", "backends/base/base.py", "close_if_health_check_failed"),
    ("      seat lock (ORM path: SELECT … FOR UPDATE with the mode)", "seats/locks.py", "seat_lock"),
    ("      node_get (ORM path)", "timesync/selectors.py", "node_get"),
    ("      INSERT (ORM path: Model.save)", "django/db/models/base.py", "save"),
    ("      commit + on_commit (events.publish → PUBLISH)", "django/db/transaction.py", "__exit__"),
    ("        live event send (events._send)", "core/events.py", "_send"),
    ("      Redis PUBLISH (redis-py)", "redis/commands/core.py", "publish"),
    ("      ORM queries evaluated (QuerySet._fetch_all: lock, node, active)", "db/models/query.py", "_fetch_all"),
    ("      Django compiling SQL (SQLCompiler.as_sql)", "sql/compiler.py", "as_sql"),
    ("      psycopg execute (round trips, client side)", "psycopg/cursor.py", "execute"),
    ("    output shape (shapes.reservation)", "reservations/shapes.py", "reservation"),
    ("    metrics histogram (observe_reservation)", "prometheus_client/metrics.py", "observe"),
    ("    DRF finalize_response (content negotiation)", "rest_framework/views.py", "finalize_response"),
    ("    DRF exception handling (409s)", "rest_framework/views.py", "handle_exception"),
    ("  response rendering (Response.rendered_content)", "rest_framework/response.py", "rendered_content"),
]


def middleware_parts() -> list[tuple[str, str, str]]:
    """One label per middleware of the settings: its request/view/response/exception hooks."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    parts = []
    for dotted in settings.MIDDLEWARE:
        cls = import_string(dotted)
        path = sys.modules[cls.__module__].__file__ or ""
        frag = "/".join(Path(path).parts[-2:])
        for hook in ("process_request", "process_view", "process_response", "process_exception"):
            if hook in cls.__dict__:
                parts.append((f"  middleware {cls.__name__}", frag, hook))
        if "__call__" in cls.__dict__ and not any(p[0].endswith(cls.__name__) for p in parts):
            parts.append((f"  middleware {cls.__name__} (__call__, includes what it wraps)", frag, "__call__"))
    return parts


def build_requests(path: str, count: int, first: int, last: int, rng: random.Random, get: bool = False) -> list[dict]:
    out = []
    for _ in range(count):
        seat = rng.randint(first, last)
        body = json.dumps(
            {"seat_id": seat, "customer_name": f"Bench {seat}", "server_id": f"server-{rng.randint(1, 5)}"}
        ).encode()
        xff = f"127.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        out.append({"path": path, "body": b"" if get else body, "xff": xff, "method": "GET" if get else "POST"})
    return out


def environ_for(req: dict) -> dict:
    return {
        "REQUEST_METHOD": req["method"],
        "PATH_INFO": req["path"],
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_X_FORWARDED_FOR": req["xff"],
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(req["body"])),
        "wsgi.input": io.BytesIO(req["body"]),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def call(app, req: dict, statuses: Counter) -> None:
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status

    body = app(environ_for(req), start_response)
    try:
        for _chunk in body:
            pass
    finally:
        if hasattr(body, "close"):
            body.close()
    statuses[captured["status"].split()[0]] += 1


def seat_range() -> tuple[int, int]:
    from seats.models import Seat

    ids = Seat.objects.order_by("id").values_list("id", flat=True)
    return ids.first(), ids.last()


class CpuSampler:
    """A statistical profiler on CPU time: ``SIGPROF`` every ``interval`` seconds of this
    process's CPU (``ITIMER_PROF``); each sample records the main thread's stack.  Unlike
    cProfile it adds no cost per call, so call-heavy code (the ORM) is not over-weighted."""

    def __init__(self, parts, interval: float = 0.0005) -> None:
        self.interval = interval
        self.by_name: dict[str, list[tuple[str, str]]] = {}
        self.labels: list[str] = []
        for label, frag, name in parts:
            self.by_name.setdefault(name, []).append((frag, label))
            if label not in self.labels:
                self.labels.append(label)
        self.samples = 0
        self.hits: Counter = Counter()
        self.own: Counter = Counter()

    def _on_sample(self, signum, frame) -> None:
        self.samples += 1
        if frame is None:
            return
        code = frame.f_code
        self.own[f"{code.co_filename.split('site-packages/')[-1]}:{code.co_firstlineno}({code.co_name})"] += 1
        seen = set()
        while frame is not None:
            code = frame.f_code
            for frag, label in self.by_name.get(code.co_name, ()):
                if label not in seen and code.co_filename.endswith(frag):
                    seen.add(label)
            frame = frame.f_back
        self.hits.update(seen)

    def __enter__(self) -> CpuSampler:
        signal.signal(signal.SIGPROF, self._on_sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def report(self, cpu_ms_per_request: float, top: int) -> None:
        """Each part's share of the samples, scaled to the measured CPU per request."""
        scale = cpu_ms_per_request / self.samples if self.samples else 0.0
        print(f"{self.samples} CPU samples; parts (inclusive: a part contains the indented ones below it)")
        print(f"{'part':<74} {'ms/req':>7} {'%':>6}")
        for label in self.labels:
            share = self.hits[label] / self.samples if self.samples else 0.0
            print(f"{label:<74} {scale * self.hits[label]:7.3f} {100 * share:6.1f}")
        print(f"\nTop {top} Python functions by own samples (C calls count to their Python caller):")
        for name, count in self.own.most_common(top):
            print(f"{100 * count / self.samples:6.1f} %  {scale * count:6.3f} ms  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--path", default="/api/reservations")
    parser.add_argument("--get", action="store_true", help="GET --path (e.g. /api/seats) instead of POSTs")
    parser.add_argument("--profile", action="store_true", help="cProfile split (CPU timer) instead of timing only")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--root", default=str(ROOT), help="the source tree to measure (default: this one)")
    args = parser.parse_args()

    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    first, last = seat_range()
    rng = random.Random(args.seed if args.seed is not None else os.getpid() ^ time.time_ns())
    statuses: Counter = Counter()
    for req in build_requests(args.path, args.warmup, first, last, rng, args.get):
        call(app, req, statuses)
    statuses.clear()
    reqs = build_requests(args.path, args.requests, first, last, rng, args.get)
    load_before = os.getloadavg()

    sampler = CpuSampler(PARTS[:3] + middleware_parts() + PARTS[3:]) if args.profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if sampler:
        with sampler:
            for req in reqs:
                call(app, req, statuses)
    else:
        for req in reqs:
            call(app, req, statuses)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = args.requests
    result = {
        "root": ROOT.name,
        "settings": os.environ["DJANGO_SETTINGS_MODULE"],
        "path": args.path,
        "requests": n,
        "cpu_ms_per_request": round(1000 * cpu / n, 3),
        "wall_ms_per_request": round(1000 * wall / n, 3),
        "statuses": dict(statuses),
        "profiled": bool(sampler),
        "load_before": " ".join(f"{x:.2f}" for x in load_before),
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if sampler:
        sampler.report(result["cpu_ms_per_request"], args.top)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
