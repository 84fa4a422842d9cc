"""The seat map in a real browser (Playwright + Debian's Chromium) against a real Daphne."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from tests.servers import BASE_DIR, daphne, manage, server_env, skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"


def screenshot_path(tmp_path: Path) -> Path:
    """Where the page's screenshot goes: a temporary artifact unless SEATCLOCK_SCREENSHOT names a
    path (e.g. ``SEATCLOCK_SCREENSHOT=docs/seat-map.png`` to refresh the README's picture)."""
    wanted = os.environ.get("SEATCLOCK_SCREENSHOT")
    return BASE_DIR / wanted if wanted else tmp_path / "artifacts" / "seat-map.png"


def get_json(url: str):
    return json.loads(urllib.request.urlopen(url, timeout=5).read())


@pytest.fixture
def server(tmp_path):
    env = server_env(SEATCLOCK_DATA_DIR=str(tmp_path / "data"))
    manage(env, "migrate", "--noinput")
    manage(env, "seed_venue")
    with daphne(env, tmp_path) as base:
        yield base


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser, base):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(base + "/")
    expect(page.locator("#ws-status")).to_have_attribute("data-state", "live", timeout=10_000)
    return page, dialogs


def reserve(page, seat_label: str, name: str, node: str) -> None:
    page.locator(f'button.seat[data-label="{seat_label}"]').click()
    page.fill("#reserve-name", name)
    page.select_option("#reserve-node", node)
    page.click("#reserve-submit")


def seat(page, label: str):
    return page.locator(f'button.seat[data-label="{label}"]')


def test_seat_map_live_conflicts_and_escaping(server, browser, tmp_path):
    from playwright.sync_api import expect

    page1, dialogs1 = open_page(browser, server)
    page2, dialogs2 = open_page(browser, server)

    # The venue: 10 rows × 10 seats, labelled.
    expect(page1.locator("button.seat[data-seat-id]")).to_have_count(100)
    expect(seat(page1, "A1")).to_have_attribute("aria-label", "Seat A1, available")
    expect(page1.locator('#clocks-body tr[data-server-id="server-1"] .clock__time')).not_to_have_text("—")

    # A reservation on page 1 shows on page 2 without reload, within 2 s.
    reserve(page1, "A1", "Jean Dupont", "server-1")
    expect(page1.locator("#reserve-result")).to_contain_text("Reserved #")
    expect(page2.locator('button.seat[data-label="A1"][data-state="reserved"]')).to_be_visible(timeout=2000)
    expect(seat(page2, "A1")).to_have_attribute("aria-label", "Seat A1, reserved by Jean Dupont")

    # An API error is shown in place: server-1 sees A1 as taken.
    reserve(page2, "A1", "Marie Martin", "server-1")
    expect(page2.locator("#reserve-error")).to_contain_text("SEAT_ALREADY_RESERVED", timeout=2000)

    # major_drift: server-2 lags 10 s, so it cannot see server-1's fresh reservation.
    page1.click('button.scenario-button[data-scenario="major_drift"]')
    expect(page1.locator("#controls-result")).to_contain_text("major_drift", timeout=2000)
    expect(page2.locator('#clocks-body tr[data-server-id="server-2"] .clock__offset')).to_contain_text(
        "-10.000 s", timeout=2000
    )
    expect(page2.locator('#clocks-body tr[data-server-id="server-2"] .clock__sync')).to_have_text("✗ not synced")
    reserve(page1, "B2", "Jean Dupont", "server-1")
    expect(page1.locator("#reserve-result")).to_contain_text("Reserved #")
    reserve(page2, "B2", "Marie Martin", "server-2")
    expect(page2.locator("#reserve-result")).to_contain_text("Conflict", timeout=2000)
    for page in (page1, page2):
        expect(page.locator('button.seat[data-label="B2"][data-state="conflict"]')).to_be_visible(timeout=2000)
        expect(seat(page, "B2").locator(".seat__mark")).to_have_text("⚠")
        unfair = page.locator('#conflicts-list li[data-fair="false"]')
        expect(unfair).to_contain_text("UNFAIR", timeout=2000)
        expect(unfair).to_contain_text("Holder by timestamp: Marie Martin (server-2)")
        expect(unfair).to_contain_text("Truly first: Jean Dupont (server-1)")
        # The conflict explains itself: server-2's clock was 10 s behind.
        expect(unfair.locator(".explanation li")).to_contain_text("server-2 read its clock at")
        expect(unfair.locator(".explanation li")).to_contain_text("(offset -10.000 s) and could not see #")

    # A hostile customer name is text, not markup, in the grid, the details and on other pages.
    reserve(page1, "C3", XSS, "server-1")
    expect(page1.locator("#reserve-result")).to_contain_text("Reserved #")
    expect(page2.locator('button.seat[data-label="C3"][data-state="reserved"]')).to_be_visible(timeout=2000)
    page2.locator('button.seat[data-label="C3"]').click()
    expect(page2.locator("#details-reservations .resv__name")).to_have_text(XSS)
    assert page2.locator("#details img, #conflicts img, #grid img").count() == 0
    assert dialogs1 == [] and dialogs2 == []

    # The REST view agrees with the page.
    seats = json.loads(urllib.request.urlopen(server + "/api/seats", timeout=5).read())
    b2 = next(s for s in seats if s["row"] == "B" and s["number"] == 2)
    assert b2["reservation"]["customer_name"] == "Marie Martin"

    page1.locator('button.seat[data-label="B2"]').click()
    expect(page1.locator("#details-reservations tr")).to_have_count(2)
    expect(page1.locator("#details-explanation li")).to_contain_text("in its future")
    shot = screenshot_path(tmp_path)
    shot.parent.mkdir(parents=True, exist_ok=True)
    page1.screenshot(path=str(shot), full_page=True)

    # Resolving in true order keeps Jean; page 2 sees B2 back to one holder, live.
    page1.locator('#conflicts-list li[data-seat-id] button[data-policy="true_order"]').click()
    expect(page1.locator("#conflicts-result")).to_contain_text("fair: kept who truly came first", timeout=2000)
    expect(page2.locator('button.seat[data-label="B2"][data-state="reserved"]')).to_be_visible(timeout=2000)
    expect(seat(page2, "B2")).to_have_attribute("aria-label", "Seat B2, reserved by Jean Dupont")
    expect(page2.locator("#conflicts-summary")).to_have_text("No conflicts.", timeout=2000)
    b2 = next(s for s in get_json(server + "/api/seats") if s["row"] == "B" and s["number"] == 2)
    assert b2["reservation"]["customer_name"] == "Jean Dupont"
    page1.context.close()
    page2.context.close()


