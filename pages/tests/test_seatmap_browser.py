"""The seat map in a real browser (Playwright + Debian's Chromium) against a real Daphne, as a
presenter uses it: on a 1280×720 projector, on a 390 px phone, in two browsers side by side."""

from __future__ import annotations

import pytest

from .conftest import screenshot_dir

pytestmark = [pytest.mark.slow, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"
PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
PANELS = ["venue", "clocks", "controls", "side", "timeline"]


def open_page(browser, site, viewport=PROJECTOR, locale="en-GB"):
    from playwright.sync_api import expect

    context = browser.new_context(viewport=viewport, locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.goto(site.base + "/")
    expect(page.locator("#ws-status")).to_have_attribute("data-state", "live", timeout=10_000)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def seat(page, label: str):
    return page.locator(f'button.seat[data-label="{label}"]')


def reserve(page, label: str, name: str, node: str) -> None:
    seat(page, label).click()
    page.fill("#reserve-name", name)
    page.select_option("#reserve-node", node)
    page.click("#reserve-submit")


def boxes(page, ids):
    return {name: page.locator(f"#{name}").bounding_box() for name in ids}


def overlap(a, b) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def expected_errors(page) -> list[str]:
    """Console errors other than the API's deliberate refusals (a 409 is the lesson)."""
    return [e for e in page.errors if "status of 409" not in e]


def test_projector_layout_shows_cause_and_effect_on_one_screen(demo, browser):
    page = open_page(browser, demo)
    found = boxes(page, PANELS)
    for name, box in found.items():
        assert box is not None, name
        assert box["x"] >= 0 and box["y"] >= 0, (name, box)
        assert box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 720, (name, box)
    for i, a in enumerate(PANELS):
        for b in PANELS[i + 1 :]:
            assert not overlap(found[a], found[b]), (a, found[a], b, found[b])
    # Nothing below the fold, nothing sideways.
    assert page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]") == [
        1280,
        720,
    ]
    # Readable from the back of a room: 16 px text, seats of at least 24 px for the 10×10 venue,
    # every control of the presenter's panel visible without scrolling inside it.
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
    assert seat(page, "E5").bounding_box()["width"] >= 24
    controls = found["controls"]
    for selector in ["#sync-all", "#reset-demo", "#offset-set", ".mode-button >> nth=-1", ".scenario-button >> nth=-1"]:
        box = page.locator(f"#controls {selector}").bounding_box()
        assert box["y"] + box["height"] <= controls["y"] + controls["height"], selector
    # The timeline has a lane per node.
    assert page.locator("#tl-canvas svg").get_attribute("data-lanes") == "server-1 server-2 server-3 server-4 server-5"
    assert expected_errors(page) == []  # the favicon included: no 404
    page.context.close()


