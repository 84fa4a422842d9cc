"""The benchmark's reference view (bench/reference/) inserts one row, and exists only in its own
settings: a normal deployment (config.settings, config.urls) has no /bench/ URL."""

from __future__ import annotations

import json

import pytest
from django.urls import clear_url_caches

from reservations.models import Reservation

pytestmark = pytest.mark.django_db


def post_insert(client, seat):
    body = {"seat_id": seat.pk, "customer_name": "Bench Ref", "server_id": "server-3"}
    return client.post("/bench/insert", json.dumps(body), content_type="application/json")


def test_a_normal_deployment_has_no_reference_view(client, venue):
    assert post_insert(client, venue[0]).status_code == 404
    assert Reservation.objects.count() == 0


def test_the_reference_view_inserts_one_row_in_one_statement(client, venue, settings, django_assert_num_queries):
    settings.ROOT_URLCONF = "bench.reference.urls"
    clear_url_caches()
    try:
        with django_assert_num_queries(1):
            response = post_insert(client, venue[5])
    finally:
        clear_url_caches()
    assert response.status_code == 201
    row = Reservation.objects.get()
    assert (row.pk, row.seat_id, row.node_id) == (response.json()["id"], venue[5].pk, "server-3")
    assert not Reservation.objects.active().exists()  # the seat stays free for the real benchmark
