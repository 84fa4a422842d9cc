"""API messages follow Accept-Language (en default, fr translated)."""

from __future__ import annotations

import pytest

from reservations.services import reservation_create

pytestmark = pytest.mark.django_db


def test_seat_already_reserved_in_french(api, venue):
    seat = venue[0]
    reservation_create(seat_id=seat.pk, customer_name="Jean Dupont")
    body = {"seat_id": seat.pk, "customer_name": "Marie Martin"}
    fr = api.post("/api/reservations", body, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    en = api.post("/api/reservations", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert fr.status_code == en.status_code == 409
    assert fr.json()["error"]["message"] == f"Le siège {seat.pk} est déjà réservé"
    assert en.json()["error"]["message"] == f"Seat {seat.pk} is already reserved"
    assert fr.json()["error"]["code"] == "SEAT_ALREADY_RESERVED"


@pytest.mark.parametrize(
    "method, path, body, message",
    [
        ("get", "/api/seats/999999", None, "Siège 999999 introuvable"),
        ("get", "/api/no-such-endpoint", None, "Ressource introuvable"),
        ("post", "/api/reservations", {"seat_id": "x"}, "Données invalides"),
        ("post", "/api/simulation/apply-scenario", {"scenario_name": "nope"}, "Scénario inconnu : nope"),
        ("delete", "/api/simulation/remove-offset/server-9", None, "ID de serveur inconnu : server-9"),
    ],
)
def test_error_messages_in_french(api, venue, method, path, body, message):
    kwargs = {"format": "json"} if body is not None else {}
    args = (path, body) if body is not None else (path,)
    response = getattr(api, method)(*args, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9", **kwargs)
    assert response.json()["error"]["message"] == message


def test_field_messages_in_french(api, venue):
    response = api.post(
        "/api/reservations", {"seat_id": venue[0].pk, "customer_name": "A"}, format="json", HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.json()["error"]["details"]["customer_name"] == ["Doit contenir entre 2 et 100 caractères."]


def test_success_messages_in_french(api):
    response = api.post("/api/simulation/clear-offsets", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["message"] == "Tous les décalages temporels ont été supprimés"


def test_admin_in_french(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("op", "op@example.com", "pw-op-123456"))
    response = client.get("/admin/timesync/servernode/", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Synchroniser maintenant (NTP)" in response.content.decode()


def test_reset_and_admin_in_french(api, client, django_user_model):
    response = api.post("/api/simulation/reset", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["message"] == (
        "Démo réinitialisée : 0 réservation(s) annulée(s), toutes les horloges au temps vrai"
    )
    client.force_login(django_user_model.objects.create_superuser("op2", "op2@example.com", "pw-op-123456"))
    page = client.get("/admin/timesync/servernode/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Administration de Seatclock" in page and "Heure du serveur (UTC)" in page


def test_compiled_catalogues_match_their_sources(tmp_path):
    """Every .mo is msgfmt's output for its .po: a translation edited but not compiled fails here."""
    import shutil
    import subprocess
    from pathlib import Path

    from django.conf import settings

    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (gettext) is not installed")
    base = Path(settings.BASE_DIR)
    sources = sorted(base.glob("locale/*/LC_MESSAGES/*.po")) + sorted(base.glob("*/locale/*/LC_MESSAGES/*.po"))
    assert len(sources) >= 3
    for po in sources:
        fresh = tmp_path / (po.stem + ".mo")
        subprocess.run([msgfmt, "--check", "-o", str(fresh), str(po)], check=True)
        assert fresh.read_bytes() == po.with_suffix(".mo").read_bytes(), po
