"""``/metrics``: domain figures read from the database at scrape time, plus request latency.

``reservations_total``, ``reservations_conflicts_total`` and ``ntp_offset_seconds`` come from
a custom collector that queries the database on every scrape, so they are right however many
server processes write reservations.  Counters only grow because reservations are never
hard-deleted (cancelling is a soft delete; only ``seed_venue --force`` resets them).

The reservation latency histogram (:mod:`reservations.metrics`) and django-prometheus's
request metrics are kept in each process; with ``PROMETHEUS_MULTIPROC_DIR`` set,
prometheus_client's multiprocess mode aggregates it (and django-prometheus's own metrics)
over every process.

django-prometheus's inner middleware records up to eleven metrics per request (by method, by
transport, by view, transport and method, by status, by charset, body-size histograms of the
request and the response…): with its outer one, 8.3 % of the instructions of a reservation POST
(``bench/callgrind_post.sh``: 5.66 million per request, 5.19 without either).
:class:`RequestMetricsMiddleware`, its subclass (the library's extension point), records what
the others add up to — responses by status, view and method, latency by view and method — and
brings them to 3.6 % (5.39 million).
"""

from __future__ import annotations

import os

from django.db.models import Count
from django.http import HttpResponse
from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time, TimeSince
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


class RequestMetricsMiddleware(PrometheusAfterMiddleware):
    """django-prometheus's ``PrometheusAfterMiddleware`` recording, per request, the
    ``django_http_responses_total_by_status_view_method`` counter and the
    ``django_http_requests_latency_seconds_by_view_method`` histogram (seconds) only; exceptions
    and template responses as the library does.  ``PrometheusBeforeMiddleware`` (requests and
    responses in all, the latency including the middleware) is used as it is."""

    def process_request(self, request):
        request.prometheus_after_middleware_event = Time()

    def process_view(self, request, view_func, *view_args, **view_kwargs):
        return None

    def process_response(self, request, response):
        method = self._method(request)
        view = self._get_view_name(request)
        status = str(response.status_code)
        self.metrics.responses_by_status_view_method.labels(status=status, view=view, method=method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is None:
            self.metrics.requests_unknown_latency.inc()
        else:
            self.metrics.requests_latency_by_view_method.labels(view=view, method=method).observe(TimeSince(started))
        return response
