"""The operator's surfaces in a real browser: the admin's lists fit a 1440 px screen, /redoc and
/docs work with no network beyond this server."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

from .conftest import ADMIN_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHANGELISTS = [
    "/admin/reservations/reservation/",
    "/admin/timesync/servernode/",
    "/admin/seats/seat/",
    "/admin/simulation/scenario/",
]


def test_admin_lists_fit_1440_px_and_name_seatclock(demo, browser):
    demo.api("POST", "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -10.123456789})
    demo.reserve("A1", "Jean-Baptiste Dupont-Delacroix", "server-1")
    demo.reserve("A1", "Marie Martin", "server-2")
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(demo.base + "/admin/login/")
    assert "Seatclock administration" in page.locator("#site-name").inner_text()
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    for path in CHANGELISTS:
        page.goto(demo.base + path)
        widths = page.evaluate(
            """() => { const t = document.querySelector('#result_list');
                       return [t.scrollWidth, t.parentElement.clientWidth, document.documentElement.scrollWidth]; }"""
        )
        assert widths[0] <= widths[1] and widths[2] <= 1440, (path, widths)  # no column cut off
    page.goto(demo.base + "/admin/reservations/reservation/")
    text = page.locator("#result_list").inner_text()
    assert "-10.123457" in text  # skew, rounded to the microsecond
    # Both instants of each booking to the microsecond (a 10 s skew is invisible at minutes).
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", text)) == 4
    context.close()


@pytest.mark.parametrize("path", ["/redoc", "/docs"])
def test_api_docs_render_with_no_request_off_this_server(demo, browser, path):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    elsewhere: list[str] = []
    own = urlparse(demo.base).netloc

    def route(r):
        if urlparse(r.request.url).netloc == own:
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(demo.base + path)
    page.get_by_text("Seatclock API").first.wait_for(timeout=15_000)
    page.get_by_text("/api/simulation/reset").first.wait_for(timeout=15_000)
    assert elsewhere == []
    context.close()
