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
        *("--seeds", "9,10", "--rate", "3", "--duration", "15", "--seats", "25", "--think", "6", "--no-progress"),
        *("--modes", "naive,commit_wait", "--scenarios", "extreme_drift", "--skews", "0,30", "--jobs", "1"),
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
    assert client.get("/experiments/plot/conflict_rate.png").status_code == 404


def test_page_shows_parameters_intervals_claims_and_a_plot_per_measure(client, report):
    response = client.get("/experiments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No report yet" not in html
    assert "manage.py experiment --seeds 9,10 --rate 3 --duration 15 --seats 25" in html
    assert "9, 10 (2)" in html
    assert "extreme_drift" in html and "server-2 -30 s" in html
    # 6 measures × 2 modes × (2 workloads × (1 scenario row + 2 skew rows)) + the claims table (3
    # figures for extreme_drift, naive).
    assert html.count('<td class="num">') == 6 * 2 * 2 * 3 + 3
    assert "&gt; 50 %" in html  # the guide's claim for extreme_drift, beside what was measured
    assert "every node synced at the start of a trial and every 64.0 s with a 0.001 s error bound" in html
    measures = ("conflict_rate", "unfair_rate", "refused_rate", "stolen_hold_rate", "zombie_seat_seconds")
    for measure in (*measures, "commit_wait_latency"):
        assert f'src="/experiments/plot/{measure}.png?v=' in html
        png = client.get(f"/experiments/plot/{measure}.png")
        assert png.status_code == 200 and png["Content-Type"] == "image/png"
        assert b"".join(png.streaming_content) == (report / f"plot-{measure.replace('_', '-')}.png").read_bytes()
    assert client.get("/experiments/plot/nope.png").status_code == 404


def test_figures_on_the_page_are_the_summarys_means_and_intervals(client, report):
    with (report / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    naive = next(r for r in rows if r["scenario"] == "extreme_drift" and r["workload"] == "hold")
    assert float(naive["stolen_hold_rate_mean"]) > 0  # a figure that is not 0.0 % everywhere
    html = client.get("/experiments").content.decode()
    mean, ci = 100 * float(naive["stolen_hold_rate_mean"]), 100 * float(naive["stolen_hold_rate_ci95"])
    assert f'<td class="num">{mean:.1f} % ± {ci:.1f}</td>' in html
    zombie = float(naive["zombie_seat_seconds_mean"])
    assert f"{zombie:.1f} s ± " in html
    # Commit-wait latency in ms: about 2ε per write (ε from the 1 ms sync error), 0 in naive.
    cw = next(r for r in rows if r["scenario"] == "extreme_drift" and r["mode"] == "commit_wait")
    latency, ci = 1000 * float(cw["commit_wait_latency_mean"]), 1000 * float(cw["commit_wait_latency_ci95"])
    assert 2 < latency < 20  # 2ε, ε = 1 ms + 0.2 ms per virtual second since the sync (runs ≤ 45 s)
    assert f'<td class="num">{latency:.1f} ms ± {ci:.1f}</td>' in html
    assert float(naive["commit_wait_latency_mean"]) == 0


def test_unreadable_report_is_reported_not_a_500(client, data_dir):
    (data_dir / "experiments").mkdir()
    (data_dir / "experiments" / "report.json").write_text("{not json")
    response = client.get("/experiments")
    assert response.status_code == 200
    assert "cannot be read" in response.content.decode()


def test_a_report_of_an_older_version_is_reported_not_a_500(client, data_dir):
    out = data_dir / "experiments"
    out.mkdir()
    (out / "report.json").write_text('{"seed": 1}')
    (out / "summary.csv").write_text("sweep,scenario\nscenario,minor_drift\n")
    assert "not a report of this version" in client.get("/experiments").content.decode()


def test_seat_map_links_to_the_experiments(client):
    assert 'href="/experiments"' in client.get("/").content.decode()


def test_page_in_french(client, report):
    html = client.get("/experiments", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Taux de conflits" in html
    assert "Balayage du décalage : server-2 retarde, tous les autres nœuds à 0" in html
    assert "Conflict rate" not in html
    assert "Latence de l&#x27;attente de validation" in html
    assert "une borne d'erreur de 0,001 s" in html


def test_empty_state_in_french(client, data_dir):
    html = client.get("/experiments", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Pas encore de rapport — lancez <code>manage.py experiment</code>" in html
