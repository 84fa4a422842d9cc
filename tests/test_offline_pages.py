"""Every HTML page Seatclock serves works offline: no stylesheet, script, font or icon is fetched
from another host at run time (a projector room often has no Internet)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
IMPORT = re.compile(r"""@import|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/", "/redoc", "/docs", "/experiments", "/admin/login/"])
def test_page_loads_nothing_from_another_host(client, venue, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert EXTERNAL.findall(html) == []
    assert IMPORT.findall(html) == []


def test_redoc_uses_the_bundled_redoc_and_no_web_font(client):
    html = client.get("/redoc").content.decode()
    assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in html


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code in (301, 302)
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)
    icon.close()
