"""``/metrics``: domain figures read from the database at scrape time, plus request latency.

``reservations_total``, ``reservations_conflicts_total`` and ``ntp_offset_seconds`` come from
a custom collector that queries the database on every scrape, so they are right however many
server processes write reservations.  Counters only grow because reservations are never
hard-deleted (cancelling is a soft delete; only ``seed_venue --force`` resets them).

The reservation latency histogram (:mod:`reservations.metrics`) and django-prometheus's
request metrics are kept in each process; with ``PROMETHEUS_MULTIPROC_DIR`` set,
prometheus_client's multiprocess mode aggregates it (and django-prometheus's own metrics)
over every process.
"""

from __future__ import annotations

import os

from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from reservations.models import Reservation
from timesync import clock
from timesync.selectors import node_list


class SeatclockCollector:
    """Reads the domain figures from the database at scrape time."""

    def collect(self):
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
