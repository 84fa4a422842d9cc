/* Seatclock seat map: plain JavaScript, no build step.
 *
 * The page starts from the server-rendered state (#seatmap-state), then stays live over
 * /ws/updates.  On every (re)connection it re-syncs from the REST API, so nothing missed while
 * disconnected is lost.  Customer names are untrusted: they are only ever set with
 * textContent, never innerHTML.
 */
(function () {
  "use strict";

  var TOPICS = ["reservations", "time_sync", "conflicts"];
  var MARKS = { available: "○", reserved: "●", conflict: "⚠" };
  var STATE_TEXT = { available: "available", reserved: "reserved", conflict: "in conflict" };

  var MODE_ABOUT = {
    naive: "each node sees only what its own clock has reached",
    bounded: "each node also sees up to MAX_CLOCK_OFFSET past its clock; nodes too far from the median are fenced",
    serializable: "clocks ignored: every node sees every reservation",
    commit_wait: "each write is stamped at its node's clock + ε and answered about 2ε later (Spanner's commit wait); a node without a bounded ε refuses writes",
  };

  var seats = new Map(); // seat id -> {id, row, number, label, reservations: Map(id -> reservation)}
  var conflictsBySeat = new Map(); // seat id -> conflict from /api/reservations/conflicts
  var consistency = { mode: "naive", fence_limit_seconds: null };
  var controlsEnabled = false;
  var selectedId = null;
  var clockBase = null; // {trueMs, perf, servers: [...]}
  var socket = null;
  var attempts = 0;

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

  function showTime(iso) {
    if (!iso) return "—";
    var us = micros(iso);
    if (isNaN(us)) return iso;
    var ms = Math.floor(us / 1000);
    return new Date(ms).toISOString().replace("T", " ").replace("Z", "") + String(us % 1000).padStart(3, "0") + " UTC";
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

  function errorText(result) {
    var err = result.data && result.data.error;
    if (!err) return "HTTP " + result.status;
    var text = err.message + " (" + err.code + ")";
    var existing = err.details && err.details.existing_reservation;
    if (existing) text += " — held by " + existing.customer_name + " (#" + existing.id + ")";
    return text;
  }

  /* ---- seats ---------------------------------------------------------------------------- */

  function seatState(seat) {
    var n = seat.reservations.size;
    return n === 0 ? "available" : n === 1 ? "reserved" : "conflict";
  }

  /* The holder comes from the server (seat.holderId, kept current by the live events); the page
     never applies the holder rule itself.  Reservations are listed holder first, then by stamp. */
  function listed(seat) {
    return Array.from(seat.reservations.values()).sort(function (a, b) {
      return (b.id === seat.holderId) - (a.id === seat.holderId) || micros(a.created_at) - micros(b.created_at) || a.id - b.id;
    });
  }

  function renderSeat(seat) {
    var button = $("seat-" + seat.id);
    if (!button) return;
    var st = seatState(seat);
    button.className = "seat seat--" + st + (seat.id === selectedId ? " seat--selected" : "");
    button.dataset.state = st;
    var holder = seat.reservations.get(seat.holderId);
    var label = "Seat " + seat.label + ", " + STATE_TEXT[st];
    if (holder) label += st === "conflict" ? " (" + seat.reservations.size + " reservations)" : " by " + holder.customer_name;
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", seat.id === selectedId ? "true" : "false");
    button.querySelector(".seat__mark").textContent = MARKS[st];
    if (seat.id === selectedId) renderDetails();
  }

  function renderAllSeats() { seats.forEach(renderSeat); }

  function addReservation(r, holderId) {
    var seat = seats.get(r.seat_id);
    if (!seat) return;
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
  }

  function removeReservation(r) {
    var seat = seats.get(r.seat_id);
    if (!seat) return;
    seat.reservations.delete(r.id);
    seat.holderId = r.holder_id;
    renderSeat(seat);
  }

  /* ---- details and reserving -------------------------------------------------------------- */

  function renderDetails() {
    var seat = seats.get(selectedId);
    if (!seat) return;
    $("details-empty").hidden = true;
    $("details-body").hidden = false;
    $("details-seat").textContent = "Seat " + seat.label;
    var st = seatState(seat);
    var text = { available: "Available.", reserved: "Reserved.", conflict: "In conflict: double-booked. The holder is the earliest node timestamp." }[st];
    $("details-state").textContent = MARKS[st] + " " + text;
    var body = $("details-reservations");
    body.replaceChildren();
    listed(seat).forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.reservationId = r.id;
      var name = el("td", r.customer_name, "resv__name");
      if (r.id === seat.holderId && st === "conflict") name.appendChild(el("span", " (holder)", "tag"));
      tr.append(name, el("td", r.server_id), el("td", showTime(r.created_at)), el("td", showTime(r.recorded_at)));
      body.appendChild(tr);
    });
    // Why the seat is double-booked: one line per blind write, from the conflicts endpoint.
    var why = $("details-explanation");
    why.replaceChildren();
    var conflict = st === "conflict" ? conflictsBySeat.get(seat.id) : null;
    if (conflict) conflict.explanation.forEach(function (line) { why.appendChild(el("li", line)); });
  }

  async function selectSeat(id) {
    var previous = selectedId;
    selectedId = id;
    if (previous !== null && seats.has(previous)) renderSeat(seats.get(previous));
    renderSeat(seats.get(id));
    $("reserve-error").textContent = "";
    $("reserve-result").textContent = "";
    // Refresh from the API: the same rows (and the same holder) the REST clients see.
    var results = await Promise.all([
      api("GET", "/api/reservations?limit=1000&seat_id=" + id),
      api("GET", "/api/seats/" + id),
    ]);
    if (results[0].ok && results[1].ok && selectedId === id) {
      var seat = seats.get(id);
      var fresh = new Map();
      results[0].data.reservations.forEach(function (r) { fresh.set(r.id, r); });
      seat.reservations = fresh;
      seat.holderId = results[1].data.reservation ? results[1].data.reservation.id : null;
      renderSeat(seat);
    }
  }

  async function reserve(event) {
    event.preventDefault();
    if (selectedId === null) return;
    var submit = $("reserve-submit");
    $("reserve-error").textContent = "";
    $("reserve-result").textContent = "";
    submit.disabled = true;
    try {
      var result = await api("POST", "/api/reservations", {
        seat_id: selectedId,
        customer_name: $("reserve-name").value,
        server_id: $("reserve-node").value,
      });
      if (result.ok) {
        var r = result.data;
        addReservation(r);
        refreshSeat(r.seat_id);
        $("reserve-result").textContent =
          "Reserved #" + r.id + " through " + r.server_id + " at " + showTime(r.created_at) + " (its clock)." +
          (r.conflict_detected ? " ⚠ Conflict: this node could not see an earlier reservation." : "");
        $("reserve-name").value = "";
      } else {
        $("reserve-error").textContent = errorText(result);
      }
    } catch (e) {
      $("reserve-error").textContent = "Network error: " + e.message;
    } finally {
      submit.disabled = false;
    }
  }

  /* ---- conflicts -------------------------------------------------------------------------- */

  var conflictTimer = null;

  function refreshConflictsSoon() {
    clearTimeout(conflictTimer);
    conflictTimer = setTimeout(refreshConflicts, 150);
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
    try { conflicts = await fetchAllConflicts(); } catch (e) { return; }
    var list = $("conflicts-list");
    list.replaceChildren();
    conflictsBySeat = new Map(conflicts.map(function (c) { return [c.seat_id, c]; }));
    var unfair = 0;
    conflicts.forEach(function (c) {
      var seat = seats.get(c.seat_id);
      var names = new Map(c.reservations.map(function (r) { return [r.id, r]; }));
      var winner = names.get(c.winner_id);
      var first = names.get(c.true_first_id);
      if (!c.fair) unfair += 1;
      var li = el("li", null, "conflict " + (c.fair ? "conflict--fair" : "conflict--unfair"));
      li.dataset.seatId = c.seat_id;
      li.dataset.fair = String(c.fair);
      li.appendChild(el("strong", "Seat " + (seat ? seat.label : c.seat_id) + ": " + c.reservations.length + " reservations. "));
      li.appendChild(el("span", "Holder by timestamp: " + winner.customer_name + " (" + winner.server_id + "). "));
      li.appendChild(el("span", "Truly first: " + first.customer_name + " (" + first.server_id + "). "));
      li.appendChild(el("span", c.fair ? "✓ fair" : "✗ UNFAIR: the timestamp winner came second", "verdict"));
      if (c.explanation.length) {
        var why = el("ul", null, "explanation");
        c.explanation.forEach(function (line) { why.appendChild(el("li", line)); });
        li.appendChild(why);
      }
      if (controlsEnabled) {
        var actions = el("div", null, "buttons");
        [["earliest_timestamp", "Keep earliest timestamp"], ["true_order", "Keep true first"]].forEach(function (p) {
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
      ? "No conflicts."
      : conflicts.length + " conflict(s), " + unfair + " resolved unfairly (timestamp winner ≠ true first).";
    if (selectedId !== null) renderDetails();
  }

  async function resolveConflict(seatId, policy) {
    $("conflicts-error").textContent = "";
    $("conflicts-result").textContent = "…";
    try {
      var result = await api("POST", "/api/reservations/conflicts/" + seatId + "/resolve", { policy: policy });
      if (result.ok) {
        var d = result.data;
        forgetBumped(d.seat_id, d.bumped.map(function (r) { return r.id; }), d.kept.id);
        var seat = seats.get(d.seat_id);
        $("conflicts-result").textContent = "Seat " + (seat ? seat.label : d.seat_id) + ": kept " + d.kept.customer_name +
          " (#" + d.kept.id + "), bumped " + d.bumped.map(function (r) { return "#" + r.id; }).join(", ") +
          (d.fair ? " — fair: kept who truly came first." : " — UNFAIR: kept who truly came second.");
      } else {
        $("conflicts-result").textContent = "";
        $("conflicts-error").textContent = errorText(result);
      }
    } catch (e) {
      $("conflicts-result").textContent = "";
      $("conflicts-error").textContent = "Network error: " + e.message;
    }
    refreshConflictsSoon();
  }

  function forgetBumped(seatId, ids, holderId) {
    var seat = seats.get(seatId);
    if (!seat) return;
    ids.forEach(function (id) { seat.reservations.delete(id); });
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

  function renderConsistency() {
    var box = $("consistency");
    box.dataset.mode = consistency.mode;
    $("consistency-mode").textContent = consistency.mode;
    $("consistency-about").textContent = "— " + (MODE_ABOUT[consistency.mode] || "");
    document.querySelectorAll(".mode-button").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.mode === consistency.mode ? "true" : "false");
    });
    renderFences();
  }

  /* Grey out nodes that refuse writes (in the clocks panel and the node choice): fenced ones when
   * bounded enforces fencing, those whose ε is unbounded or too large in commit_wait. */
  function renderFences() {
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
        var dev = (s.deviation_seconds >= 0 ? "+" : "") + s.deviation_seconds.toFixed(3) + " s";
        var cell = row.querySelector(".clock__fence");
        cell.textContent = s.fenced ? (enforced ? "⊘ fenced (" + dev + ")" : "beyond limit (" + dev + ")") : "ok (" + dev + ")";
        cell.title = s.fenced && !enforced ? "Fencing is enforced only in bounded mode." : "";
        if (consistency.mode === "commit_wait") {
          cell.textContent = s.uncertainty_seconds === null ? "⊘ ε unbounded (never synced)"
            : (s.uncertainty_exceeded ? "⊘ " : "") + "ε " + (s.uncertainty_seconds * 1000).toFixed(1) + " ms";
          cell.title = "commit_wait: each write through this node waits about 2ε.";
        }
      }
      var option = document.querySelector('#reserve-node option[value="' + CSS.escape(s.server_id) + '"]');
      if (option) {
        option.disabled = fenced;
        option.dataset.fenced = String(fenced);
        option.textContent = s.server_id + (fenced ? " — fenced" : "");
      }
    });
    $("reserve-fence-hint").hidden = !anyFenced;
    if (consistency.fence_limit_seconds !== null) {
      $("fence-hint").textContent = "Fence: deviation from the median offset; beyond ±" +
        consistency.fence_limit_seconds.toFixed(3) + " s a node is fenced (refuses writes) in bounded mode.";
    }
  }

  /* ---- clocks ------------------------------------------------------------------------------ */

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
      var drift = s.drift_ppm ? " (" + (s.drift_ppm > 0 ? "+" : "") + s.drift_ppm + " ppm)" : "";
      row.querySelector(".clock__offset").textContent = (s.offset_seconds >= 0 ? "+" : "") + s.offset_seconds.toFixed(3) + " s" + drift;
      var sync = row.querySelector(".clock__sync");
      sync.textContent = s.ntp_synced ? "✓ synced" : "✗ not synced";
      sync.dataset.synced = String(s.ntp_synced);
    });
    renderConsistency();
    tick();
  }

  function tick() {
    if (!clockBase) return;
    var elapsed = (performance.now() - clockBase.perf) / 1000;
    var trueMs = clockBase.trueMs + elapsed * 1000;
    clockBase.servers.forEach(function (s) {
      var row = document.querySelector('#clocks-body tr[data-server-id="' + CSS.escape(s.server_id) + '"]');
      if (!row) return;
      var offset = s.offset_seconds + (s.drift_ppm || 0) * 1e-6 * elapsed;
      row.querySelector(".clock__time").textContent = new Date(trueMs + offset * 1000).toISOString().slice(11, 22);
    });
  }

  /* ---- controls ---------------------------------------------------------------------------- */

  async function control(promise, okText) {
    $("controls-error").textContent = "";
    $("controls-result").textContent = "…";
    try {
      var result = await promise;
      if (result.ok) $("controls-result").textContent = okText(result.data);
      else { $("controls-result").textContent = ""; $("controls-error").textContent = errorText(result); }
    } catch (e) {
      $("controls-result").textContent = "";
      $("controls-error").textContent = "Network error: " + e.message;
    }
    refreshClocks();
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

  /* Replace the local state with the API's (after a (re)connection). */
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
    await Promise.all([refreshConflicts(), refreshClocks()]);
  }

  function onMessage(message) {
    switch (message.type) {
      case "subscribed":
        resync().then(
          function () { setStatus("live", "● Live"); },
          function () { setStatus("live", "● Live (re-sync failed; retrying on next change)"); }
        );
        break;
      case "reservation_created":
        addReservation(message.data, message.data.holder_id);
        refreshConflictsSoon();
        break;
      case "reservation_cancelled":
        removeReservation(message.data);
        refreshConflictsSoon();
        break;
      case "conflict_detected":
        refreshConflictsSoon();
        break;
      case "conflict_resolved":
        forgetBumped(message.data.seat_id, message.data.bumped_ids, message.data.holder_id);
        refreshConflictsSoon();
        break;
      case "consistency_mode_changed":
        consistency.mode = message.data.mode;
        consistency.fence_limit_seconds = message.data.fence_limit_seconds;
        renderConsistency();
        refreshClocks();
        break;
      case "offsets_changed":
      case "time_sync_update":
        refreshClocks();
        break;
      case "error":
        console.warn("seatclock websocket error", message.data);
        break;
      default:
        break;
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    setStatus("connecting", attempts ? "Reconnecting…" : "Connecting…");
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
      setStatus("offline", "○ Offline — reconnecting in " + (delay / 1000).toFixed(1) + " s");
      setTimeout(connect, delay);
    };
  }

  /* ---- start ------------------------------------------------------------------------------- */

  function start() {
    var initial = JSON.parse($("seatmap-state").textContent);
    controlsEnabled = document.body.dataset.controlsEnabled === "true";
    if (initial.consistency) {
      consistency.mode = initial.consistency.mode;
      consistency.fence_limit_seconds = initial.consistency.fence_limit_seconds;
    }
    renderConsistency();
    initial.seats.forEach(function (s) {
      var seat = { id: s.id, row: s.row, number: s.number, label: s.row + s.number, reservations: new Map(), holderId: s.holder_id };
      s.reservations.forEach(function (r) { seat.reservations.set(r.id, Object.assign({ seat_id: s.id }, r)); });
      seats.set(s.id, seat);
    });
    renderAllSeats();

    $("grid").addEventListener("click", function (event) {
      var button = event.target.closest("button.seat");
      if (button) selectSeat(parseInt(button.dataset.seatId, 10));
    });
    $("reserve-form").addEventListener("submit", reserve);

    if (controlsEnabled) {
      document.querySelectorAll(".mode-button").forEach(function (button) {
        button.addEventListener("click", function () {
          control(api("POST", "/api/simulation/consistency", { mode: button.dataset.mode }), function (d) {
            consistency.mode = d.mode;
            renderConsistency();
            return "Consistency mode: " + d.mode + ".";
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
            function (d) { return "Scenario " + d.scenario_name + " applied."; });
        });
      });
      $("clear-offsets").addEventListener("click", function () {
        control(api("POST", "/api/simulation/clear-offsets"), function () { return "All offsets cleared."; });
      });
      document.querySelectorAll(".sync-button").forEach(function (button) {
        button.addEventListener("click", function () {
          control(api("POST", "/api/time/sync", { server_id: button.dataset.serverId }), function (d) {
            return d.server_id + " synced: stepped by " + d.offset_seconds.toFixed(6) + " s (delay " + d.delay_seconds.toFixed(6) + " s).";
          });
        });
      });
    }

    refreshClocks();
    refreshConflicts();
    setInterval(tick, 100);
    setInterval(refreshClocks, 60000); // bound the error of local elapsed time
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