def test_consistency_mode_switch_and_fenced_nodes(server, browser):
    from playwright.sync_api import expect

    page1, _ = open_page(browser, server)
    page2, _ = open_page(browser, server)
    expect(page2.locator("#consistency-mode")).to_have_text("naive")

    # Switching on page 1 reaches the API and, live, page 2.
    page1.click('button.mode-button[data-mode="bounded"]')
    expect(page1.locator("#controls-result")).to_contain_text("Consistency mode: bounded", timeout=2000)
    expect(page2.locator("#consistency-mode")).to_have_text("bounded", timeout=2000)
    expect(page2.locator('button.mode-button[data-mode="bounded"]')).to_have_attribute("aria-pressed", "true")
    assert get_json(server + "/api/simulation/consistency")["mode"] == "bounded"

    # major_drift: server-2 (-10 s), server-3 (+5 s) and server-4 (-3 s) are far from the median (0): fenced.
    page1.click('button.scenario-button[data-scenario="major_drift"]')
    fenced_row = page2.locator('#clocks-body tr[data-server-id="server-2"]')
    expect(fenced_row).to_have_attribute("data-fenced", "true", timeout=2000)
    expect(fenced_row).to_have_class("clock--fenced")
    expect(fenced_row.locator(".clock__fence")).to_contain_text("fenced")
    expect(page2.locator('#clocks-body tr[data-server-id="server-1"]')).to_have_attribute("data-fenced", "false")
    page2.locator('button.seat[data-label="D4"]').click()
    expect(page2.locator('#reserve-node option[value="server-2"]')).to_be_disabled()
    expect(page2.locator('#reserve-node option[value="server-1"]')).to_be_enabled()
    expect(page2.locator("#reserve-fence-hint")).to_be_visible()
    assert {s["server_id"] for s in get_json(server + "/api/time/servers")["servers"] if s["fenced"]} == {
        "server-2",
        "server-3",
        "server-4",
    }

    # Back to naive from page 2: nothing is greyed out any more on page 1 (fencing is bounded's).
    page2.click('button.mode-button[data-mode="naive"]')
    expect(page1.locator("#consistency-mode")).to_have_text("naive", timeout=2000)
    expect(page1.locator('#clocks-body tr[data-server-id="server-2"]')).to_have_attribute(
        "data-fenced", "false", timeout=2000
    )
    expect(page1.locator('#clocks-body tr[data-server-id="server-2"] .clock__fence')).to_contain_text("beyond limit")
    page1.context.close()
    page2.context.close()
