"""The reservation latency histogram (``reservation_request_duration_seconds``), observed by the
API's reservation view; ``/metrics`` (:mod:`ops.metrics`) exports it with the rest."""

from __future__ import annotations

import functools

from prometheus_client import Histogram

from timesync import clock

RESERVATION_LATENCY = Histogram(
    "reservation_request_duration_seconds",
    "Latency of POST /api/reservations, by outcome (created, conflict, rejected, fenced, invalid, error).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe_reservation(view_method):
    """Time a reservation view and record the outcome in ``RESERVATION_LATENCY``."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        started = clock.monotonic()
        outcome = "error"
        try:
            response = view_method(self, request, *args, **kwargs)
            if response.status_code == 201:
                outcome = "conflict" if (response.data or {}).get("conflict_detected") else "created"
            return response
        except Exception as exc:
            status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
            if getattr(exc, "code", None) == "SEAT_ALREADY_RESERVED":
                outcome = "rejected"
            elif getattr(exc, "code", None) == "TIME_DRIFT_DETECTED":
                outcome = "fenced"  # bounded mode refused a node whose clock is off
            elif status is not None and 400 <= int(status) < 500:
                outcome = "invalid"
            raise
        finally:
            RESERVATION_LATENCY.labels(outcome=outcome).observe(clock.monotonic() - started)

    return wrapper
