"""The /experiments page: the latest report from the data directory, or how to make one."""

from __future__ import annotations

import csv
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.SEATCLOCK_DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def report(data_dir):
    call_command(
        "experiment",
        *("--seed", "9", "--rate", "3", "--duration", "15", "--seats", "25", "--think", "6", "--no-progress"),
        *("--modes", "naive", "--scenarios", "extreme_drift", "--skews", "0,30"),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    return data_dir / "experiments"


def test_empty_state_says_how_to_make_a_report(client, data_dir):
    response = client.get("/experiments")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No report yet" in html
    assert "manage.py experiment" in html
    assert "<table" not in html
    assert client.get("/experiments/report.png").status_code == 404


def test_page_shows_parameters_rates_and_plot(client, report):
    response = client.get("/experiments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No report yet" not in html
    assert "manage.py experiment --seed 9 --rate 3 --duration 15 --seats 25" in html
    assert "extreme_drift" in html and "server-2 -30 s" in html
    assert html.count('<td class="num">') == 10 * (1 + 2)  # 10 figures × (1 scenario row + 2 skew rows)
    assert 'src="/experiments/report.png?v=' in html
    png = client.get("/experiments/report.png")
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content) == (report / "report.png").read_bytes()


def test_rates_on_the_page_are_the_csvs_as_percentages(client, report):
    with (report / "report.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    naive = next(r for r in rows if r["scenario"] == "extreme_drift" and r["mode"] == "naive")
    assert float(naive["conflict_rate"]) > 0  # a figure that is not 0.0 % everywhere
    html = client.get("/experiments").content.decode()
    assert f"{100 * float(naive['conflict_rate']):.1f} %" in html
    assert f'<td class="num">{naive["conflicts"]}</td>' in html


def test_unreadable_report_is_reported_not_a_500(client, data_dir):
    (data_dir / "experiments").mkdir()
    (data_dir / "experiments" / "report.json").write_text("{not json")
    response = client.get("/experiments")
    assert response.status_code == 200
    assert "cannot be read" in response.content.decode()


def test_seat_map_links_to_the_experiments(client):
    assert 'href="/experiments"' in client.get("/").content.decode()


def test_page_in_french(client, report):
    html = client.get("/experiments", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Taux de conflits" in html
    assert "Balayage du décalage : server-2 retarde, tous les autres nœuds à 0" in html
    assert "Conflict rate" not in html


def test_empty_state_in_french(client, data_dir):
    html = client.get("/experiments", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Pas encore de rapport — lancez <code>manage.py experiment</code>" in html
