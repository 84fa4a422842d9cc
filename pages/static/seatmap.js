/* Seatclock seat map: plain JavaScript, no build step.
 *
 * The page starts from the server-rendered state (#seatmap-state), then stays live over
 * /ws/updates.  On every (re)connection it re-syncs from the REST API, so nothing missed while
 * disconnected is lost.  Each seat's holder comes from the server (holder_id), never from a rule
 * applied here.  Customer names are untrusted: they are only ever set as text, never as HTML.
 * Strings go through Django's JavaScript catalogue (gettext, interpolate: /jsi18n/), so the
 * page speaks the language Django picked (the switch's cookie, else Accept-Language).
 */
(function () {
  "use strict";

  var _ = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  function fmt(text, values) {
    return window.interpolate ? window.interpolate(text, values, true) : text.replace(/%\((\w+)\)s/g, function (m, k) { return values[k]; });
  }

  var TOPICS = ["reservations", "time_sync", "conflicts"];
  var MARKS = { available: "○", reserved: "●", conflict: "⚠", held: "◷" };
  var STATE_TEXT = { available: _("free"), reserved: _("booked"), conflict: _("double-booked"), held: _("held") };

  var seats = new Map(); // seat id -> {id, row, number, label, reservations: Map(id -> reservation), holderId}
  /* Active holds (docs/holds.md), as GET /api/holds read them: hold id -> the hold plus
     `nodes` {server_id: {live, remaining_seconds}} judged at true time `seenAt` (ms).  Each
     node's countdown is remaining_seconds − (now − seenAt): the server judged, the page only
     lets time pass. */
  var holds = new Map();
  var holdTokens = new Map(); // hold id -> hold_token, for the holds this page took (shown once)
  var conflictsBySeat = new Map(); // seat id -> conflict from /api/reservations/conflicts
  var consistency = { mode: "naive", fence_limit_seconds: null, max_clock_offset_seconds: null, modes: [] };
  var controlsEnabled = false;
  var selectedId = null;
  var clockBase = null; // {trueMs, perf, servers: [...]}
  var socket = null;
  var attempts = 0;
  var timeline = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  /* ISO-8601 -> microseconds since the epoch (Date.parse keeps only milliseconds). */
  function micros(iso) {
    var m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso || "");
    if (!m) return NaN;
    var frac = ((m[2] || "") + "000000").slice(0, 6);
    return Date.parse(m[1] + m[3]) * 1000 + parseInt(frac, 10);
  }

  /* Time of day to the millisecond (UTC): what the audience compares. */
  function clockOf(iso) {
    var us = micros(iso);
    if (isNaN(us)) return "—";
    return new Date(Math.floor(us / 1000)).toISOString().slice(11, 23);
  }

  /* The whole instant to the microsecond, for tooltips. */
  function fullTime(iso) {
    var us = micros(iso);
    if (isNaN(us)) return iso || "";
    return new Date(Math.floor(us / 1000)).toISOString().replace("T", " ").replace("Z", "") + String(us % 1000).padStart(3, "0") + " UTC";
  }

  function signed(seconds, digits) {
    var text = Math.abs(seconds).toFixed(digits === undefined ? 3 : digits);
    return (seconds < 0 ? "−" : "+") + text;
  }

  /* True time as this page estimates it: the server's true_time plus local elapsed time. */
  function trueNow() {
    if (!clockBase) return Date.now();
    return clockBase.trueMs + (performance.now() - clockBase.perf);
  }

  async function api(method, url, body) {
    var init = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var response = await fetch(url, init);
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data: data };
  }

  /* An API error as one line: its message, each field's messages, its code. */
  function errorText(result) {
    var err = result.data && result.data.error;
    if (!err) return "HTTP " + result.status;
    var text = err.message;
    var details = err.details || {};
    Object.keys(details).forEach(function (field) {
      if (Array.isArray(details[field])) text += " — " + field + ": " + details[field].join(" ");
    });
    var existing = details.existing_reservation;
    if (existing) text += " — " + fmt(_("held by %(name)s (#%(id)s)"), { name: existing.customer_name, id: existing.id });
    return text + " (" + err.code + ")";
  }

  function seatName(id) {
    var seat = seats.get(id);
    return seat ? seat.label : "#" + id;
  }

  /* ---- seats ---------------------------------------------------------------------------- */

  function seatState(seat) {
    var n = seat.reservations.size;
    if (n === 0 && seatHold(seat.id)) return "held";
    return n === 0 ? "available" : n === 1 ? "reserved" : "conflict";
  }

  /* ---- holds: expiry as each node's clock judges it ------------------------------------------ */

  /* Seconds left on `node`'s clock (negative: expired that long ago), or null if unknown. */
  function holdRemaining(h, node) {
    var seen = h.nodes[node];
    if (!seen) return null;
    return seen.remaining_seconds - (trueNow() - h.seenAt) / 1000;
  }

  /* Live somewhere: some node still judges it live, or it is live in true time. */
  function holdAlive(h) {
    if (trueNow() < micros(h.true_expires_at) / 1000) return true;
    return Object.keys(h.nodes).some(function (node) { return holdRemaining(h, node) > 0; });
  }

  /* The seat's hold drawn on its tile: the latest one alive (another customer's after a theft). */
  function seatHold(seatId) {
    var found = null;
    holds.forEach(function (h) { if (h.seat_id === seatId && holdAlive(h) && (!found || h.id > found.id)) found = h; });
    return found;
  }

  function secondsText(r) { return Math.max(0, Math.ceil(r - 1e-9)).toString(); }

  /* Keep the holds of `list` (GET /api/holds' shape, read at `trueTime`); with `seatId`, the
     ones of that seat are replaced, else all of them. */
  function setHolds(list, trueTime, seatId) {
    var seenAt = micros(trueTime) / 1000;
    var ids = new Set(list.map(function (h) { return h.id; }));
    holds.forEach(function (h, id) {
      if ((seatId === undefined || h.seat_id === seatId) && !ids.has(id)) {
        holds.delete(id);
        if (timeline) timeline.endHold(id, h.status === "active" ? "expired" : h.status, null);
      }
    });
    list.forEach(function (h) {
      holds.set(h.id, Object.assign({}, h, { seenAt: seenAt }));
      if (timeline) timeline.addHold(h);
    });
    if (seatId === undefined) renderAllSeats();
    else if (seats.has(seatId)) renderSeat(seats.get(seatId));
  }

  async function refreshHolds(seatId) {
    var url = "/api/holds?limit=1000" + (seatId === undefined ? "" : "&seat_id=" + seatId);
    var result = await api("GET", url);
    if (!result.ok) return;
    setHolds(result.data.holds, result.data.true_time, seatId);
    refreshAnomaliesSoon();
  }

  function dropHold(h, state, atIso) {
    holds.delete(h.id);
    holdTokens.delete(h.id);
    if (timeline) timeline.endHold(h.id, state, atIso || null);
    if (seats.has(h.seat_id)) renderSeat(seats.get(h.seat_id));
  }

  /* The checker's stolen and zombie holds (GET /seat-map/hold-anomalies): the page draws them,
     it never classifies a hold itself. */
  var anomalyTimer = null;
  var anomalies = [];
  function refreshAnomaliesSoon() {
    clearTimeout(anomalyTimer);
    anomalyTimer = setTimeout(refreshAnomalies, 250);
  }

  async function refreshAnomalies() {
    var result = await api("GET", "/seat-map/hold-anomalies");
    if (!result.ok) return null;
    anomalies = result.data.anomalies;
    if (timeline) timeline.setHoldAnomalies(anomalies);
    if (selectedId !== null) renderDetails();
    return anomalies;
  }

  /* "expires in 42 s on server-1 (its node), 32 s on server-2 (ahead), expired on server-4 …" */
  function holdNodeText(h, node) {
    var r = holdRemaining(h, node);
    if (r === null) return node + " ?";
    var clock = clockBase && clockBase.servers.find(function (s) { return s.server_id === node; });
    var own = clockBase && clockBase.servers.find(function (s) { return s.server_id === h.server_id; });
    var rel = "";
    if (node === h.server_id) rel = " " + _("(its node)");
    else if (clock && own && Math.abs(clock.offset_seconds - own.offset_seconds) >= 0.5) {
      rel = " " + (clock.offset_seconds > own.offset_seconds ? _("(ahead)") : _("(behind)"));
    }
    return r > 0
      ? fmt(_("%(s)s s on %(node)s"), { s: secondsText(r), node: node }) + rel
      : fmt(_("expired on %(node)s"), { node: node }) + rel;
  }

  function renderHoldNodes(h, list) {
    list.querySelectorAll("li[data-server-id]").forEach(function (li) {
      var node = li.dataset.serverId;
      var r = holdRemaining(h, node);
      var text = holdNodeText(h, node);
      if (li.textContent !== text) li.textContent = text;
      var state = r === null ? "unknown" : r > 0 ? "live" : "expired";
      if (li.dataset.state !== state) li.dataset.state = state;
    });
  }

  function renderDetailsHolds(seat) {
    var box = $("details-holds");
    box.replaceChildren();
    var mine = [];
    holds.forEach(function (h) { if (h.seat_id === seat.id) mine.push(h); });
    mine.sort(function (a, b) { return a.id - b.id; });
    mine.forEach(function (h) {
      var li = el("li", null, "hold");
      li.dataset.holdId = h.id;
      var head = el("div", null, "resv__head");
      head.appendChild(el("span", "◷ " + h.customer_name, "resv__name"));
      head.appendChild(el("span", fmt(_("hold #%(id)s through %(node)s, %(ttl)s s"), { id: h.id, node: h.server_id, ttl: h.ttl_seconds })));
      var stolen = anomalies.find(function (a) { return a.hold_id === h.id && a.kind === "stolen_hold"; });
      if (stolen) head.appendChild(el("span", _("stolen"), "tag tag--bad"));
      li.appendChild(head);
      var nodes = el("ul", null, "hold__nodes");
      nodes.setAttribute("aria-label", _("expires in"));
      var order = Object.keys(h.nodes);
      order.sort(function (a, b) { return (b === h.server_id) - (a === h.server_id) || (a < b ? -1 : a > b ? 1 : 0); });
      order.forEach(function (node) {
        var n = el("li");
        n.dataset.serverId = node;
        nodes.appendChild(n);
      });
      li.appendChild(el("span", _("expires in") + " ", "hold__lead"));
      li.appendChild(nodes);
      renderHoldNodes(h, nodes);
      if (holdTokens.has(h.id)) {
        var buttons = el("div", null, "buttons");
        var confirm = el("button", _("Confirm"), "hold-confirm");
        confirm.type = "button";
        confirm.dataset.holdId = h.id;
        confirm.title = _("Confirm into a booking, through the node chosen above");
        var release = el("button", _("Release"), "hold-release");
        release.type = "button";
        release.dataset.holdId = h.id;
        buttons.append(confirm, release);
        li.appendChild(buttons);
      } else {
        li.appendChild(el("p", _("Taken elsewhere: its token is with that customer (the admin releases any hold)."), "hint"));
      }
      box.appendChild(li);
    });
  }

  async function holdThrough(seatId, name, node, ttl) {
    var result = await api("POST", "/api/holds", { seat_id: seatId, customer_name: name, server_id: node, ttl_seconds: ttl });
    if (result.ok) {
      holdTokens.set(result.data.id, result.data.hold_token);
      await refreshHolds(seatId);
    } else {
      refreshAnomaliesSoon(); // a SEAT_HELD refusal may be a zombie's witness
    }
    return result;
  }

  async function placeHold() {
    if (selectedId === null) return;
    var form = $("reserve-form");
    if (!form.reportValidity()) return;
    $("reserve-error").textContent = "";
    $("reserve-result").textContent = "";
    var result = await holdThrough(selectedId, $("reserve-name").value, $("reserve-node").value, Number($("hold-ttl").value));
    if (result.ok) {
      $("reserve-result").textContent = fmt(_("Held #%(id)s through %(node)s for %(ttl)s s (until %(time)s on its clock)."), {
        id: result.data.id, node: result.data.server_id, ttl: result.data.ttl_seconds, time: clockOf(result.data.expires_at) });
    } else {
      $("reserve-error").textContent = errorText(result);
    }
  }

  async function confirmHold(id, node) {
    var token = holdTokens.get(id);
    if (!token) return null;
    var result = await api("POST", "/api/holds/" + encodeURIComponent(token) + "/confirm", { server_id: node });
    var h = holds.get(id);
    if (result.ok) {
      if (h) dropHold(h, "confirmed", null);
      addReservation(result.data);
      refreshSeat(result.data.seat_id);
      if (result.data.conflict_detected) refreshConflictsSoon();
    }
    refreshAnomaliesSoon();
    return result;
  }

  async function releaseHold(id) {
    var token = holdTokens.get(id);
    if (!token) return null;
    var result = await api("DELETE", "/api/holds/" + encodeURIComponent(token));
    var h = holds.get(id);
    if ((result.ok || result.status === 204) && h) dropHold(h, "released", null);
    return result;
  }

  async function holdAction(event) {
    var button = event.target.closest("button.hold-confirm, button.hold-release");
    if (!button) return;
    var id = parseInt(button.dataset.holdId, 10);
    $("reserve-error").textContent = "";
    $("reserve-result").textContent = "";
    var confirming = button.classList.contains("hold-confirm");
    var result = confirming ? await confirmHold(id, $("reserve-node").value) : await releaseHold(id);
    if (!result) return;
    if (result.ok || result.status === 204) {
      $("reserve-result").textContent = confirming
        ? fmt(_("Hold #%(id)s confirmed: booking #%(r)s through %(node)s."), { id: id, r: result.data.id, node: result.data.server_id })
          + (result.data.conflict_detected ? " " + _("⚠ Conflict: this node could not see an earlier booking.") : "")
        : fmt(_("Hold #%(id)s released."), { id: id });
    } else {
      $("reserve-error").textContent = errorText(result);
    }
    if (selectedId !== null) renderDetails();
  }

  /* Every 100 ms: the tiles' countdowns, the selected seat's per-node list; a hold nobody
     judges live any more leaves the map. */
  function tickHolds() {
    var touched = new Set();
    holds.forEach(function (h) {
      if (!holdAlive(h)) {
        holds.delete(h.id);
        if (timeline) timeline.endHold(h.id, "expired", null);
        if (seats.has(h.seat_id)) renderSeat(seats.get(h.seat_id));
      }
      touched.add(h.seat_id);
    });
    touched.forEach(function (id) {
      var seat = seats.get(id);
      if (!seat) return;
      var button = $("seat-" + id);
      var st = seatState(seat);
      if (button && button.dataset.state !== st) { renderSeat(seat); return; }
      if (st === "held" && button) {
        var h = seatHold(id);
        var text = secondsText(holdRemaining(h, h.server_id) || 0);
        if (text === "0") text = MARKS.held;
        var mark = button.querySelector(".seat__mark");
        if (mark.textContent !== text) {
          mark.textContent = text;
          button.setAttribute("aria-label", seatLabelText(seat, st));
        }
      }
    });
    if (selectedId !== null) {
      document.querySelectorAll("#details-holds li.hold").forEach(function (li) {
        var h = holds.get(parseInt(li.dataset.holdId, 10));
        if (h) renderHoldNodes(h, li.querySelector(".hold__nodes"));
      });
    }
  }

  /* Reservations listed holder first (the holder as the server states it), then by stamp. */
  function listed(seat) {
    return Array.from(seat.reservations.values()).sort(function (a, b) {
      return (b.id === seat.holderId) - (a.id === seat.holderId) || micros(a.created_at) - micros(b.created_at) || a.id - b.id;
    });
  }

  function seatLabelText(seat, st) {
    var holder = seat.reservations.get(seat.holderId);
    if (st === "conflict") return fmt(_("Seat %(label)s, double-booked (%(n)s bookings)"), { label: seat.label, n: seat.reservations.size });
    if (st === "reserved" && holder) return fmt(_("Seat %(label)s, booked by %(name)s"), { label: seat.label, name: holder.customer_name });
    if (st === "held") {
      var h = seatHold(seat.id);
      var r = holdRemaining(h, h.server_id);
      return r !== null && r > 0
        ? fmt(_("Seat %(label)s, held by %(name)s through %(node)s: %(s)s s left on its clock"), { label: seat.label, name: h.customer_name, node: h.server_id, s: secondsText(r) })
        : fmt(_("Seat %(label)s, held by %(name)s: expired on %(node)s, still live on another node"), { label: seat.label, name: h.customer_name, node: h.server_id });
    }
    return fmt(_("Seat %(label)s, %(state)s"), { label: seat.label, state: STATE_TEXT[st] });
  }

  function renderSeat(seat) {
    var button = $("seat-" + seat.id);
    if (!button) return;
    var st = seatState(seat);
    var selected = seat.id === selectedId;
    var alsoHeld = (st === "reserved" || st === "conflict") && seatHold(seat.id);
    button.className = "seat seat--" + st + (alsoHeld ? " seat--also-held" : "") + (selected ? " seat--selected" : "");
    button.dataset.state = st;
    button.setAttribute("aria-label", seatLabelText(seat, st) + (alsoHeld ? ", " + fmt(_("while %(name)s's hold is still live"), { name: alsoHeld.customer_name }) : ""));
    button.setAttribute("aria-pressed", selected ? "true" : "false");
    var mark = MARKS[st];
    if (st === "held") {
      var h = seatHold(seat.id);
      var r = holdRemaining(h, h.server_id);
      if (r !== null && r > 0) mark = secondsText(r);
    }
    button.querySelector(".seat__mark").textContent = mark;
    if (selected) renderDetails();
  }

  function renderAllSeats() { seats.forEach(renderSeat); }

  function addReservation(r, holderId) {
    var seat = seats.get(r.seat_id);
    if (!seat) return;
    seat.changes = (seat.changes || 0) + 1;
    seat.reservations.set(r.id, {
      id: r.id,
      seat_id: r.seat_id,
      customer_name: r.customer_name,
      server_id: r.server_id,
      created_at: r.created_at,
      recorded_at: r.recorded_at,
    });
    if (holderId !== undefined) seat.holderId = holderId;
    renderSeat(seat);
    if (timeline && r.recorded_at) timeline.addReservation(r, seat.reservations.size > 1);
  }

  function removeReservation(r) {
    var seat = seats.get(r.seat_id);
    if (!seat) return;
    seat.reservations.delete(r.id);
    seat.changes = (seat.changes || 0) + 1;
    seat.holderId = r.holder_id;
    renderSeat(seat);
    if (timeline) timeline.endReservation(r.id, "cancelled", r.cancelled_at);
  }

  /* ---- venue size: seats fit their panel; a wide venue scrolls (zoom − / fit / +) ------------ */

  var zoom = 1; // × the base size
  var fitAll = false; // base size: the whole venue in its panel, however small (else readable)
  var columns = 0, rows = 0;

  function layoutSeats() {
    var scroll = $("venue-scroll");
    var grid = $("grid");
    if (!scroll || !grid || !columns) return;
    var phone = window.matchMedia("not ((min-width: 62rem) and (min-height: 36rem))").matches;
    var stage = $("grid").previousElementSibling;
    var width = scroll.clientWidth - 14;
    var height = phone ? Infinity : scroll.clientHeight - 12 - (stage ? stage.offsetHeight + 4 : 0);
    // n seats of size s need n·s + (n + 1) gaps, a gap being 12 % of s but at least 2 px;
    // beside them two 1.4rem label columns, above them a 14 px label row.
    function largest(avail, n) {
      var s = avail / (n * 1.12 + 0.12);
      return s * 0.12 >= 2 ? s : (avail - 2 * (n + 1)) / n;
    }
    var byWidth = largest(width - 2 * 22.4, columns);
    var byHeight = largest(height - 14, rows);
    var fit = Math.min(byWidth, byHeight, phone ? 34 : 46);
    // Readable and easy to click by default: a wide venue then scrolls inside its panel.
    var base = fitAll ? fit : Math.max(phone ? 22 : 16, fit);
    var size = Math.max(6, Math.min(64, Math.floor(base * zoom)));
    grid.style.setProperty("--seat", size + "px");
    $("venue").classList.toggle("venue--small", size < 20);
  }

  /* ---- details, booking, cancelling ---------------------------------------------------------- */

  function selectTab(name) {
    ["seat", "conflicts", "story"].forEach(function (tab) {
      var button = $("tab-" + tab);
      if (!button) return;
      var on = tab === name;
      button.setAttribute("aria-selected", on ? "true" : "false");
      $(button.getAttribute("aria-controls")).hidden = !on;
    });
  }

  function renderDetails() {
    var seat = seats.get(selectedId);
    if (!seat) return;
    $("details-empty").hidden = true;
    $("details-body").hidden = false;
    $("details-seat").textContent = fmt(_("Seat %(label)s"), { label: seat.label });
    var st = seatState(seat);
    var text = {
      available: _("Free."),
      reserved: _("Booked."),
      conflict: _("Double-booked: two nodes sold it. The holder is the booking with the earliest node timestamp."),
      held: _("Held: no node may sell it until the hold expires — on that node's clock."),
    }[st];
    $("details-state").textContent = MARKS[st] + " " + text;
    var list = $("details-reservations");
    list.replaceChildren();
    listed(seat).forEach(function (r) {
      var li = el("li");
      li.dataset.reservationId = r.id;
      var head = el("div", null, "resv__head");
      head.appendChild(el("span", r.customer_name, "resv__name"));
      if (r.id === seat.holderId && st === "conflict") head.appendChild(el("span", _("holder"), "tag"));
      head.appendChild(el("span", r.server_id));
      if (controlsEnabled) {
        var cancel = el("button", _("Cancel"), "cancel-button");
        cancel.type = "button";
        cancel.dataset.reservationId = r.id;
        head.appendChild(cancel);
      }
      li.appendChild(head);
      var stamps = el("div", null, "resv__stamps");
      stamps.append(_("its clock") + " ", el("b", clockOf(r.created_at)), " · " + _("true") + " ", el("b", r.recorded_at ? clockOf(r.recorded_at) : "—"));
      if (r.recorded_at) {
        var skew = (micros(r.created_at) - micros(r.recorded_at)) / 1e6;
        if (Math.abs(skew) >= 0.001) stamps.append(" (" + signed(skew) + " s)");
      }
      stamps.title = fmt(_("stamped %(stamp)s by %(node)s; true time %(truth)s"), { stamp: fullTime(r.created_at), node: r.server_id, truth: fullTime(r.recorded_at) });
      li.appendChild(stamps);
      list.appendChild(li);
    });
    // Why the seat is double-booked: one line per blind write, from the conflicts endpoint.
    var why = $("details-explanation");
    why.replaceChildren();
    var conflict = st === "conflict" ? conflictsBySeat.get(seat.id) : null;
    if (conflict) conflict.explanation.forEach(function (line) { why.appendChild(el("li", line)); });
    // The checker's verdict on this seat's holds: stolen, zombie (with its witness).
    anomalies.forEach(function (a) {
      if (a.seat_id === seat.id) why.appendChild(el("li", (a.kind === "stolen_hold" ? _("Stolen hold") : _("Zombie hold")) + ": " + a.explanation));
    });
    renderDetailsHolds(seat);
  }

  async function selectSeat(id, keepTab) {
    var previous = selectedId;
    selectedId = id;
    if (previous !== null && seats.has(previous)) renderSeat(seats.get(previous));
    renderSeat(seats.get(id));
    if (!keepTab) selectTab("seat");
    $("reserve-error").textContent = "";
    $("reserve-result").textContent = "";
    // Refresh from the API: the same rows (and the same holder) the REST clients see — unless
    // the seat changed meanwhile (an event, a write of ours): then the answer is older than it.
    var changes = seats.get(id).changes || 0;
    var results = await Promise.all([
      api("GET", "/api/reservations?limit=1000&seat_id=" + id),
      api("GET", "/api/seats/" + id),
    ]);
    refreshHolds(id);
    if (results[0].ok && results[1].ok && selectedId === id && (seats.get(id).changes || 0) === changes) {
      var seat = seats.get(id);
      var fresh = new Map();
      results[0].data.reservations.forEach(function (r) {
        var known = seat.reservations.get(r.id);
        fresh.set(r.id, Object.assign({}, known || {}, r));
      });
      seat.reservations = fresh;
      seat.holderId = results[1].data.reservation ? results[1].data.reservation.id : null;
      renderSeat(seat);
    }
  }

  async function reserveThrough(seatId, name, node) {
    var result = await api("POST", "/api/reservations", { seat_id: seatId, customer_name: name, server_id: node });
    if (result.ok) {
      addReservation(result.data);
      refreshSeat(result.data.seat_id);
      if (result.data.conflict_detected) refreshConflictsSoon();
    }
    refreshAnomaliesSoon(); // a sale may steal a hold; a SEAT_HELD refusal may honour a zombie
    return result;
  }

  async function reserve(event) {
    event.preventDefault();
    if (selectedId === null) return;
    var submit = $("reserve-submit");
    $("reserve-error").textContent = "";
    $("reserve-result").textContent = "";
    submit.disabled = true;
    try {
      var result = await reserveThrough(selectedId, $("reserve-name").value, $("reserve-node").value);
      if (result.ok) {
        var r = result.data;
        $("reserve-result").textContent =
          fmt(_("Booked #%(id)s through %(node)s at %(time)s (its clock)."), { id: r.id, node: r.server_id, time: clockOf(r.created_at) }) +
          (r.conflict_detected ? " " + _("⚠ Conflict: this node could not see an earlier booking.") : "");
        $("reserve-name").value = "";
      } else {
        $("reserve-error").textContent = errorText(result);
      }
    } catch (e) {
      $("reserve-error").textContent = _("Network error:") + " " + e.message;
    } finally {
      submit.disabled = false;
    }
  }

  async function cancelReservation(id) {
    $("reserve-error").textContent = "";
    var result = await api("DELETE", "/api/reservations/" + id);
    if (result.ok || result.status === 204) {
      var seat = seats.get(selectedId);
      if (seat && seat.reservations.has(id)) {
        seat.reservations.delete(id);
        seat.changes = (seat.changes || 0) + 1;
        renderSeat(seat);
      }
      $("reserve-result").textContent = fmt(_("Booking #%(id)s cancelled."), { id: id });
      if (selectedId !== null) refreshSeat(selectedId);
      refreshConflictsSoon();
    } else {
      $("reserve-error").textContent = errorText(result);
    }
  }

  /* ---- conflicts -------------------------------------------------------------------------- */

  var conflictTimer = null;

  function refreshConflictsSoon() {
    clearTimeout(conflictTimer);
    conflictTimer = setTimeout(refreshConflicts, 120);
  }

  async function fetchAllConflicts() {
    var all = [];
    for (var offset = 0; ; offset += 1000) {
      var result = await api("GET", "/api/reservations/conflicts?limit=1000&offset=" + offset);
      if (!result.ok) throw new Error(errorText(result));
      all = all.concat(result.data.conflicts);
      if (all.length >= result.data.total_conflicts || result.data.conflicts.length === 0) return all;
    }
  }

  async function refreshConflicts() {
    var conflicts;
    try { conflicts = await fetchAllConflicts(); } catch (e) { return null; }
    var list = $("conflicts-list");
    list.replaceChildren();
    conflictsBySeat = new Map(conflicts.map(function (c) { return [c.seat_id, c]; }));
    var unfair = 0;
    conflicts.forEach(function (c) {
      var names = new Map(c.reservations.map(function (r) { return [r.id, r]; }));
      var winner = names.get(c.winner_id);
      var first = names.get(c.true_first_id);
      if (!c.fair) unfair += 1;
      var li = el("li", null, "conflict " + (c.fair ? "conflict--fair" : "conflict--unfair"));
      li.dataset.seatId = c.seat_id;
      li.dataset.fair = String(c.fair);
      li.appendChild(el("strong", fmt(_("Seat %(label)s: %(n)s bookings."), { label: seatName(c.seat_id), n: c.reservations.length }) + " "));
      li.appendChild(el("span", fmt(_("Holder by timestamp: %(name)s (%(node)s)."), { name: winner.customer_name, node: winner.server_id }) + " "));
      li.appendChild(el("span", fmt(_("Truly first: %(name)s (%(node)s)."), { name: first.customer_name, node: first.server_id }) + " "));
      li.appendChild(el("span", c.fair ? _("✓ fair") : _("✗ UNFAIR: the timestamp winner came second"), "verdict"));
      if (c.explanation.length) {
        var why = el("ul", null, "explanation");
        c.explanation.forEach(function (line) { why.appendChild(el("li", line)); });
        li.appendChild(why);
      }
      if (controlsEnabled) {
        var actions = el("div", null, "buttons");
        [["earliest_timestamp", _("Keep earliest timestamp")], ["true_order", _("Keep truly first")]].forEach(function (p) {
          var button = el("button", p[1], "resolve-button");
          button.type = "button";
          button.dataset.policy = p[0];
          button.dataset.seatId = c.seat_id;
          actions.appendChild(button);
        });
        li.appendChild(actions);
      }
      list.appendChild(li);
    });
    $("conflicts-summary").textContent = conflicts.length === 0
      ? _("No conflicts.")
      : fmt(ngettext("%(n)s conflict, %(unfair)s resolved unfairly by timestamp (the winner came second).",
        "%(n)s conflicts, %(unfair)s resolved unfairly by timestamp (the winner came second).", conflicts.length), { n: conflicts.length, unfair: unfair });
    var count = $("conflict-count");
    count.textContent = String(conflicts.length);
    count.dataset.unfair = String(unfair > 0);
    if (timeline) timeline.setConflicts(conflicts);
    if (selectedId !== null) renderDetails();
    return conflicts;
  }

  async function resolveConflict(seatId, policy) {
    $("conflicts-error").textContent = "";
    $("conflicts-result").textContent = "…";
    try {
      var result = await api("POST", "/api/reservations/conflicts/" + seatId + "/resolve", { policy: policy });
      if (result.ok) {
        var d = result.data;
        forgetBumped(d.seat_id, d.bumped.map(function (r) { return r.id; }), d.kept.id, d.bumped.length ? d.bumped[0].bumped_at : null);
        $("conflicts-result").textContent = fmt(_("Seat %(label)s: kept %(name)s (#%(id)s), bumped %(bumped)s"), {
          label: seatName(d.seat_id), name: d.kept.customer_name, id: d.kept.id,
          bumped: d.bumped.map(function (r) { return "#" + r.id; }).join(", "),
        }) + " — " + (d.fair ? _("fair: kept who truly came first.") : _("UNFAIR: kept who truly came second."));
      } else {
        $("conflicts-result").textContent = "";
        $("conflicts-error").textContent = errorText(result);
      }
    } catch (e) {
      $("conflicts-result").textContent = "";
      $("conflicts-error").textContent = _("Network error:") + " " + e.message;
    }
    refreshConflictsSoon();
  }

  function forgetBumped(seatId, ids, holderId, bumpedAt) {
    var seat = seats.get(seatId);
    if (!seat) return;
    ids.forEach(function (id) {
      seat.reservations.delete(id);
      seat.changes = (seat.changes || 0) + 1;
      if (timeline) timeline.endReservation(id, "bumped", bumpedAt || null);
    });
    seat.holderId = holderId;
    renderSeat(seat);
  }

  /* The seat's holder as the server states it (after a write of our own, before its event). */
  async function refreshSeat(id) {
    var result = await api("GET", "/api/seats/" + id);
    var seat = seats.get(id);
    if (result.ok && seat) {
      seat.holderId = result.data.reservation ? result.data.reservation.id : null;
      renderSeat(seat);
    }
  }

  /* ---- consistency mode and fences --------------------------------------------------------- */

  /* What each mode means, in a few words for the audience (modeAbout has the full sentence).
     The server lists the modes; one it adds without words here is still shown, by its name. */
  function modeShort(mode) {
    var bound = consistency.max_clock_offset_seconds, fence = consistency.fence_limit_seconds;
    switch (mode) {
      case "naive": return _("each node trusts its own clock");
      case "bounded": return fmt(_("each node also looks %(bound)s s past its clock; one more than %(fence)s s off is fenced"), {
        bound: bound === null ? "?" : bound.toFixed(1), fence: fence === null ? "?" : fence.toFixed(2) });
      case "serializable": return _("clocks ignored: every node sees every booking");
      case "commit_wait": return _("each booking waits out its clock's uncertainty");
      default: return "";
    }
  }

  function modeAbout(mode) {
    var bound = consistency.max_clock_offset_seconds, fence = consistency.fence_limit_seconds;
    switch (mode) {
      case "naive": return _("each node trusts its own clock: it sees only bookings stamped at or before the time it reads.");
      case "bounded": return fmt(_("each node also looks %(bound)s s past its own clock (the largest skew it assumes between clocks); a node more than %(fence)s s from the others is fenced: it refuses bookings."), {
        bound: bound === null ? "?" : bound.toFixed(3), fence: fence === null ? "?" : fence.toFixed(3) });
      case "serializable": return _("clocks ignored: every node sees every booking, in one order.");
      case "commit_wait": return _("each booking waits out its clock's uncertainty before it is confirmed (Spanner's TrueTime).");
      default: return "";
    }
  }

  function renderConsistency() {
    var box = $("consistency");
    box.dataset.mode = consistency.mode;
    $("consistency-mode").textContent = consistency.mode;
    $("consistency-about").textContent = "— " + modeAbout(consistency.mode);
    box.title = modeAbout(consistency.mode);
    document.querySelectorAll(".mode-button").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.mode === consistency.mode ? "true" : "false");
      button.title = modeAbout(button.dataset.mode);
    });
    renderFences();
  }

  /* Who refuses writes.  Enforced (greyed out, refused) in bounded mode for nodes too far from
     the others (in the other modes a node beyond the limit "would be fenced"), and in commit_wait
     for nodes whose uncertainty ε is unbounded or too large. */
  function renderFences() {
    var limit = consistency.fence_limit_seconds;
    var line = $("fence-hint");
    line.replaceChildren(el("strong", consistency.mode), ": " + modeShort(consistency.mode));
    var title = modeAbout(consistency.mode);
    if (limit !== null && consistency.mode !== "bounded") {
      title += " " + fmt(_("In bounded mode a node more than %(limit)s s from the median of the clocks would be fenced."), { limit: limit.toFixed(3) });
    }
    line.title = title;
    if (!clockBase) return;
    var enforced = consistency.mode === "bounded";
    var anyFenced = false;
    clockBase.servers.forEach(function (s) {
      var fenced = (enforced && s.fenced) || (consistency.mode === "commit_wait" && s.uncertainty_exceeded === true);
      anyFenced = anyFenced || fenced;
      var row = document.querySelector('#clocks-body tr[data-server-id="' + CSS.escape(s.server_id) + '"]');
      if (row) {
        row.dataset.fenced = String(fenced);
        row.classList.toggle("clock--fenced", fenced);
        var cell = row.querySelector(".clock__fence");
        cell.textContent = s.fenced ? (enforced ? "⊘ " + _("fenced") : _("would be fenced")) : _("ok");
        cell.dataset.fence = s.fenced ? (enforced ? "fenced" : "would") : "ok";
        cell.title = fmt(_("%(dev)s s from the median of the clocks (limit ±%(limit)s s)"), {
          dev: signed(s.deviation_seconds), limit: limit === null ? "?" : limit.toFixed(3) });
        if (consistency.mode === "commit_wait") {
          cell.textContent = s.uncertainty_seconds === null ? "⊘ " + _("ε unbounded (never synced)")
            : (s.uncertainty_exceeded ? "⊘ " : "") + "ε " + (s.uncertainty_seconds * 1000).toFixed(1) + " ms";
          cell.dataset.fence = s.uncertainty_exceeded === false ? "ok" : "fenced";
          cell.title = _("commit_wait: each booking through this node waits about 2ε before it is confirmed.");
        }
      }
      var option = document.querySelector('#reserve-node option[value="' + CSS.escape(s.server_id) + '"]');
      if (option) {
        option.disabled = fenced;
        option.dataset.fenced = String(fenced);
        option.textContent = s.server_id + (fenced ? " — " + _("fenced") : "");
      }
    });
    $("reserve-fence-hint").hidden = !anyFenced;
  }

  /* ---- clocks ------------------------------------------------------------------------------ */

  var firstClocks = true;

  async function refreshClocks() {
    var before = performance.now();
    var result = await api("GET", "/api/time/servers");
    var after = performance.now();
    if (!result.ok) return;
    // The server read true_time somewhere inside the round trip: take the midpoint.
    clockBase = { trueMs: micros(result.data.true_time) / 1000, perf: (before + after) / 2, servers: result.data.servers };
    if (result.data.consistency_mode) {
      consistency.mode = result.data.consistency_mode;
      consistency.fence_limit_seconds = result.data.fence_limit_seconds;
    }
    clockBase.servers.forEach(function (s) {
      var row = document.querySelector('#clocks-body tr[data-server-id="' + CSS.escape(s.server_id) + '"]');
      if (!row) return;
      var offset = row.querySelector(".clock__offset");
      offset.textContent = signed(s.offset_seconds) + " s";
      if (s.drift_ppm) offset.appendChild(el("span", signed(s.drift_ppm, 1) + " ppm", "clock__drift"));
      offset.dataset.sign = Math.abs(s.offset_seconds) < 0.0005 ? "zero" : s.offset_seconds < 0 ? "lag" : "ahead";
      var sync = row.querySelector(".clock__sync");
      sync.textContent = s.ntp_synced ? "✓" : "✗";
      sync.title = s.ntp_synced ? _("synchronised") : _("not synchronised since its clock was moved");
      sync.setAttribute("aria-label", sync.title);
      sync.dataset.synced = String(s.ntp_synced);
    });
    if (timeline) {
      timeline.setLanes(clockBase.servers.map(function (s) { return s.server_id; }));
      timeline.setClocks(clockBase.servers, firstClocks);
      firstClocks = false;
    }
    renderConsistency();
    tick();
  }

  function tick() {
    if (!clockBase) return;
    var elapsed = (performance.now() - clockBase.perf) / 1000;
    var trueMs = clockBase.trueMs + elapsed * 1000;
    $("true-time-value").textContent = new Date(trueMs).toISOString().slice(11, 21);
    clockBase.servers.forEach(function (s) {
      var row = document.querySelector('#clocks-body tr[data-server-id="' + CSS.escape(s.server_id) + '"]');
      if (!row) return;
      var offset = s.offset_seconds + (s.drift_ppm || 0) * 1e-6 * elapsed;
      row.querySelector(".clock__time").textContent = new Date(trueMs + offset * 1000).toISOString().slice(11, 21);
    });
  }

  /* ---- controls ---------------------------------------------------------------------------- */

  function say(text, isError) {
    $("controls-result").textContent = isError ? "" : text;
    $("controls-error").textContent = isError ? text : "";
  }

  async function control(promise, okText) {
    say("…");
    try {
      var result = await promise;
      if (result.ok) say(okText(result.data));
      else say(errorText(result), true);
    } catch (e) {
      say(_("Network error:") + " " + e.message, true);
    }
    refreshClocks();
  }

  function syncText(d) {
    return fmt(_("%(node)s synced: stepped by %(step)s s (round trip %(delay)s ms)."), {
      node: d.server_id, step: signed(d.offset_seconds, 6), delay: (d.delay_seconds * 1000).toFixed(2) });
  }

  async function syncAll() {
    var nodes = clockBase ? clockBase.servers.map(function (s) { return s.server_id; }) : [];
    var done = [], failed = [];
    say("…");
    for (var i = 0; i < nodes.length; i++) {
      var result = await api("POST", "/api/time/sync", { server_id: nodes[i] });
      if (result.ok) done.push(result.data.server_id + " " + signed(result.data.offset_seconds) + " s");
      else failed.push(nodes[i] + ": " + errorText(result));
    }
    if (failed.length) say(failed.join("; "), true);
    else say(fmt(_("Every node synced with NTP (steps: %(steps)s)."), { steps: done.join(", ") }));
    refreshClocks();
  }

  function resetDemo(button) {
    // Two clicks: the first arms the button for four seconds (no blocking dialog on stage).
    if (button.dataset.armed !== "true") {
      button.dataset.armed = "true";
      button.dataset.text = button.textContent;
      button.textContent = _("Click again to reset");
      setTimeout(function () { disarm(button); }, 4000);
      return Promise.resolve(null);
    }
    disarm(button);
    return control(api("POST", "/api/simulation/reset"), function (d) {
      return fmt(ngettext("Demo reset: %(n)s booking cancelled, every clock on true time.",
        "Demo reset: %(n)s bookings cancelled, every clock on true time.", d.reservations_cancelled), { n: d.reservations_cancelled });
    });
  }

  function disarm(button) {
    if (button.dataset.armed === "true") button.textContent = button.dataset.text;
    button.dataset.armed = "false";
  }

  /* ---- the story: the classic demo, step by step, against the real API -------------------------- */

  /* Step 5 of both stories: server-2 synced with NTP, the cure. */
  var NTP_SYNC_STEP = {
    title: _("5. NTP sync"),
    line: _("server-2 asks the NTP server for the time and steps its clock."),
    run: async function () {
      var result = await must(api("POST", "/api/time/sync", { server_id: "server-2" }));
      timeline.live();
      await refreshClocks();
      return fmt(_("server-2 asked the NTP server and stepped its clock by %(step)s s (round trip %(delay)s ms): the clocks agree again."), {
        step: signed(result.data.offset_seconds), delay: (result.data.delay_seconds * 1000).toFixed(2) });
    },
  };

  var story = { seatA: null, seatB: null, alice: null, bob: null, step: 0 };

  function freeSeats() {
    var free = [];
    seats.forEach(function (seat) { if (seat.reservations.size === 0) free.push(seat); });
    return free;
  }

  /* A free seat near the middle of the venue (the audience finds it at once), not `avoid`. */
  function pickSeat(avoid) {
    var all = Array.from(seats.values());
    if (!all.length) return null;
    var rowsList = Array.from(new Set(all.map(function (s) { return s.row; })));
    var midRow = rowsList[Math.floor((rowsList.length - 1) / 2)];
    var maxNumber = Math.max.apply(null, all.map(function (s) { return s.number; }));
    var mid = (maxNumber + 1) / 2;
    var free = freeSeats().filter(function (s) { return s.id !== avoid; });
    free.sort(function (a, b) {
      var da = Math.abs(rowsList.indexOf(a.row) - rowsList.indexOf(midRow)) * 3 + Math.abs(a.number - mid);
      var db = Math.abs(rowsList.indexOf(b.row) - rowsList.indexOf(midRow)) * 3 + Math.abs(b.number - mid);
      return da - db || a.id - b.id;
    });
    return free.length ? free[0].id : null;
  }

  async function must(promise) {
    var result = await promise;
    if (!result.ok) throw new Error(errorText(result));
    return result;
  }

  var STEPS = [
    {
      title: _("1. Drift"),
      line: _("server-2's clock falls 10 s behind true time; nobody notices."),
      run: async function () {
        if (consistency.mode !== "naive") await must(api("POST", "/api/simulation/consistency", { mode: "naive" }));
        await must(api("POST", "/api/simulation/clear-offsets"));
        await must(api("POST", "/api/simulation/set-offset", { server_id: "server-2", offset_seconds: -10 }));
        story.seatA = pickSeat(null);
        story.seatB = pickSeat(story.seatA);
        if (story.seatA === null || story.seatB === null) throw new Error(_("No two free seats left: reset the demo first."));
        timeline.live();
        await refreshClocks();
        return _("server-2's clock now runs 10 s behind true time; the others are right. Each node trusts its own clock (naive).");
      },
    },
    {
      title: _("2. Two customers"),
      line: _("Alice books a seat through server-1, whose clock is right."),
      run: async function () {
        if (!seats.has(story.seatA) || seats.get(story.seatA).reservations.size) story.seatA = pickSeat(story.seatB);
        var result = await must(reserveThrough(story.seatA, "Alice", "server-1"));
        story.alice = result.data;
        selectSeat(story.seatA, true);
        return fmt(_("Alice books %(seat)s through server-1, stamped %(stamp)s. Bob is about to ask server-2 for the same seat."), {
          seat: seatName(story.seatA), stamp: clockOf(story.alice.created_at) });
      },
    },
    {
      title: _("3. Conflict"),
      line: _("Bob asks server-2 for the same seat, a moment later."),
      run: async function () {
        var result = await reserveThrough(story.seatA, "Bob", "server-2");
        if (!result.ok) {
          throw new Error(fmt(_("server-2 saw Alice's booking and refused Bob (%(error)s): its clock is not behind. Run step 1 again."), { error: errorText(result) }));
        }
        story.bob = result.data;
        await refreshConflicts();
        if (!story.bob.conflict_detected) throw new Error(fmt(_("Bob got %(seat)s, which was free: no conflict. Run step 1 again."), { seat: seatName(story.seatA) }));
        return fmt(_("server-2 read %(bob)s, before Alice's stamp %(alice)s: her booking was in its future, invisible, so it sold %(seat)s again ⚠."), {
          bob: clockOf(story.bob.created_at), alice: clockOf(story.alice.created_at), seat: seatName(story.seatA) });
      },
    },
    {
      title: _("4. Why"),
      line: _("Who keeps the seat? The earliest timestamp, not the first customer."),
      run: async function () {
        await refreshConflicts();
        var c = conflictsBySeat.get(story.seatA);
        if (!c) throw new Error(_("There is no conflict on that seat (step 3 did not double-book it)."));
        selectSeat(story.seatA, true);
        timeline.focusConflict(story.seatA);
        var byId = new Map(c.reservations.map(function (r) { return [r.id, r]; }));
        var winner = byId.get(c.winner_id), first = byId.get(c.true_first_id);
        var gap = (micros(winner.recorded_at) - micros(first.recorded_at)) / 1e6;
        if (c.fair) return fmt(_("%(name)s keeps %(seat)s: earliest stamp and truly first. Fair, this time."), { name: winner.customer_name, seat: seatName(c.seat_id) });
        return fmt(_("Stamps: %(winner)s %(wstamp)s < %(first)s %(fstamp)s, so %(winner)s holds %(seat)s though %(first)s truly came %(gap)s s earlier: unfair."), {
          winner: winner.customer_name, wstamp: clockOf(winner.created_at), first: first.customer_name, fstamp: clockOf(first.created_at),
          seat: seatName(c.seat_id), gap: gap.toFixed(1) });
      },
    },
    NTP_SYNC_STEP,
    {
      title: _("6. Same attempt, now refused"),
      line: _("Alice and Bob again, on another seat, through the same nodes."),
      run: async function () {
        if (!seats.has(story.seatB) || seats.get(story.seatB).reservations.size) story.seatB = pickSeat(story.seatA);
        await must(reserveThrough(story.seatB, "Alice", "server-1"));
        var bob = await reserveThrough(story.seatB, "Bob", "server-2");
        selectSeat(story.seatB, true);
        if (bob.ok) {
          return fmt(_("server-2 sold %(seat)s to Bob too: its clock is still off."), { seat: seatName(story.seatB) });
        }
        var code = bob.data && bob.data.error ? bob.data.error.code : "HTTP " + bob.status;
        return fmt(_("server-2 now sees Alice's booking of %(seat)s and refuses Bob (%(status)s %(code)s): no double booking."), {
          seat: seatName(story.seatB), status: bob.status, code: code });
      },
    },
  ];

  /* The holds story (docs/holds.md): a node running ahead sells a seat while its hold is live. */
  var HOLD_OFFSET = 15, HOLD_TTL = 20;
  var holdStory = { seatA: null, seatB: null, hold: null, bob: null, delay: null, step: 0 };

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  /* Wait until `node` judges hold `id` expired (the server's judgement, counted down here). */
  async function untilExpiredOn(id, seatId, node) {
    var result = await must(api("GET", "/api/holds?seat_id=" + seatId));
    var h = result.data.holds.find(function (x) { return x.id === id; });
    if (!h || !h.nodes[node]) return;
    var wait = h.nodes[node].remaining_seconds;
    if (wait > 0) {
      narrate(fmt(_("Waiting %(s)s s for %(node)s's clock to pass the hold's expiry…"), { s: wait.toFixed(1), node: node }), false);
      await sleep(wait * 1000 + 300);
    }
  }

  var HOLD_STEPS = [
    {
      title: _("1. Drift"),
      line: fmt(_("server-2's clock runs %(s)s s ahead of true time; nobody notices."), { s: HOLD_OFFSET }),
      run: async function () {
        if (consistency.mode !== "naive") await must(api("POST", "/api/simulation/consistency", { mode: "naive" }));
        await must(api("POST", "/api/simulation/clear-offsets"));
        await must(api("POST", "/api/simulation/set-offset", { server_id: "server-2", offset_seconds: HOLD_OFFSET }));
        holdStory.seatA = pickSeat(null);
        holdStory.seatB = pickSeat(holdStory.seatA);
        if (holdStory.seatA === null || holdStory.seatB === null) throw new Error(_("No two free seats left: reset the demo first."));
        timeline.live();
        await refreshClocks();
        return fmt(_("server-2's clock now runs %(s)s s ahead; the others are right. A hold expires when each node's clock says so (naive)."), { s: HOLD_OFFSET });
      },
    },
    {
      title: _("2. Alice holds"),
      line: fmt(_("Alice holds a seat through server-1 for %(ttl)s s while she pays."), { ttl: HOLD_TTL }),
      run: async function () {
        var seat = seats.get(holdStory.seatA);
        if (!seat || seat.reservations.size || seatHold(holdStory.seatA)) holdStory.seatA = pickSeat(holdStory.seatB);
        var result = await must(holdThrough(holdStory.seatA, "Alice", "server-1", HOLD_TTL));
        holdStory.hold = result.data;
        selectSeat(holdStory.seatA, true);
        return fmt(_("Alice holds %(seat)s through server-1 until %(until)s on its clock (%(ttl)s s). server-2, %(s)s s ahead, will judge it over after %(left)s s."), {
          seat: seatName(holdStory.seatA), until: clockOf(result.data.expires_at), ttl: HOLD_TTL, s: HOLD_OFFSET, left: HOLD_TTL - HOLD_OFFSET });
      },
    },
    {
      title: _("3. server-2 sells"),
      line: _("Bob asks server-2 for the same seat while Alice is still paying."),
      run: async function () {
        var h = holdStory.hold;
        if (!h) throw new Error(_("Run step 2 first."));
        await untilExpiredOn(h.id, h.seat_id, "server-2");
        var result = await reserveThrough(h.seat_id, "Bob", "server-2");
        if (!result.ok) throw new Error(fmt(_("server-2 refused Bob (%(error)s): run step 1 again."), { error: errorText(result) }));
        holdStory.bob = result.data;
        holdStory.delay = (micros(result.data.recorded_at) - micros(h.recorded_at)) / 1e6;
        var left = HOLD_TTL - holdStory.delay;
        if (left <= 0) throw new Error(_("Alice's hold had truly ended: no theft. Run step 2 again, then step 3 at once."));
        selectSeat(h.seat_id, true);
        return fmt(_("server-2 read %(read)s, past Alice's expiry %(until)s, and sold %(seat)s to Bob — while her hold still had %(left)s s on server-1."), {
          read: clockOf(result.data.created_at), until: clockOf(h.expires_at), seat: seatName(h.seat_id), left: left.toFixed(1) });
      },
    },
    {
      title: _("4. Stolen hold"),
      line: _("What the history checker says about Alice's hold."),
      run: async function () {
        var h = holdStory.hold;
        if (!h || !holdStory.bob) throw new Error(_("Run step 3 first."));
        var found = await refreshAnomalies();
        var theft = (found || []).find(function (a) { return a.hold_id === h.id && a.kind === "stolen_hold"; });
        if (!theft) throw new Error(_("The checker finds no stolen hold on that seat: run step 1 again."));
        selectSeat(h.seat_id, true);
        timeline.focusHold(h.id);
        return fmt(_("Stolen hold: server-2 sold %(seat)s at %(sold)s, %(early)s s before Alice's hold truly ended (%(end)s)."), {
          seat: seatName(h.seat_id), sold: clockOf(holdStory.bob.recorded_at), early: (HOLD_TTL - holdStory.delay).toFixed(1), end: clockOf(h.true_expires_at) });
      },
    },
    NTP_SYNC_STEP,
    {
      title: _("6. Same attempt, now refused"),
      line: _("Alice holds another seat; Bob asks server-2 after the same delay."),
      run: async function () {
        var seat = seats.get(holdStory.seatB);
        if (!seat || seat.reservations.size || seatHold(holdStory.seatB)) holdStory.seatB = pickSeat(holdStory.seatA);
        var delay = holdStory.delay === null ? HOLD_TTL - HOLD_OFFSET : holdStory.delay;
        var hold = await must(holdThrough(holdStory.seatB, "Alice", "server-1", HOLD_TTL));
        selectSeat(holdStory.seatB, true);
        narrate(fmt(_("Alice holds %(seat)s; Bob will ask server-2 in %(s)s s, as before…"), { seat: seatName(holdStory.seatB), s: delay.toFixed(1) }), false);
        var waited = (trueNow() - micros(hold.data.recorded_at) / 1000) / 1000;
        await sleep(Math.max(0, delay - waited) * 1000);
        var bob = await reserveThrough(holdStory.seatB, "Bob", "server-2");
        if (bob.ok) return fmt(_("server-2 sold %(seat)s to Bob again: its clock is still off."), { seat: seatName(holdStory.seatB) });
        var code = bob.data && bob.data.error ? bob.data.error.code : "HTTP " + bob.status;
        var details = bob.data && bob.data.error ? bob.data.error.details || {} : {};
        var left = details.hold && details.node_time ? (micros(details.hold.expires_at) - micros(details.node_time)) / 1e6 : null;
        return fmt(_("server-2 now judges Alice's hold live and refuses Bob (%(status)s %(code)s): no stolen hold."), { status: bob.status, code: code })
          + (typeof left === "number" ? " " + fmt(_("(%(s)s s left on its clock)"), { s: left.toFixed(1) }) : "");
      },
    },
  ];

  var STORIES = {
    booking: { steps: STEPS, state: story, list: "story-steps" },
    holds: { steps: HOLD_STEPS, state: holdStory, list: "story-holds-steps" },
  };

  function pickStory(name) {
    document.querySelectorAll(".story-pick__button").forEach(function (b) { b.setAttribute("aria-pressed", b.dataset.story === name ? "true" : "false"); });
    Object.keys(STORIES).forEach(function (key) { $(STORIES[key].list).hidden = key !== name; });
  }

  function narrate(text, isError) {
    var box = $("narration");
    box.hidden = !text;
    box.textContent = text || "";
    box.title = text || "";
    box.dataset.kind = isError ? "error" : "story";
  }

  function renderStory(name) {
    if (name === undefined) { Object.keys(STORIES).forEach(renderStory); return; }
    var current = STORIES[name];
    var list = $(current.list);
    if (!list) return;
    if (!list.children.length) {
      current.steps.forEach(function (step, i) {
        var li = el("li");
        li.dataset.step = String(i + 1);
        var button = el("button", step.title);
        button.type = "button";
        button.dataset.step = String(i + 1);
        li.append(button, el("span", step.line, "story__line"));
        list.appendChild(li);
      });
    }
    var reached = current.state.step;
    Array.from(list.children).forEach(function (li, i) {
      var state = i < reached ? "done" : i === reached ? "next" : "todo";
      if (li.dataset.state !== "failed" || i !== reached) li.dataset.state = state;
      // Steps run in order; any step already reached can be run again (step 1 starts over).
      li.querySelector("button").disabled = i > reached;
    });
  }

  async function runStep(name, index) {
    var current = STORIES[name];
    var li = $(current.list).children[index];
    li.querySelector("button").disabled = true;
    li.dataset.state = "running";
    try {
      var text = await current.steps[index].run();
      li.querySelector(".story__line").textContent = text;
      li.dataset.state = "done";
      current.state.step = Math.max(current.state.step, index + 1);
      if (index === 0) current.state.step = 1;
      narrate(text, false);
    } catch (e) {
      li.dataset.state = "failed";
      narrate(current.steps[index].title + ": " + e.message, true);
    }
    renderStory(name);
  }

  /* ---- live updates ------------------------------------------------------------------------ */

  function setStatus(state, text) {
    var status = $("ws-status");
    status.dataset.state = state;
    status.textContent = text;
  }

  async function fetchAllReservations() {
    var all = [];
    for (var offset = 0; ; offset += 1000) {
      var result = await api("GET", "/api/reservations?limit=1000&offset=" + offset);
      if (!result.ok) throw new Error(errorText(result));
      all = all.concat(result.data.reservations);
      if (all.length >= result.data.total || result.data.reservations.length === 0) return all;
    }
  }

  /* Replace the local state with the API's (after a (re)connection, or a reset). */
  async function resync() {
    var both = await Promise.all([fetchAllReservations(), api("GET", "/api/seats")]);
    var reservations = both[0];
    if (!both[1].ok) throw new Error(errorText(both[1]));
    var fresh = new Map();
    seats.forEach(function (seat, id) { fresh.set(id, new Map()); });
    reservations.forEach(function (r) {
      if (fresh.has(r.seat_id)) fresh.get(r.seat_id).set(r.id, r);
    });
    seats.forEach(function (seat, id) { seat.reservations = fresh.get(id); });
    both[1].data.forEach(function (s) {
      var seat = seats.get(s.id);
      if (seat) seat.holderId = s.reservation ? s.reservation.id : null;
    });
    renderAllSeats();
    if (timeline) reservations.forEach(function (r) { if (r.recorded_at) timeline.addReservation(r); });
    await Promise.all([refreshConflicts(), refreshClocks(), refreshHolds()]);
  }

  function onMessage(message) {
    var d = message.data;
    switch (message.type) {
      case "subscribed":
        resync().then(
          function () { setStatus("live", "● " + _("Live")); },
          function () { setStatus("live", "● " + _("Live (re-sync failed; retrying on next change)")); }
        );
        break;
      case "reservation_created":
        addReservation(d, d.holder_id);
        refreshConflictsSoon();
        refreshAnomaliesSoon();
        break;
      case "reservation_cancelled":
        removeReservation(d);
        refreshConflictsSoon();
        break;
      case "reservations_cleared":
        if (timeline) timeline.reset(d.cancelled_at);
        resync().catch(function () { return null; });
        break;
      case "conflict_detected":
        refreshConflictsSoon();
        break;
      case "hold_created":
        if (timeline) timeline.addHold(d);
        refreshHolds(d.seat_id); // every node's judgement, from the server
        break;
      case "hold_confirmed":
      case "hold_released":
        if (holds.has(d.id)) dropHold(holds.get(d.id), message.type === "hold_confirmed" ? "confirmed" : "released", null);
        else if (timeline) timeline.endHold(d.id, message.type === "hold_confirmed" ? "confirmed" : "released", null);
        refreshAnomaliesSoon();
        break;
      case "holds_cleared":
        holds.forEach(function (h) { dropHold(h, "released", d.released_at); });
        break;
      case "conflict_resolved":
        forgetBumped(d.seat_id, d.bumped_ids, d.holder_id, d.bumped_at);
        refreshConflictsSoon();
        break;
      case "consistency_mode_changed":
        consistency.mode = d.mode;
        consistency.fence_limit_seconds = d.fence_limit_seconds;
        consistency.max_clock_offset_seconds = d.max_clock_offset_seconds;
        // Drawn when this page heard of it (the event carries no instant).
        if (timeline) timeline.modeChanged(d.mode, trueNow());
        renderConsistency();
        refreshClocks();
        refreshHolds(); // every node judges every hold anew
        break;
      case "offsets_changed":
        if (timeline) timeline.setClocks(d.servers, false);
        refreshClocks();
        refreshHolds();
        break;
      case "time_sync_update":
        refreshClocks();
        break;
      case "stale":
        // The server's live feed lost events: re-read everything (if it also closes the
        // socket, the reconnection re-syncs once more).
        resync().catch(function () {});
        break;
      case "error":
        console.warn("seatclock websocket error", d);
        break;
      default:
        break;
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    setStatus("connecting", attempts ? _("Reconnecting…") : _("Connecting…"));
    // data-ws-port: the WebSocket server listens on its own port (serve.sh); empty: this one.
    var wsPort = document.body.getAttribute("data-ws-port");
    socket = new WebSocket(scheme + (wsPort ? location.hostname + ":" + wsPort : location.host) + "/ws/updates");
    socket.onopen = function () {
      attempts = 0;
      socket.send(JSON.stringify({ type: "subscribe", topics: TOPICS }));
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onMessage(message);
    };
    socket.onclose = function () {
      // Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 10 s.
      var delay = Math.min(10000, 500 * Math.pow(2, attempts)) * (0.8 + Math.random() * 0.4);
      attempts += 1;
      setStatus("offline", "○ " + fmt(_("Offline — reconnecting in %(s)s s"), { s: (delay / 1000).toFixed(1) }));
      setTimeout(connect, delay);
    };
  }

  /* ---- timeline controls ---------------------------------------------------------------------- */

  function startTimeline(initial) {
    if (!window.SeatclockTimeline || !window.d3) return;
    timeline = window.SeatclockTimeline.create($("tl-canvas"), { now: trueNow, seatLabel: seatName });
    if (initial.clocks) {
      clockBase = { trueMs: micros(initial.clocks.true_time) / 1000, perf: performance.now(), servers: initial.clocks.servers };
      timeline.setLanes(initial.clocks.servers.map(function (s) { return s.server_id; }));
      timeline.setClocks(initial.clocks.servers, true);
      timeline.loadedAt = clockBase.trueMs;
    }
    initial.seats.forEach(function (s) {
      s.reservations.forEach(function (r) { timeline.addReservation(Object.assign({ seat_id: s.id }, r), s.reservations.length > 1); });
    });
    var live = $("tl-live"), scrub = $("tl-scrub"), span = $("tl-span");
    timeline.onmode = function (mode) {
      live.setAttribute("aria-pressed", mode === "live" ? "true" : "false");
      if (mode === "live") scrub.value = scrub.max;
    };
    span.addEventListener("change", function () { timeline.userSpan = timeline.span = parseFloat(span.value); timeline.dirty = true; });
    live.addEventListener("click", function () { timeline.live(); });
    $("tl-replay").addEventListener("click", function () {
      var back = Math.min(600, Math.max(timeline.span, (trueNow() - timeline.earliest()) / 1000));
      timeline.replayFrom(back, 4);
    });
    // The slider: how far back the window ends (right: now and live).
    function scrubRange() {
      var back = Math.min(600, Math.max(0, (trueNow() - timeline.earliest()) / 1000));
      scrub.max = String(Math.ceil(back));
      if (timeline.mode === "live") scrub.value = scrub.max;
    }
    setInterval(scrubRange, 1000);
    scrubRange();
    scrub.addEventListener("input", function () {
      var back = parseFloat(scrub.max) - parseFloat(scrub.value);
      if (back <= 0.05) timeline.live();
      else timeline.pauseAt(trueNow() - back * 1000);
    });
  }

  /* ---- start ------------------------------------------------------------------------------- */

  function start() {
    var initial = JSON.parse($("seatmap-state").textContent);
    controlsEnabled = document.body.dataset.controlsEnabled === "true";
    if (initial.consistency) Object.assign(consistency, initial.consistency);
    initial.seats.forEach(function (s) {
      var seat = { id: s.id, row: s.row, number: s.number, label: s.row + s.number, reservations: new Map(), holderId: s.holder_id };
      s.reservations.forEach(function (r) { seat.reservations.set(r.id, Object.assign({ seat_id: s.id }, r)); });
      seats.set(s.id, seat);
      columns = Math.max(columns, s.number);
    });
    rows = new Set(initial.seats.map(function (s) { return s.row; })).size;
    startTimeline(initial);
    renderConsistency();
    renderAllSeats();
    layoutSeats();
    window.addEventListener("resize", layoutSeats);
    $("zoom-in").addEventListener("click", function () { zoom = Math.min(4, zoom * 1.25); layoutSeats(); });
    $("zoom-out").addEventListener("click", function () { zoom = Math.max(0.25, zoom / 1.25); layoutSeats(); });
    $("zoom-fit").addEventListener("click", function () { fitAll = !fitAll; zoom = 1; layoutSeats(); });

    $("grid").addEventListener("click", function (event) {
      var button = event.target.closest("button.seat");
      if (button) selectSeat(parseInt(button.dataset.seatId, 10));
    });
    $("reserve-form").addEventListener("submit", reserve);
    $("hold-submit").addEventListener("click", placeHold);
    $("details-holds").addEventListener("click", holdAction);
    ["seat", "conflicts", "story"].forEach(function (tab) {
      var button = $("tab-" + tab);
      if (button) button.addEventListener("click", function () { selectTab(tab); });
    });

    if (controlsEnabled) {
      $("details-reservations").addEventListener("click", function (event) {
        var button = event.target.closest("button.cancel-button");
        if (button) cancelReservation(parseInt(button.dataset.reservationId, 10));
      });
      document.querySelectorAll(".mode-button").forEach(function (button) {
        button.addEventListener("click", function () {
          control(api("POST", "/api/simulation/consistency", { mode: button.dataset.mode }), function (d) {
            consistency.mode = d.mode;
            renderConsistency();
            return fmt(_("Consistency mode: %(mode)s."), { mode: d.mode });
          });
        });
      });
      $("conflicts-list").addEventListener("click", function (event) {
        var button = event.target.closest("button.resolve-button");
        if (button) resolveConflict(parseInt(button.dataset.seatId, 10), button.dataset.policy);
      });
      document.querySelectorAll(".scenario-button").forEach(function (button) {
        button.addEventListener("click", function () {
          control(api("POST", "/api/simulation/apply-scenario", { scenario_name: button.dataset.scenario }),
            function (d) { return fmt(_("Scenario %(name)s applied."), { name: d.scenario_name }); });
        });
      });
      $("clear-offsets").addEventListener("click", function () {
        control(api("POST", "/api/simulation/clear-offsets"), function () { return _("Every clock back on true time."); });
      });
      $("offset-form").addEventListener("submit", function (event) {
        event.preventDefault();
        var node = $("offset-node").value;
        var body = { server_id: node, offset_seconds: Number($("offset-seconds").value), drift_ppm: Number($("offset-drift").value || 0) };
        control(api("POST", "/api/simulation/set-offset", body), function (d) {
          return fmt(_("%(node)s: offset %(offset)s s, drift %(drift)s ppm."), { node: d.server_id, offset: signed(d.offset_seconds), drift: signed(d.drift_ppm || 0, 1) });
        });
      });
      document.querySelectorAll(".sync-button").forEach(function (button) {
        button.addEventListener("click", function () {
          control(api("POST", "/api/time/sync", { server_id: button.dataset.serverId }), syncText);
        });
      });
      $("sync-all").addEventListener("click", syncAll);
      $("reset-demo").addEventListener("click", function (event) { resetDemo(event.currentTarget); });
      renderStory();
      selectTab("story"); // the presenter's first stop; a click on a seat shows the seat
      Object.keys(STORIES).forEach(function (name) {
        $(STORIES[name].list).addEventListener("click", function (event) {
          var button = event.target.closest("button[data-step]");
          if (button && !button.disabled) runStep(name, parseInt(button.dataset.step, 10) - 1);
        });
      });
      document.querySelectorAll(".story-pick__button").forEach(function (b) {
        b.addEventListener("click", function () { pickStory(b.dataset.story); });
      });
    }

    refreshClocks();
    refreshConflicts();
    setInterval(function () { tick(); tickHolds(); }, 100);
    setInterval(refreshClocks, 60000); // bound the error of local elapsed time
    // A refusal by another client sends no event: while a hold is live somewhere, ask the checker
    // again every 10 s (a zombie's witness, a theft through the API).
    setInterval(function () { if (holds.size) refreshAnomalies(); }, 10000);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