def test_a_selected_conflict_seat_keeps_its_conflict_styling(demo, browser):
    demo.api("POST", "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -10})
    demo.reserve("C3", "Jean Dupont", "server-1")
    demo.reserve("C3", "Marie Martin", "server-2")
    demo.reserve("C4", "Ana Lopez", "server-1")
    page = open_page(browser, demo)

    def look(label):
        return page.evaluate(
            """label => { const b = document.querySelector(`button.seat[data-label="${label}"]`);
            const s = getComputedStyle(b);
            return {cls: b.className, bg: s.backgroundImage, color: s.backgroundColor, border: s.borderTopStyle,
                    outline: s.outlineStyle, mark: b.textContent.trim()}; }""",
            label,
        )

    before = look("C3")
    seat(page, "C3").click()
    page.mouse.move(2, 710)  # away from the seat: its look when selected, not when hovered
    after = look("C3")
    assert "seat--conflict" in after["cls"] and "seat--selected" in after["cls"]
    assert "repeating-linear-gradient" in after["bg"] and after["bg"] == before["bg"]  # still hatched
    assert after["border"] == "dashed" and after["mark"] == "⚠"
    assert after["outline"] == "solid" and before["outline"] == "none"  # selection is the outline
    # A booked seat keeps its colour when selected too.
    booked = look("C4")
    seat(page, "C4").click()
    page.mouse.move(2, 710)
    assert look("C4")["color"] == booked["color"] and look("C4")["outline"] == "solid"
    assert look("C3")["outline"] == "none"  # only one seat selected
    page.context.close()


def test_a_wide_venue_scrolls_inside_its_panel_and_every_seat_is_clickable(demo, browser, tmp_path):
    demo.seed(26, 40)
    try:
        page = open_page(browser, demo)
        assert page.locator("button.seat").count() == 26 * 40
        report = page.evaluate(
            """() => {
              const scroll = document.getElementById('venue-scroll');
              scroll.scrollLeft = 0; scroll.scrollTop = 0;
              const edge = scroll.getBoundingClientRect().left;
              const out = {leftOfPanel: 0, negative: 0, missed: [],
                           panelScrolls: scroll.scrollWidth > scroll.clientWidth};
              const seats = Array.from(document.querySelectorAll('#grid button.seat'));
              // Scrolled to its start, no seat lies left of the panel (none out of reach).
              for (const b of seats) if (b.getBoundingClientRect().left < edge - 0.5) out.leftOfPanel++;
              for (const b of seats) {
                b.scrollIntoView({block: 'nearest', inline: 'nearest'});
                const r = b.getBoundingClientRect();
                if (r.left < 0) out.negative++;
                const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                if (!(hit === b || b.contains(hit))) out.missed.push(b.dataset.label);
              }
              return out;
            }"""
        )
        assert report == {"leftOfPanel": 0, "negative": 0, "missed": [], "panelScrolls": True}
        # The page itself does not scroll and the panels still do not overlap.
        assert page.evaluate("document.documentElement.scrollWidth") == 1280
        found = boxes(page, PANELS)
        assert not overlap(found["venue"], found["clocks"])
        page.locator("#venue-scroll").evaluate("e => { e.scrollLeft = 0; e.scrollTop = 0; }")
        page.screenshot(path=str(screenshot_dir(tmp_path) / "seat-map-wide.png"))
        for label in ("A1", "Z40"):
            seat(page, label).click()
            from playwright.sync_api import expect

            expect(page.locator("#details-seat")).to_have_text(f"Seat {label}")
        # "Fit" shows the whole venue in its panel.
        page.click("#zoom-fit")
        assert page.locator("#venue-scroll").evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        page.context.close()
    finally:
        demo.seed(10, 10)


def test_phone_layout_is_usable_without_sideways_scrolling(demo, browser, tmp_path):
    from playwright.sync_api import expect

    page = open_page(browser, demo, viewport=PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    for name in PANELS:
        box = page.locator(f"#{name}").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
    assert seat(page, "A1").bounding_box()["width"] >= 22  # a finger's target
    page.screenshot(path=str(screenshot_dir(tmp_path) / "seat-map-phone.png"))
    reserve(page, "B2", "Jean Dupont", "server-3")
    expect(page.locator("#reserve-result")).to_contain_text("Booked #")
    expect(seat(page, "B2")).to_have_attribute("data-state", "reserved")
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.context.close()


def test_story_mode_runs_to_the_end_and_the_timeline_links_the_conflict(demo, browser, tmp_path):
    from playwright.sync_api import expect

    page = open_page(browser, demo)
    page.click("#tab-story")
    narration = page.locator("#narration")

    def step(n: int) -> None:
        page.click(f'#story-steps button[data-step="{n}"]')
        done = page.locator(f'#story-steps li[data-step="{n}"]')
        expect(done).to_have_attribute("data-state", "done", timeout=10_000)

    # Steps run in order: the later ones wait.
    assert page.locator('#story-steps button[data-step="3"]').is_disabled()
    step(1)
    expect(page.locator('#clocks-body tr[data-server-id="server-2"] .clock__offset')).to_contain_text("−10.000 s")
    step(2)
    step(3)
    expect(narration).to_contain_text("in its future")
    conflict_seat = page.locator("button.seat.seat--conflict")
    expect(conflict_seat).to_have_count(1)
    label = conflict_seat.get_attribute("data-label")
    step(4)
    expect(narration).to_contain_text("unfair")
    # The timeline: both bookings of the conflict linked, the unfair link red, the holder and the
    # truly first marked, the blind write's window drawn on server-2's lane.
    link = page.locator('#tl-canvas path.tl-link[data-fair="false"]')
    expect(link).to_have_count(1)
    ids = {r["customer_name"]: r["id"] for r in demo.api("GET", "/api/reservations")[1]["reservations"]}
    assert link.get_attribute("data-winner-id") == str(ids["Bob"])
    assert link.get_attribute("data-true-first-id") == str(ids["Alice"])
    expect(page.locator(f'#tl-canvas g.tl-res[data-id="{ids["Bob"]}"] .tl-badge')).to_contain_text("holder")
    expect(page.locator(f'#tl-canvas g.tl-res[data-id="{ids["Alice"]}"] .tl-badge')).to_contain_text("truly 1st")
    blind = page.locator(f'#tl-canvas g.tl-blind-write[data-writer-id="{ids["Bob"]}"] rect.tl-blind')
    expect(blind).to_have_count(1)
    # Its width is server-2's lag: 10 s of the window, where Bob's dot and tick are 10 s apart.
    bob = page.locator(f'#tl-canvas g.tl-res[data-id="{ids["Bob"]}"]')
    dot_x = float(bob.locator(".tl-dot").get_attribute("cx"))
    tick_x = float(bob.locator(".tl-tick").get_attribute("x1"))
    assert abs(float(blind.get_attribute("width")) - (dot_x - tick_x)) < 1.0 and dot_x - tick_x > 100
    # The selected conflict seat keeps its hatching under the outline, in the same picture.
    expect(seat(page, label)).to_have_class("seat seat--conflict seat--selected")
    page.screenshot(path=str(screenshot_dir(tmp_path) / "seat-map.png"))
    step(5)
    expect(narration).to_contain_text("stepped its clock by +10.0")
    expect(page.locator('#tl-canvas g.tl-marker[data-kind="sync"][data-lane="server-2"]')).to_have_count(1)
    step(6)
    expect(narration).to_contain_text("409 SEAT_ALREADY_RESERVED")
    assert expected_errors(page) == []
    page.context.close()


def test_two_pages_stay_in_sync(demo, browser):
    from playwright.sync_api import expect

    page1 = open_page(browser, demo)
    page2 = open_page(browser, demo)
    expect(page1.locator('#clocks-body tr[data-server-id="server-1"] .clock__time')).not_to_have_text("—")

    # A booking on page 1 shows on page 2 without reload, within 2 s, on the map and the timeline.
    reserve(page1, "A1", "Jean Dupont", "server-1")
    expect(page1.locator("#reserve-result")).to_contain_text("Booked #")
    expect(seat(page2, "A1")).to_have_attribute("data-state", "reserved", timeout=2000)
    expect(seat(page2, "A1")).to_have_attribute("aria-label", "Seat A1, booked by Jean Dupont")
    expect(page2.locator('#tl-canvas g.tl-res[data-lane="server-1"]')).to_have_count(1, timeout=2000)

    # An API error is shown in place: server-1 sees A1 as taken.
    reserve(page2, "A1", "Marie Martin", "server-1")
    expect(page2.locator("#reserve-error")).to_contain_text("SEAT_ALREADY_RESERVED", timeout=2000)

    # A custom offset from page 1's controls reaches page 2's clocks.
    page1.select_option("#offset-node", "server-2")
    page1.fill("#offset-seconds", "-10")
    page1.fill("#offset-drift", "20")
    page1.click("#offset-set")
    row2 = page2.locator('#clocks-body tr[data-server-id="server-2"]')
    expect(row2.locator(".clock__offset")).to_contain_text("−10.000 s", timeout=2000)
    expect(row2.locator(".clock__offset")).to_contain_text("+20.0 ppm")
    expect(row2.locator(".clock__sync")).to_have_text("✗")
    expect(page2.locator('#tl-canvas g.tl-marker[data-kind="offset"][data-lane="server-2"]')).to_have_count(1)
    expect(page2.locator('#tl-canvas rect.tl-blind-now[data-lane="server-2"]')).to_have_count(1)

    # server-2 lags: it double-books B2; both pages show the conflict and explain it.
    reserve(page1, "B2", "Jean Dupont", "server-1")
    expect(page1.locator("#reserve-result")).to_contain_text("Booked #")
    reserve(page2, "B2", "Marie Martin", "server-2")
    expect(page2.locator("#reserve-result")).to_contain_text("Conflict", timeout=2000)
    for page in (page1, page2):
        expect(seat(page, "B2")).to_have_attribute("data-state", "conflict", timeout=2000)
        expect(seat(page, "B2").locator(".seat__mark")).to_have_text("⚠")
        unfair = page.locator('#conflicts-list li[data-fair="false"]')
        expect(unfair).to_contain_text("UNFAIR", timeout=2000)
        expect(unfair).to_contain_text("Holder by timestamp: Marie Martin (server-2)")
        expect(unfair).to_contain_text("Truly first: Jean Dupont (server-1)")
        expect(unfair.locator(".explanation li")).to_contain_text("server-2 read its clock at")
        expect(page.locator('#tl-canvas path.tl-link[data-fair="false"]')).to_have_count(1, timeout=2000)

    # A hostile customer name is text, not markup, on the map, in the details and on the timeline.
    reserve(page1, "C3", XSS, "server-1")
    expect(page1.locator("#reserve-result")).to_contain_text("Booked #")
    expect(seat(page2, "C3")).to_have_attribute("data-state", "reserved", timeout=2000)
    seat(page2, "C3").click()
    expect(page2.locator("#details-reservations .resv__name")).to_have_text(XSS)
    assert page2.locator("#side img, #timeline img, #grid img").count() == 0

    # Cancelling from page 2's details frees the seat on page 1.
    page2.locator("#details-reservations button.cancel-button").click()
    expect(seat(page1, "C3")).to_have_attribute("data-state", "available", timeout=2000)

    # Resolving in true order on page 1 keeps Jean; page 2 sees B2 back to one holder.
    page1.click("#tab-conflicts")
    page1.locator('#conflicts-list li[data-seat-id] button[data-policy="true_order"]').click()
    expect(page1.locator("#conflicts-result")).to_contain_text("fair: kept who truly came first", timeout=2000)
    expect(seat(page2, "B2")).to_have_attribute("aria-label", "Seat B2, booked by Jean Dupont", timeout=2000)
    expect(page2.locator("#conflicts-summary")).to_have_text("No conflicts.", timeout=2000)

    # Reset from page 1 (two clicks, no dialog): page 2's venue is free and its clocks true.
    page1.click("#reset-demo")
    page1.click("#reset-demo")
    expect(page1.locator("#controls-result")).to_contain_text("Demo reset")
    expect(page2.locator("button.seat.seat--reserved")).to_have_count(0, timeout=2000)
    expect(row2.locator(".clock__offset")).to_contain_text("+0.000 s", timeout=2000)
    expect(page2.locator('#tl-canvas g.tl-global[data-kind="reset"]')).to_have_count(1)
    assert all(s["is_available"] for s in demo.api("GET", "/api/seats")[1])
    assert expected_errors(page1) == [] and expected_errors(page2) == []
    page1.context.close()
    page2.context.close()


def test_consistency_modes_come_from_the_server_and_fences_read_as_words(demo, browser):
    from playwright.sync_api import expect

    page1 = open_page(browser, demo)
    page2 = open_page(browser, demo)
    modes = demo.api("GET", "/api/simulation/consistency")[1]["modes"]
    assert page1.locator(".mode-button").evaluate_all("bs => bs.map(b => b.dataset.mode)") == modes

    # major_drift in naive mode: nobody is fenced, but the far nodes "would be fenced".
    page1.click('button.scenario-button[data-scenario="major_drift"]')
    fence2 = page2.locator('#clocks-body tr[data-server-id="server-2"] .clock__fence')
    expect(fence2).to_have_text("would be fenced", timeout=2000)
    expect(page2.locator('#clocks-body tr[data-server-id="server-1"] .clock__fence')).to_have_text("ok")

    # Switching on page 1 reaches the API and, live, page 2: now fenced for real.
    page1.click('button.mode-button[data-mode="bounded"]')
    expect(page2.locator("#consistency-mode")).to_have_text("bounded", timeout=2000)
    expect(fence2).to_have_text("⊘ fenced", timeout=2000)
    expect(page2.locator('#clocks-body tr[data-server-id="server-2"]')).to_have_class("clock--fenced")
    expect(page2.locator("#fence-hint")).to_contain_text("bounded")
    assert "MAX_CLOCK_OFFSET" not in page2.locator("body").inner_text()
    seat(page2, "D4").click()
    expect(page2.locator('#reserve-node option[value="server-2"]')).to_be_disabled()
    expect(page2.locator("#reserve-fence-hint")).to_be_visible()
    page2.click('button.mode-button[data-mode="naive"]')
    expect(fence2).to_have_text("would be fenced", timeout=2000)
    page1.context.close()
    page2.context.close()


def test_the_page_speaks_french_from_the_browser_or_the_switch(demo, browser):
    from playwright.sync_api import expect

    page = open_page(browser, demo, locale="fr-FR")
    expect(page.locator("#ws-status")).to_have_text("● En direct")  # a JavaScript string
    expect(page.locator("#clocks-title")).to_have_text("Horloges des nœuds")  # a template string
    expect(seat(page, "A1")).to_have_attribute("aria-label", "Siège A1, libre")
    page.click('.lang button[value="en"]')
    expect(page.locator("#clocks-title")).to_have_text("Node clocks")
    expect(page.locator("#ws-status")).to_have_text("● Live", timeout=10_000)
    page.context.close()


def test_replay_reveals_the_past_and_returns_to_live(demo, browser):
    from playwright.sync_api import expect

    demo.reserve("A1", "Jean Dupont", "server-1")
    page = open_page(browser, demo)
    svg = page.locator("#tl-canvas svg")
    expect(page.locator("#tl-canvas g.tl-res")).to_have_count(1)
    page.select_option("#tl-span", "30")  # replays max(window, time since the first record): 30 s
    page.click("#tl-replay")
    expect(svg).to_have_attribute("data-mode", "replay")
    # The replay starts before the booking: it is not drawn until the cursor passes it.
    expect(page.locator("#tl-canvas g.tl-res")).to_have_count(0)
    expect(svg).to_have_attribute("data-mode", "live", timeout=30_000)
    expect(page.locator("#tl-canvas g.tl-res")).to_have_count(1)
    # Scrubbing back pauses; "Live" follows now again.
    page.locator("#tl-scrub").evaluate("e => { e.value = 0; e.dispatchEvent(new Event('input')); }")
    expect(svg).to_have_attribute("data-mode", "paused")
    page.click("#tl-live")
    expect(svg).to_have_attribute("data-mode", "live")
    page.context.close()


# --- Holds (docs/holds.md): held seats, each node's countdown, the holds story ------------------

LABEL_OVERLAPS = """() => {
  const svg = document.querySelector('#tl-canvas svg');
  const texts = Array.from(svg.querySelectorAll('text')).filter(t =>
    !t.closest('.tl-axis') && !t.closest('.tl-lane-labels') && t.textContent.trim() &&
    getComputedStyle(t).display !== 'none');
  const plot = svg.querySelector('.tl-lane-line').getBoundingClientRect();
  const boxes = texts.map(t => ({name: t.getAttribute('class') + ' ' + t.textContent, r: t.getBoundingClientRect()}))
    .filter(b => b.r.right > plot.left + 1 && b.r.left < plot.right - 1);  // drawn inside the plot
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].r, b = boxes[j].r;
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 1 && h > 1) out.push([boxes[i].name, boxes[j].name]);
  }
  return {overlaps: out, labels: boxes.length};
}"""


def label_overlaps(page) -> list:
    """Pairs of timeline texts drawn over each other (bounding boxes, axis and lane names aside)."""
    found = page.evaluate(LABEL_OVERLAPS)
    assert found["labels"] > 0
    return found["overlaps"]


def test_a_held_seat_shows_its_state_and_each_nodes_countdown(demo, browser, tmp_path):
    from playwright.sync_api import expect

    demo.api("POST", "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 10})
    demo.api("POST", "/api/simulation/set-offset", {"server_id": "server-3", "offset_seconds": -10})
    page = open_page(browser, demo)
    other = open_page(browser, demo)
    seat(page, "D4").click()
    page.fill("#reserve-name", "Jean Dupont")
    page.select_option("#reserve-node", "server-1")
    page.fill("#hold-ttl", "60")
    page.click("#hold-submit")
    expect(page.locator("#reserve-result")).to_contain_text("Held #")
    held = seat(page, "D4")
    expect(held).to_have_attribute("data-state", "held")
    expect(held).to_have_class("seat seat--held seat--selected")
    assert held.evaluate("b => getComputedStyle(b).borderTopStyle") == "dotted"
    assert 50 <= int(held.locator(".seat__mark").inner_text()) <= 60  # seconds left on server-1's clock
    assert "held by Jean Dupont through server-1" in held.get_attribute("aria-label")
    # Each node's countdown: server-2 (10 s ahead) 10 s less, server-3 (10 s behind) 10 s more.
    nodes = page.locator("#details-holds li.hold .hold__nodes")
    expect(nodes.locator('li[data-server-id="server-2"]')).to_contain_text("on server-2 (ahead)")
    expect(nodes.locator('li[data-server-id="server-3"]')).to_contain_text("on server-3 (behind)")

    def left(node):
        return int(nodes.locator(f'li[data-server-id="{node}"]').inner_text().split(" s ")[0])

    s1, s2, s3 = left("server-1"), left("server-2"), left("server-3")
    assert abs((s1 - s2) - 10) <= 1 and abs((s3 - s1) - 10) <= 1, (s1, s2, s3)
    page.mouse.move(2, 710)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "seat-map-held.png"))
    # Live: the other page sees it held; the timeline draws it on server-1's lane.
    expect(seat(other, "D4")).to_have_attribute("data-state", "held", timeout=2000)
    expect(other.locator('#tl-canvas g.tl-hold[data-lane="server-1"] rect.tl-hold-bar')).to_have_count(1)
    # A hold taken elsewhere has no buttons here (its token is with that customer).
    seat(other, "D4").click()
    expect(other.locator("#details-holds li.hold")).to_contain_text("its token is with that customer")
    # Released from the details panel: free on both pages.
    page.locator("#details-holds button.hold-release").click()
    expect(page.locator("#reserve-result")).to_contain_text("released")
    expect(seat(other, "D4")).to_have_attribute("data-state", "available", timeout=2000)
    expect(held).to_have_attribute("data-state", "available")
    # Confirmed from the details panel: booked.
    seat(page, "D5").click()
    page.fill("#reserve-name", "Ana Lopez")
    page.click("#hold-submit")
    expect(seat(page, "D5")).to_have_attribute("data-state", "held")
    page.locator("#details-holds button.hold-confirm").click()
    expect(page.locator("#reserve-result")).to_contain_text("confirmed: booking #")
    expect(seat(other, "D5")).to_have_attribute("data-state", "reserved", timeout=2000)
    assert expected_errors(page) == [] and expected_errors(other) == []
    page.context.close()
    other.context.close()


def test_holds_story_runs_to_the_end_and_the_timeline_links_the_stolen_hold_to_the_sale(demo, browser, tmp_path):
    from playwright.sync_api import expect

    page = open_page(browser, demo)
    page.click("#tab-story")
    page.click('.story-pick__button[data-story="holds"]')
    narration = page.locator("#narration")

    def step(n: int) -> None:
        page.click(f'#story-holds-steps button[data-step="{n}"]')
        done = page.locator(f'#story-holds-steps li[data-step="{n}"]')
        expect(done).to_have_attribute("data-state", "done", timeout=30_000)

    step(1)
    expect(page.locator('#clocks-body tr[data-server-id="server-2"] .clock__offset')).to_contain_text("+15.000 s")
    step(2)
    held = page.locator("button.seat.seat--held")
    expect(held).to_have_count(1)
    label = held.get_attribute("data-label")
    step(3)
    expect(narration).to_contain_text("sold")
    expect(seat(page, label)).to_have_attribute("data-state", "reserved")
    step(4)
    expect(narration).to_contain_text("Stolen hold")
    bob = next(r for r in demo.api("GET", "/api/reservations")[1]["reservations"] if r["customer_name"] == "Bob")
    alice = demo.api("GET", "/api/holds?include_expired=true")[1]["holds"][0]
    stolen = page.locator(f'#tl-canvas g.tl-hold-anomaly[data-kind="stolen_hold"][data-hold-id="{alice["id"]}"]')
    expect(stolen).to_have_count(1)
    assert stolen.get_attribute("data-reservation-id") == str(bob["id"])  # linked to the sale
    assert stolen.get_attribute("data-lane") == "server-2"
    expect(stolen.locator(".tl-hold-link-label")).to_contain_text("stolen hold")
    # The link runs from Alice's hold bar (server-1's lane) to Bob's dot (server-2's lane).
    bar = page.locator(f'#tl-canvas g.tl-hold[data-hold-id="{alice["id"]}"] rect.tl-hold-bar')
    dot = page.locator(f'#tl-canvas g.tl-res[data-id="{bob["id"]}"] circle.tl-dot')
    path = stolen.locator("path.tl-hold-link").get_attribute("d")
    start, end = path.split(" C")[0][1:].split(","), path.split(" ")[-1].split(",")
    bar_x, bar_w = float(bar.get_attribute("x")), float(bar.get_attribute("width"))
    bar_y = float(bar.get_attribute("y")) + float(bar.get_attribute("height")) / 2
    assert abs(float(start[1]) - bar_y) < 1
    assert bar_x <= float(start[0]) <= bar_x + bar_w + 1
    assert abs(float(end[0]) - float(dot.get_attribute("cx"))) < 1
    assert abs(float(end[1]) - float(dot.get_attribute("cy"))) < 1
    # Server-2's lane shaded from where it judged the hold over to the hold's true end: 15 s.
    window = stolen.locator("rect.tl-hold-window")
    assert float(window.get_attribute("width")) > 50
    assert label_overlaps(page) == []
    page.screenshot(path=str(screenshot_dir(tmp_path) / "seat-map-holds.png"))
    step(5)
    expect(narration).to_contain_text("stepped its clock by −15.0")
    step(6)
    expect(narration).to_contain_text("409 SEAT_HELD")
    assert label_overlaps(page) == []
    assert expected_errors(page) == []
    page.context.close()


def test_phone_clocks_fit_and_timeline_labels_do_not_overlap(demo, browser):
    demo.api("POST", "/api/simulation/apply-scenario", {"scenario_name": "major_drift"})
    demo.api("POST", "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -10})
    demo.reserve("C3", "Jean Dupont", "server-1")
    demo.reserve("C3", "Marie Martin", "server-2")
    demo.reserve("C4", "Ana Lopez", "server-3")
    seats = demo.seats()
    demo.api("POST", "/api/holds", {"seat_id": seats["D4"], "customer_name": "Luc Petit", "server_id": "server-1"})
    for viewport in (PROJECTOR, PHONE):
        page = open_page(browser, demo, viewport=viewport)
        page.wait_for_selector("#tl-canvas g.tl-hold")
        page.wait_for_timeout(400)
        assert label_overlaps(page) == [], viewport
        fit = page.evaluate(
            """() => {
              const panel = document.getElementById('clocks').getBoundingClientRect();
              const scroll = document.querySelector('#clocks .table-scroll');
              const cells = Array.from(document.querySelectorAll('#clocks th, #clocks td, #clocks .sync-button'));
              return {scrolls: scroll.scrollWidth > scroll.clientWidth + 1,
                      out: cells.filter(c => c.getBoundingClientRect().right > panel.right - 1)
                                .map(c => c.textContent)};
            }"""
        )
        assert fit == {"scrolls": False, "out": []}, (viewport, fit)
        page.context.close()


def test_the_timeline_marks_a_zombie_hold_and_links_it_to_the_refusal(demo, browser):
    import time

    from playwright.sync_api import expect

    demo.api("POST", "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": -8})
    seats = demo.seats()
    status, hold = demo.api("POST", "/api/holds", {"seat_id": seats["F6"], "customer_name": "Ana", "ttl_seconds": 9})
    assert status == 201, hold
    # Truly over after 9 s; server-2, 8 s behind, sees it (stamped 1.5 s in its past) and judges it
    # live for 7.5 s more.
    time.sleep(9.5)
    status, refusal = demo.api(
        "POST", "/api/reservations", {"seat_id": seats["F6"], "customer_name": "Luc", "server_id": "server-2"}
    )
    assert (status, refusal["error"]["code"]) == (409, "SEAT_HELD")
    page = open_page(browser, demo)
    zombie = page.locator(f'#tl-canvas g.tl-hold-anomaly[data-kind="zombie_hold"][data-hold-id="{hold["id"]}"]')
    expect(zombie).to_have_count(1)
    assert zombie.get_attribute("data-lane") == "server-2"
    expect(zombie.locator(".tl-refusal-sym")).to_have_text("✗")
    expect(zombie.locator(".tl-hold-link-label")).to_contain_text("zombie hold: server-2 refused (SEAT_HELD)")
    # The seat is held on the map while server-2 still honours the hold, though it is truly over.
    expect(seat(page, "F6")).to_have_attribute("data-state", "held")
    expect(seat(page, "F6")).to_have_attribute(
        "aria-label", "Seat F6, held by Ana: expired on server-1, still live on another node"
    )
    page.context.close()
