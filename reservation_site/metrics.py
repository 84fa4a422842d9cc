"""``/metrics``: domain figures read from the database at scrape time, plus request latency.

``reservations_total``, ``reservations_conflicts_total`` and ``ntp_offset_seconds`` come from
a custom collector that queries the database on every scrape, so they are right however many
server processes write reservations.  Counters only grow because reservations are never
hard-deleted (cancelling is a soft delete; only ``seed_venue --force`` resets them).

The latency histogram is kept in each process; with ``PROMETHEUS_MULTIPROC_DIR`` set,
prometheus_client's multiprocess mode aggregates it (and django-prometheus's own metrics)
over every process.
"""

from __future__ import annotations

import functools
import os

from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from timesync import clock

RESERVATION_LATENCY = Histogram(
    "reservation_request_duration_seconds",
    "Latency of POST /api/reservations, by outcome (created, conflict, rejected, fenced, invalid, error).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class SeatclockCollector:
    """Reads the domain figures from the database at scrape time."""

    def collect(self):
        from reservations.models import Reservation
        from timesync.selectors import node_list

        nodes = list(node_list())
        by_node = dict(Reservation.objects.values_list("node_id").annotate(n=Count("id")).order_by())
        total = CounterMetricFamily(
            "reservations", "Total number of reservations (cancelled ones included)", labels=["server_id"]
        )
        for node in nodes:
            total.add_metric([node.server_id], by_node.get(node.server_id, 0))
        yield total

        conflicts = CounterMetricFamily(
            "reservations_conflicts", "Total number of reservations created in conflict (conflict_detected)"
        )
        conflicts.add_metric([], Reservation.objects.filter(conflict_detected=True).count())
        yield conflicts

        offset = GaugeMetricFamily(
            "ntp_offset_seconds", "Current clock offset of each node, seconds", labels=["server_id"]
        )
        now = clock.reference_now()
        for node in nodes:
            offset.add_metric([node.server_id], clock.offset_at(node, now))
        yield offset


def metrics_view(request) -> HttpResponse:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(SeatclockCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


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
