"""/metrics: domain counters from the database, the offset gauge, the latency histogram."""

from __future__ import annotations

import pytest
from django.urls import resolve
from prometheus_client.parser import text_string_to_metric_families

from reservations.services import reservation_cancel
from timesync.services import node_offset_set

pytestmark = pytest.mark.django_db


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples, server_id):
    return samples[("reservations_total", (("server_id", server_id),))]


def histogram_count(samples, outcome):
    return samples.get(("reservation_request_duration_seconds_count", (("outcome", outcome),)), 0.0)


def test_counters_move_by_exactly_what_was_done(client, api, venue, frozen_clock):
    before = scrape(client)
    node_offset_set(server_id="server-2", offset_seconds=-10.0)
    first = api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": "Ada"}, format="json")
    assert first.status_code == 201
    frozen_clock.advance(1)
    # server-2 lags 10 s: it cannot see Ada and double-books A1 -> one conflict.
    second = api.post(
        "/api/reservations",
        {"seat_id": venue[0].pk, "customer_name": "Bob", "server_id": "server-2"},
        format="json",
    )
    assert second.json()["conflict_detected"] is True
    # server-1 sees A1 taken -> 409, no new row.
    assert (
        api.post("/api/reservations", {"seat_id": venue[0].pk, "customer_name": "Cy"}, format="json").status_code == 409
    )
    # A cancelled reservation still counts: the counter never goes down.
    reservation_cancel(reservation_id=first.json()["id"])

    after = scrape(client)
    assert total(after, "server-1") - total(before, "server-1") == 1
    assert total(after, "server-2") - total(before, "server-2") == 1
    assert total(after, "server-3") == total(before, "server-3")
    assert after[("reservations_conflicts_total", ())] - before[("reservations_conflicts_total", ())] == 1
    for outcome, n in (("created", 1), ("conflict", 1), ("rejected", 1)):
        assert histogram_count(after, outcome) - histogram_count(before, outcome) == n


def test_offset_gauge_shows_injected_offset(client):
    node_offset_set(server_id="server-3", offset_seconds=2.5)
    samples = scrape(client)
    assert samples[("ntp_offset_seconds", (("server_id", "server-3"),))] == pytest.approx(2.5)
    assert samples[("ntp_offset_seconds", (("server_id", "server-1"),))] == 0.0


def test_invalid_reservation_is_counted_as_invalid(client, api, venue):
    before = histogram_count(scrape(client), "invalid")
    assert api.post("/api/reservations", {"seat_id": 99999, "customer_name": "Ada"}, format="json").status_code == 404
    assert histogram_count(scrape(client), "invalid") - before == 1


def test_django_prometheus_request_metrics_are_exported(client):
    samples = scrape(client)
    assert any(name.startswith("django_http_requests") for name, _labels in samples)


def test_domain_metrics_in_multiprocess_mode(client, monkeypatch, tmp_path):
    # With PROMETHEUS_MULTIPROC_DIR the per-process metrics come from the shared directory;
    # the domain metrics still come from the database.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    node_offset_set(server_id="server-4", offset_seconds=-3.0)
    samples = scrape(client)
    assert samples[("ntp_offset_seconds", (("server_id", "server-4"),))] == pytest.approx(-3.0)
    assert ("reservations_conflicts_total", ()) in samples


def test_request_metrics_count_responses_by_status_view_and_method(client, api, venue):
    """``ops.metrics.RequestMetricsMiddleware``: each response counted by status, view and
    method, its latency observed by view and method; the per-request metrics it leaves out
    (here the request body sizes) do not move."""
    view = resolve("/api/reservations").view_name
    body = {"seat_id": venue[0].pk, "customer_name": "Ada"}

    def by_status(samples, status):
        labels = (("method", "POST"), ("status", status), ("view", view))
        return samples.get(("django_http_responses_total_by_status_view_method_total", labels), 0.0)

    def latencies(samples):
        labels = (("method", "POST"), ("view", view))
        return samples.get(("django_http_requests_latency_seconds_by_view_method_count", labels), 0.0)

    before = scrape(client)
    assert api.post("/api/reservations", body, format="json").status_code == 201
    assert api.post("/api/reservations", body, format="json").status_code == 409
    after = scrape(client)
    assert by_status(after, "201") - by_status(before, "201") == 1
    assert by_status(after, "409") - by_status(before, "409") == 1
    assert latencies(after) - latencies(before) == 2
    body_sizes = ("django_http_requests_body_total_bytes_count", ())
    assert after.get(body_sizes, 0.0) == before.get(body_sizes, 0.0)
