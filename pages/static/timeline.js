/* Seatclock's live timeline: a space-time diagram of what the nodes did, drawn with D3
 * (pages/static/vendor/d3, vendored: it works offline).  Plain JavaScript, no build step.
 *
 *   x: true time (the host clock), the same for every lane; one lane per node.
 *   A booking is a dot at its true instant (recorded_at) and a tick at the instant its node's
 *   clock stamped it (created_at): the dashed gap between them IS the node's offset then.
 *   At "now" each node shows where its own clock is (the hand); for a lagging node the span
 *   between its hand and now is shaded: stamps there are in its future, so it cannot see them
 *   (its blind window).  The two bookings of a conflict are linked; the holder (earliest
 *   stamp) and the truly first are marked, and an unfair link is red.  For each blind write a
 *   dashed line is drawn at its node's reading (its horizon): every tick right of it was
 *   invisible to that node.  Syncs (⟳) and offset changes (Δ) sit on their lane; resets and
 *   mode switches cross every lane.
 *
 * The data model is one list of records, whatever their source:
 *
 *   {key, kind, lane, at, until?, stamp?, ...}
 *     kind   "reservation" | "hold" | "sync" | "offset" | "reset" | "mode"   (see KINDS below)
 *     lane   a node id, or null for the whole cluster
 *     at     true time, milliseconds since the epoch (microseconds kept as a fraction)
 *     until  optional end, true time: a record with it is an interval (a booking's life)
 *     stamp  optional node-clock instant of the record (a booking's created_at)
 *
 * plus each lane's clock segments ({from, offset, drift}: the node's offset is
 * offset + drift·1e-6·(t − from) from true time `from` on).  Today the records come from the
 * page's initial state (the API's reservations and clocks) and the live events since; a later
 * source (the operations history, DESIGN §8) only has to produce the same records through
 * `add()` / `clockSegment()`.
 *
 * Seat holds (DESIGN §7, docs/holds.md) are intervals on their node's lane: from the hold's true
 * instant (recorded_at) to its expiry as its own node's clock judges it (expires_at, a node-clock
 * instant, mapped back to true time through the lane's offset), or to its confirmation or
 * release; the tick is its stamp (created_at).  Which holds were stolen or kept as zombies is the
 * history checker's verdict (GET /seat-map/hold-anomalies, lab.checker's witness pairs), never
 * decided here: a stolen hold shows the thief's lane shaded from where that node judged the hold
 * expired to its true end, and a link from the hold to the sale; a zombie shows the refusing
 * node's lane shaded from the true end to where it judged the hold expired, and a link from the
 * hold's end to the SEAT_HELD refusal.
 *
 * Labels never write over each other: after each frame the texts are laid out by priority (the
 * cursor, the links, the bookings, the markers, the holds, then the windows' and markers' words);
 * a text whose place is taken moves up or down by its height, or else is hidden
 * (data-hidden="overlap"); its mark stays.
 */
(function () {
  "use strict";

  var d3 = window.d3;
  var _ = window.gettext || function (s) { return s; };
  function fmt(text, values) {
    return window.interpolate ? window.interpolate(text, values, true) : text.replace(/%\((\w+)\)s/g, function (m, k) { return values[k]; });
  }

  var MARGINS = { left: 152, right: 14, top: 22, bottom: 22 };
  var M = MARGINS;
  var FPS = 15;

  /* ISO-8601 -> milliseconds since the epoch, microseconds kept (Date.parse keeps only ms). */
  function ms(iso) {
    var m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso || "");
    if (!m) return NaN;
    var frac = ((m[2] || "") + "000000").slice(0, 6);
    return Date.parse(m[1] + m[3]) + parseInt(frac, 10) / 1000;
  }

  function signed(seconds, digits) {
    var text = Math.abs(seconds).toFixed(digits === undefined ? 3 : digits);
    return (seconds < 0 ? "−" : "+") + text;
  }

  var clockFormat = d3.utcFormat("%H:%M:%S");
  function clockText(t) { return clockFormat(new Date(t)) + "." + String(Math.floor(((t % 1000) + 1000) % 1000)).padStart(3, "0"); }

  /* How each kind of record looks.  `instant` kinds draw a marker at `at` on their lane (or
     across all lanes when lane is null); reservations have their own layer. */
  var KINDS = {
    reservation: { layer: "reservations" },
    hold: { layer: "holds" },
    sync: { layer: "markers", symbol: "⟳" },
    offset: { layer: "markers", symbol: "Δ" },
    reset: { layer: "globals" },
    mode: { layer: "globals" },
  };

  function Timeline(container, options) {
    this.container = container;
    this.now = options.now; // () -> true time (ms) as the page estimates it
    this.seatLabel = options.seatLabel || function (id) { return "#" + id; };
    this.records = new Map(); // key -> record
    this.segments = new Map(); // lane -> [{from, offset, drift}] in time order
    this.clockState = new Map(); // lane -> last known node status (for change detection)
    this.lanes = [];
    this.conflicts = new Map(); // seat id -> {seatId, ids, winnerId, trueFirstId, fair, blind, resolved}
    this.holdAnomalies = []; // the checker's stolen and zombie holds (GET /seat-map/hold-anomalies)
    this.focusHoldId = null;
    this.span = 60; // seconds shown
    this.userSpan = 60; // the span chosen by the presenter (a focus narrows it for a while)
    this.mode = "live"; // "live" | "paused" | "replay"
    this.cursor = null; // true time shown as "now" when not live
    this.replay = null; // {from, perf, speed}
    this.focusSeat = null;
    this.loadedAt = null;
    this.dirty = true;
    this.width = 0;
    this.height = 0;
    this._build();
  }

  Timeline.prototype._build = function () {
    var self = this;
    var svg = d3.select(this.container).append("svg")
      .attr("role", "img")
      .attr("aria-label", _("Timeline of the nodes: bookings at their true instant and at their node's stamp"));
    var defs = svg.append("defs");
    var violet = defs.append("pattern").attr("id", "tl-hatch-hold").attr("patternUnits", "userSpaceOnUse")
      .attr("width", 6).attr("height", 6).attr("patternTransform", "rotate(-45)");
    violet.append("rect").attr("width", 6).attr("height", 6).attr("fill", "#ede9fe");
    violet.append("line").attr("x1", 0).attr("y1", 0).attr("x2", 0).attr("y2", 6).attr("stroke", "#7c3aed").attr("stroke-width", 3);
    var hatch = defs.append("pattern").attr("id", "tl-hatch").attr("patternUnits", "userSpaceOnUse")
      .attr("width", 7).attr("height", 7).attr("patternTransform", "rotate(45)");
    hatch.append("rect").attr("width", 7).attr("height", 7).attr("fill", "#fee2e2");
    hatch.append("line").attr("x1", 0).attr("y1", 0).attr("x2", 0).attr("y2", 7).attr("stroke", "#ef4444").attr("stroke-width", 3);
    defs.append("clipPath").attr("id", "tl-clip").append("rect");
    this.svg = svg;
    this.gLanes = svg.append("g").attr("class", "tl-lanes");
    this.gGrid = svg.append("g").attr("class", "tl-grid");
    this.gPlot = svg.append("g").attr("clip-path", "url(#tl-clip)");
    this.gBlind = this.gPlot.append("g").attr("class", "tl-blinds");
    this.gLife = this.gPlot.append("g").attr("class", "tl-lives");
    this.gHolds = this.gPlot.append("g").attr("class", "tl-holds");
    this.gLinks = this.gPlot.append("g").attr("class", "tl-links");
    this.gRes = this.gPlot.append("g").attr("class", "tl-reservations");
    this.gMarkers = this.gPlot.append("g").attr("class", "tl-markers");
    this.gGlobals = this.gPlot.append("g").attr("class", "tl-globals");
    this.gNow = this.gPlot.append("g").attr("class", "tl-nowlayer");
    this.gLabels = svg.append("g").attr("class", "tl-lane-labels");
    this.gAxis = svg.append("g").attr("class", "tl-axis");
    this.axisName = svg.append("text").attr("class", "tl-axis-name").text(_("true time →"));
    if (window.ResizeObserver) {
      new ResizeObserver(function () { self._resize(); }).observe(this.container);
    }
    window.addEventListener("resize", function () { self._resize(); });
    this._resize();
    var last = 0;
    function frame(t) {
      if (t - last >= 1000 / FPS && !document.hidden) {
        last = t;
        if (self.mode !== "paused" || self.dirty) self.render();
      }
      requestAnimationFrame(frame);
    }
    requestAnimationFrame(frame);
  };

  Timeline.prototype._resize = function () {
    var box = this.container.getBoundingClientRect();
    // Narrow screens: the lane names take less room, the offset goes under the name.
    M = box.width < 600 ? { left: 78, right: 8, top: 22, bottom: 22, stacked: true } : MARGINS;
    this.width = Math.max(200, Math.floor(box.width));
    this.height = Math.max(120, Math.floor(box.height));
    this.svg.attr("viewBox", "0 0 " + this.width + " " + this.height);
    this.dirty = true;
  };

  /* ---- data in -------------------------------------------------------------------------- */

  Timeline.prototype.setLanes = function (ids) {
    this.lanes = ids.slice();
    this.dirty = true;
  };

  Timeline.prototype.add = function (record) {
    var previous = this.records.get(record.key);
    this.records.set(record.key, previous ? Object.assign(previous, record) : record);
    this.dirty = true;
  };

  Timeline.prototype.clockSegment = function (lane, segment) {
    var list = this.segments.get(lane) || [];
    if (list.length && list[list.length - 1].from >= segment.from) {
      // The same change heard twice (an API refresh after the live event): keep one.
      if (list[list.length - 1].from === segment.from) list[list.length - 1] = segment;
      else return;
    } else {
      list.push(segment);
    }
    this.segments.set(lane, list);
    this.dirty = true;
  };

  /* The node's offset (seconds) at true time t, or null where the page does not know it. */
  Timeline.prototype.offsetAt = function (lane, t) {
    var list = this.segments.get(lane) || [];
    for (var i = list.length - 1; i >= 0; i--) {
      var s = list[i];
      if (s.from <= t) return s.offset + s.drift * 1e-6 * (t - s.from) / 1000;
    }
    return null;
  };

  /* A reservation in the API's shape ({id, seat_id, customer_name, server_id, created_at,
     recorded_at}); `conflict` when it double-booked its seat. */
  Timeline.prototype.addReservation = function (r, conflict) {
    var key = "r" + r.id;
    var previous = this.records.get(key);
    this.add({
      key: key,
      kind: "reservation",
      lane: r.server_id,
      at: ms(r.recorded_at),
      stamp: ms(r.created_at),
      until: previous ? previous.until : null,
      id: r.id,
      seatId: r.seat_id,
      name: r.customer_name,
      state: previous && previous.state !== "active" ? previous.state : "active",
      conflict: Boolean(conflict || (previous && previous.conflict)),
    });
  };

  /* A hold in the API's shape (/api/holds, hold_created): {id, seat_id, customer_name,
     server_id, ttl_seconds, created_at, expires_at, recorded_at, true_expires_at, status}. */
  Timeline.prototype.addHold = function (h) {
    var key = "h" + h.id;
    var previous = this.records.get(key);
    this.add({
      key: key,
      kind: "hold",
      lane: h.server_id,
      at: ms(h.recorded_at),
      stamp: ms(h.created_at),
      expStamp: ms(h.expires_at),
      trueEnd: ms(h.true_expires_at),
      until: previous ? previous.until : null,
      id: h.id,
      seatId: h.seat_id,
      name: h.customer_name === undefined ? (previous ? previous.name : null) : h.customer_name,
      state: previous && previous.state !== "active" ? previous.state : "active",
    });
  };

  /* A hold confirmed or released (its bar stops there); "expired" keeps its bar to its expiry. */
  Timeline.prototype.endHold = function (id, state, atIso) {
    var record = this.records.get("h" + id);
    if (!record || record.state !== "active") return;
    record.state = state;
    if (state !== "expired") record.until = Math.min(atIso ? ms(atIso) : this.now(), this._holdExpiry(record));
    this.dirty = true;
  };

  /* True instant its own node judges the hold expired: expires_at on that node's clock. */
  Timeline.prototype._holdExpiry = function (r) {
    var offset = this.offsetAt(r.lane, r.trueEnd);
    return offset === null ? r.trueEnd : r.expStamp - offset * 1000;
  };

  Timeline.prototype._holdEnd = function (r) {
    var end = this._holdExpiry(r);
    return r.until !== null && r.until !== undefined ? Math.min(r.until, end) : end;
  };

  /* The checker's verdicts (GET /seat-map/hold-anomalies): a hold the page never saw is drawn
     from its operation (its name unknown). */
  Timeline.prototype.setHoldAnomalies = function (list) {
    var self = this;
    this.holdAnomalies = list.filter(function (a) { return a.hold_id !== null && a.hold_id !== undefined; });
    this.holdAnomalies.forEach(function (a) {
      if (!self.records.has("h" + a.hold_id) && a.hold.recorded_at) {
        self.addHold({ id: a.hold_id, seat_id: a.seat_id, server_id: a.hold.node, created_at: a.hold.created_at, expires_at: a.hold.expires_at,
          recorded_at: a.hold.recorded_at, true_expires_at: a.hold.true_expires_at });
        self.records.get("h" + a.hold_id).state = "past";
      }
    });
    this.dirty = true;
  };

  /* Stop on a hold and its anomalies: the hold, the thief's sale or the refusal in the window. */
  Timeline.prototype.focusHold = function (holdId) {
    var r = this.records.get("h" + holdId);
    if (!r) return false;
    var times = [r.at, r.stamp, this._holdEnd(r)];
    this.holdAnomalies.forEach(function (a) {
      if (a.hold_id === holdId) times.push(ms(a.witness.completed_at), ms(a.witness.node_time));
    });
    var lo = Math.min.apply(null, times), hi = Math.max.apply(null, times);
    this.span = Math.min(600, Math.max(12, Math.ceil((hi - lo) / 1000 / 0.6)));
    this.focusHoldId = holdId;
    this.focusSeat = r.seatId;
    this.pauseAt(Math.min(this.now(), hi + (this.span * 1000 - (hi - lo)) * 0.25));
    return true;
  };

  Timeline.prototype.endReservation = function (id, state, atIso) {
    var record = this.records.get("r" + id);
    if (!record) return;
    record.state = state;
    record.until = atIso ? ms(atIso) : this.now();
    this.dirty = true;
  };

  Timeline.prototype.reset = function (atIso) {
    var at = ms(atIso);
    var self = this;
    this.records.forEach(function (r) {
      if (r.kind === "reservation" && r.state === "active" && r.at <= at) { r.state = "cancelled"; r.until = at; }
      if (r.kind === "hold" && r.state === "active" && r.at <= at) { r.state = "released"; r.until = Math.min(at, self._holdExpiry(r)); }
    });
    this.conflicts.forEach(function (c) { c.resolved = true; });
    this.add({ key: "reset" + at, kind: "reset", lane: null, at: at, label: _("reset") });
    self.dirty = true;
  };

  Timeline.prototype.modeChanged = function (mode, at) {
    this.add({ key: "mode" + at, kind: "mode", lane: null, at: at, label: fmt(_("mode: %(mode)s"), { mode: mode }) });
  };

  /* Node statuses (the shape of /api/time/servers or offsets_changed): each node's offset and
     drift from `offset_since` on; a change since the last status becomes a marker — a sync
     (⟳, its step) when the node was synced at that instant, an offset change (Δ) otherwise. */
  Timeline.prototype.setClocks = function (servers, initial) {
    var self = this;
    servers.forEach(function (s) {
      var lane = s.server_id;
      var since = s.offset_since ? ms(s.offset_since) : null;
      var drift = s.drift_ppm || 0;
      // offset_seconds is read "now"; the offset at `since` is what was set then.
      var base = since === null ? s.offset_seconds : s.offset_seconds - drift * 1e-6 * ((ms(s.current_time) - s.offset_seconds * 1000) - since) / 1000;
      var from = since === null ? -Infinity : since;
      var before = self.clockState.get(lane);
      self.clockSegment(lane, { from: from, offset: base, drift: drift });
      self.clockState.set(lane, { since: since, offset: base, drift: drift });
      if (since === null || (before && before.since === since)) return;
      var synced = s.last_sync && s.ntp_synced && ms(s.last_sync) === since;
      // A change heard live is drawn even when it set 0 (a clear); on load, only what moved a clock.
      var changed = initial ? Math.abs(base) > 1e-9 || drift !== 0 : !before || Math.abs(before.offset - base) > 1e-9 || before.drift !== drift;
      if (synced) {
        var step = s.last_sync_offset_seconds || 0;
        self.add({ key: "sync" + lane + since, kind: "sync", lane: lane, at: since, label: "NTP " + signed(step) + " s" });
      } else if (changed) {
        var zero = Math.abs(base) < 1e-9 && !drift;
        // A reset puts every clock back on true time: its line across the lanes says so.
        if (zero && self._resetNear(since)) return;
        var text = zero ? "0" : signed(base, Math.abs(base) >= 1 ? 1 : 3) + " s" + (drift ? " " + signed(drift, 0) + " ppm" : "");
        self.add({ key: "offset" + lane + since, kind: "offset", lane: lane, at: since, label: text });
      }
    });
    this.dirty = true;
  };

  Timeline.prototype._resetNear = function (t) {
    var near = false;
    this.records.forEach(function (r) { if (r.kind === "reset" && Math.abs(r.at - t) < 1000) near = true; });
    return near;
  };

  /* Conflicts in the API's shape (/api/reservations/conflicts): links, holder, truly first and,
     for each blind write, the reservations its node could not see (hidden_ids). */
  Timeline.prototype.setConflicts = function (conflicts) {
    var self = this;
    var live = new Set();
    conflicts.forEach(function (c) {
      live.add(c.seat_id);
      c.reservations.forEach(function (r) { self.addReservation(r, true); });
      self.conflicts.set(c.seat_id, {
        seatId: c.seat_id,
        ids: c.reservations.map(function (r) { return r.id; }),
        winnerId: c.winner_id,
        trueFirstId: c.true_first_id,
        fair: c.fair,
        blind: c.reservations.filter(function (r) { return r.hidden_ids && r.hidden_ids.length; })
          .map(function (r) { return { writerId: r.id, hiddenIds: r.hidden_ids }; }),
        resolved: false,
      });
    });
    this.conflicts.forEach(function (c, seatId) { if (!live.has(seatId)) c.resolved = true; });
    this.dirty = true;
  };

  /* ---- time window ------------------------------------------------------------------------ */

  Timeline.prototype.cursorTime = function () {
    var now = this.now();
    if (this.mode === "replay" && this.replay) {
      var t = this.replay.from + (performance.now() - this.replay.perf) * this.replay.speed;
      if (t >= now) { this.live(); return now; }
      return t;
    }
    if (this.mode === "paused" && this.cursor !== null) return this.cursor;
    return now;
  };

  Timeline.prototype.earliest = function () {
    var first = Infinity;
    this.records.forEach(function (r) { if (r.at < first) first = r.at; });
    return Math.min(first, this.loadedAt || Infinity);
  };

  Timeline.prototype.live = function () {
    this.span = this.userSpan;
    this.mode = "live";
    this.cursor = null;
    this.replay = null;
    this.focusSeat = null;
    this.focusHoldId = null;
    this.dirty = true;
    if (this.onmode) this.onmode(this.mode);
  };

  Timeline.prototype.pauseAt = function (t) {
    this.mode = "paused";
    this.cursor = Math.min(t, this.now());
    this.replay = null;
    this.dirty = true;
    if (this.onmode) this.onmode(this.mode);
  };

  /* Replay from `secondsBack` ago up to now at `speed`× (then live again). */
  Timeline.prototype.replayFrom = function (secondsBack, speed) {
    this.mode = "replay";
    this.replay = { from: this.now() - secondsBack * 1000, perf: performance.now(), speed: speed || 4 };
    this.focusSeat = null;
    this.dirty = true;
    if (this.onmode) this.onmode(this.mode);
  };

  /* Stop on a conflict: the window centred on its bookings, the conflict emphasised. */
  Timeline.prototype.focusConflict = function (seatId) {
    var c = this.conflicts.get(seatId);
    if (!c) return false;
    var self = this;
    var times = [];
    c.ids.forEach(function (id) {
      var r = self.records.get("r" + id);
      if (r) times.push(r.at, r.stamp);
    });
    if (!times.length) return false;
    var lo = Math.min.apply(null, times), hi = Math.max.apply(null, times);
    // The conflict fills about half the window, a little right of the middle.
    this.span = Math.min(600, Math.max(12, Math.ceil((hi - lo) / 1000 / 0.5)));
    this.focusSeat = seatId;
    this.pauseAt(hi + (this.span * 1000 - (hi - lo)) * 0.3);
    return true;
  };

  /* ---- drawing ------------------------------------------------------------------------------ */

  Timeline.prototype.render = function () {
    this.dirty = false;
    var self = this;
    var W = this.width, H = this.height;
    var lanes = this.lanes;
    if (!lanes.length) return;
    var cursor = this.cursorTime();
    var spanMs = this.span * 1000;
    // Room on the right for stamps in the future of true time (nodes whose clock runs ahead).
    var ahead = 0;
    lanes.forEach(function (lane) {
      var o = self.offsetAt(lane, cursor);
      if (o !== null && o > ahead) ahead = o;
    });
    var future = Math.min(spanMs * 0.35, Math.max(spanMs * 0.04, ahead * 1000 + spanMs * 0.04));
    var x = d3.scaleUtc().domain([cursor - spanMs + future, cursor + future]).range([M.left, W - M.right]);
    var laneH = (H - M.top - M.bottom) / lanes.length;
    var y = function (lane) { return M.top + laneH * (lanes.indexOf(lane) + 0.5); };
    var half = Math.min(14, laneH * 0.36);
    var t0 = x.domain()[0], t1 = x.domain()[1];
    this.x = x;

    this.svg.select("#tl-clip rect").attr("x", M.left).attr("y", 0).attr("width", Math.max(0, W - M.left - M.right)).attr("height", H);
    this.svg.attr("data-lanes", lanes.join(" ")).attr("data-mode", this.mode);

    // Lanes: background band, centre line, name and current offset.
    this.gLanes.selectAll("rect").data(lanes, String).join("rect")
      .attr("class", function (d, i) { return "tl-lane-bg" + (i % 2 ? " tl-lane-bg--odd" : ""); })
      .attr("x", 0).attr("width", W).attr("y", function (d) { return y(d) - laneH / 2; }).attr("height", laneH);
    this.gLanes.selectAll("line").data(lanes, String).join("line")
      .attr("class", "tl-lane-line").attr("x1", M.left).attr("x2", W - M.right)
      .attr("y1", y).attr("y2", y);
    var labels = this.gLabels.selectAll("g.tl-lane-label").data(lanes, String).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-lane-label");
      g.append("text").attr("class", "tl-lane-name").attr("x", 8);
      g.append("text").attr("class", "tl-lane-offset").attr("x", 8);
      return g;
    });
    labels.attr("data-lane", String);
    var stacked = Boolean(M.stacked);
    labels.select(".tl-lane-name").attr("x", 4).attr("y", function (d) { return y(d) + (stacked ? -2 : 5); }).text(String);
    labels.select(".tl-lane-offset")
      .attr("y", function (d) { return y(d) + (stacked ? 12 : 4); })
      .attr("x", stacked ? 4 : M.left - 8).attr("text-anchor", stacked ? "start" : "end")
      .attr("data-sign", function (d) { var o = self.offsetAt(d, cursor); return o === null || Math.abs(o) < 0.0005 ? "zero" : o < 0 ? "lag" : "ahead"; })
      .text(function (d) { var o = self.offsetAt(d, cursor); return o === null ? "?" : signed(o) + " s"; });

    // Axis: true time.
    var ticks = Math.max(2, Math.floor((W - M.left - M.right) / 110));
    this.axisName.attr("x", 4).attr("y", H - 6);
    this.gAxis.attr("transform", "translate(0," + (H - M.bottom) + ")")
      .call(d3.axisBottom(x).ticks(ticks).tickFormat(d3.utcFormat("%H:%M:%S")).tickSizeOuter(0));
    // A tick label cut by the right edge says nothing: hide it.
    this.gAxis.selectAll(".tick text").style("display", function (d) { return x(d) > W - M.right - 26 ? "none" : null; });
    this.gGrid.selectAll("line").data(x.ticks(ticks), function (d) { return +d; }).join("line")
      .attr("x1", x).attr("x2", x).attr("y1", M.top - 6).attr("y2", H - M.bottom);

    // Which records exist at the cursor (a replay reveals them as it passes).
    var visible = [];
    this.records.forEach(function (r) {
      if (r.at > cursor) return;
      var end = r.until !== null && r.until !== undefined ? Math.min(r.until, cursor) : cursor;
      var lo = Math.min(r.at, r.stamp === undefined ? r.at : r.stamp);
      var hi = Math.max(r.at, r.stamp === undefined ? r.at : r.stamp, r.kind === "reservation" ? end : r.kind === "hold" ? Math.min(cursor, self._holdEnd(r) + 30000) : r.at);
      if (hi < t0 - 1000 || lo > t1 + 1000) return;
      if (r.lane !== null && lanes.indexOf(r.lane) < 0) return;
      visible.push(r);
    });
    var reservations = visible.filter(function (r) { return r.kind === "reservation"; });
    var holdRecords = visible.filter(function (r) { return r.kind === "hold"; });
    var markers = visible.filter(function (r) { return KINDS[r.kind] && KINDS[r.kind].layer === "markers"; });
    var globals = visible.filter(function (r) { return KINDS[r.kind] && KINDS[r.kind].layer === "globals"; });
    var byId = new Map();
    this.records.forEach(function (r) { if (r.kind === "reservation") byId.set(r.id, r); });

    // Each node's clock at the cursor: its hand, and the blind window of a lagging node.
    var hands = lanes.map(function (lane) { return { lane: lane, offset: self.offsetAt(lane, cursor) }; })
      .filter(function (h) { return h.offset !== null && Math.abs(h.offset) * 1000 >= spanMs / 2000; });
    var nowBands = this.gBlind.selectAll("g.tl-now-band").data(hands, function (d) { return d.lane; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-now-band");
      g.append("rect");
      g.append("line").attr("class", "tl-hand");
      g.append("text").attr("class", "tl-blind-label");
      return g;
    });
    nowBands.attr("data-lane", function (d) { return d.lane; }).attr("data-offset", function (d) { return d.offset.toFixed(3); });
    nowBands.select("rect")
      .attr("class", function (d) { return d.offset < 0 ? "tl-blind-now" : "tl-ahead-now"; })
      .attr("data-lane", function (d) { return d.lane; })
      .attr("x", function (d) { return x(Math.min(cursor, cursor + d.offset * 1000)); })
      .attr("width", function (d) { return Math.abs(x(cursor + d.offset * 1000) - x(cursor)); })
      .attr("y", function (d) { return y(d.lane) - half; }).attr("height", half * 2);
    nowBands.select("line")
      .attr("class", function (d) { return "tl-hand" + (d.offset > 0 ? " tl-hand--ahead" : ""); })
      .attr("x1", function (d) { return x(cursor + d.offset * 1000); }).attr("x2", function (d) { return x(cursor + d.offset * 1000); })
      .attr("y1", function (d) { return y(d.lane) - half - 2; }).attr("y2", function (d) { return y(d.lane) + half + 2; });
    nowBands.select("text")
      .attr("x", function (d) { return (x(cursor + d.offset * 1000) + x(cursor)) / 2; })
      .attr("y", function (d) { return y(d.lane) + 4; })
      .attr("text-anchor", "middle")
      .style("fill", function (d) { return d.offset > 0 ? "var(--warn)" : null; })
      .text(function (d) {
        var w = Math.abs(x(cursor + d.offset * 1000) - x(cursor));
        if (w < 52) return "";
        return d.offset < 0 ? fmt(_("blind %(s)s s"), { s: Math.abs(d.offset).toFixed(1) }) : fmt(_("ahead %(s)s s"), { s: d.offset.toFixed(1) });
      });

    // Conflicts: the blind write's window then (its reading .. its true instant), its horizon.
    var blinds = [];
    this.conflicts.forEach(function (c) {
      c.blind.forEach(function (b) {
        var w = byId.get(b.writerId);
        if (!w || w.at > cursor) return;
        var hidden = b.hiddenIds.map(function (id) { return byId.get(id); }).filter(Boolean);
        blinds.push({ key: c.seatId + ":" + b.writerId, conflict: c, writer: w, hidden: hidden });
      });
    });
    var blindG = this.gBlind.selectAll("g.tl-blind-write").data(blinds, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-blind-write");
      g.append("rect").attr("class", "tl-blind");
      g.append("line").attr("class", "tl-horizon");
      g.append("text").attr("class", "tl-blind-label");
      return g;
    });
    blindG.attr("data-writer-id", function (d) { return d.writer.id; }).attr("data-seat-id", function (d) { return d.conflict.seatId; })
      .attr("opacity", function (d) { return d.conflict.resolved ? 0.35 : 1; });
    blindG.select("rect")
      .attr("x", function (d) { return x(Math.min(d.writer.stamp, d.writer.at)); })
      .attr("width", function (d) { return Math.abs(x(d.writer.at) - x(d.writer.stamp)); })
      .attr("y", function (d) { return y(d.writer.lane) - half; }).attr("height", half * 2);
    blindG.select("text")
      .attr("x", function (d) { return Math.max(M.left, x(Math.min(d.writer.stamp, d.writer.at))) + 6; })
      .attr("y", function (d) { return y(d.writer.lane) - 5; })
      .text(function (d) {
        // Words only where they can be read: a few conflicts at a time, or the one in focus.
        if (blinds.length > 2 && d.conflict.seatId !== self.focusSeat) return "";
        // Room left of the writer's own label (about 190 px by its dot); ~7 px a character.
        var room = Math.abs(x(d.writer.at) - x(d.writer.stamp)) - 200;
        var values = { node: d.writer.lane, time: clockText(d.writer.stamp) };
        var long = fmt(_("%(node)s read %(time)s: every later stamp was invisible to it"), values);
        var short = fmt(_("%(node)s read %(time)s"), values);
        return long.length * 7 <= room ? long : short.length * 7 <= room ? short : "";
      });
    blindG.select("line")
      .attr("x1", function (d) { return x(d.writer.stamp); }).attr("x2", function (d) { return x(d.writer.stamp); })
      .attr("y1", function (d) {
        var ys = [y(d.writer.lane)].concat(d.hidden.map(function (h) { return y(h.lane); }));
        return Math.min.apply(null, ys) - half - 4;
      })
      .attr("y2", function (d) {
        var ys = [y(d.writer.lane)].concat(d.hidden.map(function (h) { return y(h.lane); }));
        return Math.max.apply(null, ys) + half + 4;
      });

    // An ended booking's life on its lane (true time): from its instant to its cancellation.
    var ended = reservations.filter(function (d) { return d.until !== null && d.until !== undefined; });
    this.gLife.selectAll("line").data(ended, function (d) { return d.key; }).join("line")
      .attr("class", "tl-life")
      .attr("x1", function (d) { return x(d.at); })
      .attr("x2", function (d) { return x(d.until !== null && d.until !== undefined ? Math.min(d.until, cursor) : cursor); })
      .attr("y1", function (d) { return y(d.lane) + half * 0.75; }).attr("y2", function (d) { return y(d.lane) + half * 0.75; })
      .style("opacity", 0.5);

    // Links between the bookings of each conflict.
    var links = [];
    this.conflicts.forEach(function (c) {
      var rs = c.ids.map(function (id) { return byId.get(id); }).filter(function (r) { return r && r.at <= cursor; });
      if (rs.length < 2) return;
      rs.sort(function (a, b) { return a.at - b.at; });
      for (var i = 1; i < rs.length; i++) links.push({ key: c.seatId + ":" + rs[i].id, conflict: c, a: rs[i - 1], b: rs[i] });
    });
    // The arc rises above the higher of the two bookings, but never above the plot.
    var apex = function (d) {
      var top = Math.min(y(d.a.lane), y(d.b.lane));
      var lift = Math.max(16, Math.min(60, Math.abs(x(d.b.at) - x(d.a.at)) * 0.4 + 12));
      return Math.max(2, top - lift);
    };
    var linkPath = function (d) {
      var x1 = x(d.a.at), y1 = y(d.a.lane), x2 = x(d.b.at), y2 = y(d.b.lane);
      var cy = apex(d) * 4 / 3 - Math.min(y1, y2) / 3; // a cubic's apex sits 3/4 of the way to its controls
      return "M" + x1 + "," + y1 + " C" + x1 + "," + cy + " " + x2 + "," + cy + " " + x2 + "," + y2;
    };
    var linkG = this.gLinks.selectAll("g.tl-link-g").data(links, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-link-g");
      g.append("path").attr("class", "tl-link");
      g.append("text").attr("class", "tl-link-label").attr("text-anchor", "middle");
      return g;
    });
    linkG.classed("tl-focus", function (d) { return d.conflict.seatId === self.focusSeat; });
    linkG.select("path").attr("d", linkPath)
      .attr("data-seat-id", function (d) { return d.conflict.seatId; })
      .attr("data-fair", function (d) { return String(d.conflict.fair); })
      .attr("data-resolved", function (d) { return String(d.conflict.resolved); })
      .attr("data-winner-id", function (d) { return d.conflict.winnerId; })
      .attr("data-true-first-id", function (d) { return d.conflict.trueFirstId; });
    linkG.select("text")
      .attr("data-fair", function (d) { return String(d.conflict.fair); })
      .attr("x", function (d) { return (x(d.a.at) + x(d.b.at)) / 2; })
      .attr("y", function (d) { return Math.max(11, apex(d) - 3); })
      .text(function (d) {
        if (links.length > 4 && d.conflict.seatId !== self.focusSeat) return "";
        var seat = self.seatLabel(d.conflict.seatId);
        return d.conflict.fair ? fmt(_("%(seat)s ✓ fair"), { seat: seat }) : fmt(_("%(seat)s ✗ unfair"), { seat: seat });
      });

    this._renderHolds(holdRecords, x, y, half, cursor);

    // Bookings: the dot (true instant), the tick (node stamp), the dashed gap, labels.
    // Under load (the load generator, a rush) names and roles would write over each other:
    // beyond a dozen bookings in the window only seat labels remain, beyond 40 none (the
    // conflict in focus keeps its words).
    var crowded = reservations.length > 12;
    var roles = new Map(); // reservation id -> "holder" | "first" | "both"
    this.conflicts.forEach(function (c) {
      if (c.resolved) return;
      roles.set(c.winnerId, c.winnerId === c.trueFirstId ? "both" : "holder");
      if (c.trueFirstId !== c.winnerId) roles.set(c.trueFirstId, "first");
    });
    var res = this.gRes.selectAll("g.tl-res").data(reservations, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-res");
      g.append("line").attr("class", "tl-gap");
      g.append("line").attr("class", "tl-tick");
      g.append("circle").attr("class", "tl-holder-ring").attr("r", 0);
      g.append("circle").attr("class", "tl-dot");
      var label = g.append("text").attr("class", "tl-res-label").attr("text-anchor", "middle");
      label.append("tspan").attr("class", "tl-res-name");
      label.append("tspan").attr("class", "tl-badge");
      return g;
    });
    res.attr("data-id", function (d) { return d.id; }).attr("data-lane", function (d) { return d.lane; })
      .attr("data-seat-id", function (d) { return d.seatId; })
      .attr("data-state", function (d) { return d.state === "active" && d.conflict ? "conflict" : d.state; });
    res.select(".tl-gap").attr("x1", function (d) { return x(d.at); }).attr("x2", function (d) { return x(d.stamp); })
      .attr("y1", function (d) { return y(d.lane); }).attr("y2", function (d) { return y(d.lane); });
    res.select(".tl-tick").attr("x1", function (d) { return x(d.stamp); }).attr("x2", function (d) { return x(d.stamp); })
      .attr("y1", function (d) { return y(d.lane) - half * 0.8; }).attr("y2", function (d) { return y(d.lane) + half * 0.8; });
    res.select(".tl-dot").attr("cx", function (d) { return x(d.at); }).attr("cy", function (d) { return y(d.lane); })
      .attr("r", Math.max(3.5, Math.min(7, half * 0.5)));
    res.select(".tl-holder-ring").attr("cx", function (d) { return x(d.at); }).attr("cy", function (d) { return y(d.lane); })
      .attr("r", function (d) { var role = roles.get(d.id); return role === "holder" || role === "both" ? Math.max(6, Math.min(11, half * 0.8)) : 0; });
    // A booking's label sits just above its lane, left of its dot (right of it near the left
    // edge): two bookings close in time on neighbouring lanes then never write over each other.
    var leftRoom = function (d) { return x(d.at) - M.left > 150; };
    res.select(".tl-res-label")
      .attr("x", function (d) { return leftRoom(d) ? x(d.at) - 10 : x(d.at) + 10; })
      .attr("text-anchor", function (d) { return leftRoom(d) ? "end" : "start"; })
      .attr("y", function (d) { return y(d.lane) - 5; });
    var focused = function (d) { return self.focusSeat !== null && d.seatId === self.focusSeat; };
    res.select(".tl-res-name").text(function (d) {
      if (reservations.length > 40 && !focused(d)) return "";
      var seat = self.seatLabel(d.seatId);
      return crowded && !focused(d) ? seat : seat + " " + String(d.name).slice(0, 14);
    });
    res.select(".tl-badge")
      .attr("class", function (d) { return "tl-badge tl-badge--" + (roles.get(d.id) === "first" ? "first" : "holder"); })
      .text(function (d) {
        var role = roles.get(d.id);
        if (crowded && !focused(d)) return "";
        if (role === "holder") return " · " + _("holder");
        if (role === "first") return " · " + _("truly 1st");
        if (role === "both") return " · " + _("holder, truly 1st");
        return "";
      });

    // Node markers: syncs and offset changes.
    var mk = this.gMarkers.selectAll("g.tl-marker").data(markers, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-marker");
      g.append("text").attr("class", "tl-marker-sym").attr("text-anchor", "middle");
      g.append("text").attr("class", "tl-marker-label");
      return g;
    });
    mk.attr("data-kind", function (d) { return d.kind; }).attr("data-lane", function (d) { return d.lane; });
    mk.select(".tl-marker-sym").attr("x", function (d) { return x(d.at); }).attr("y", function (d) { return y(d.lane) + 5; })
      .style("font-size", Math.max(12, Math.min(18, half * 1.2)) + "px")
      .text(function (d) { return KINDS[d.kind].symbol; });
    // Under the lane line: the bookings' labels are above it.
    mk.select(".tl-marker-label").attr("x", function (d) { return x(d.at) + 8; }).attr("y", function (d) { return y(d.lane) + Math.min(13, half + 3); })
      .text(function (d) { return d.label; });

    // Cluster-wide events: resets, mode switches.
    var gl = this.gGlobals.selectAll("g.tl-global").data(globals, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-global");
      g.append("line");
      g.append("text");
      return g;
    });
    gl.attr("data-kind", function (d) { return d.kind; });
    gl.select("line").attr("x1", function (d) { return x(d.at); }).attr("x2", function (d) { return x(d.at); }).attr("y1", M.top - 4).attr("y2", H - M.bottom);
    gl.select("text").attr("x", function (d) { return x(d.at) + 4; }).attr("y", M.top - 5).text(function (d) { return d.label; });

    // The cursor: now (live) or the instant being replayed.
    var nowG = this.gNow.selectAll("g").data([cursor]).join(function (enter) {
      var g = enter.append("g");
      g.append("line").attr("class", "tl-now");
      g.append("text").attr("class", "tl-now-label");
      return g;
    });
    nowG.select("line").attr("x1", x(cursor)).attr("x2", x(cursor)).attr("y1", M.top - 8).attr("y2", H - M.bottom);
    nowG.select("text").attr("x", x(cursor) - 4).attr("y", H - M.bottom - 4).attr("text-anchor", "end")
      .text(this.mode === "live" ? _("now") : clockText(cursor));
    this._declutter();
  };

  /* Holds: the bar on their node's lane (true time, to their expiry on that node's clock), the
     part still to come dashed; then the checker's stolen and zombie holds, linked to their
     witness (the sale, the refusal). */
  Timeline.prototype._renderHolds = function (records, x, y, half, cursor) {
    var self = this;
    var barH = Math.max(5, half * 0.7);
    var hg = this.gHolds.selectAll("g.tl-hold").data(records, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-hold");
      g.append("line").attr("class", "tl-hold-gap");
      g.append("rect").attr("class", "tl-hold-plan");
      g.append("rect").attr("class", "tl-hold-bar");
      g.append("line").attr("class", "tl-hold-tick");
      g.append("text").attr("class", "tl-hold-label");
      return g;
    });
    hg.attr("data-hold-id", function (d) { return d.id; }).attr("data-lane", function (d) { return d.lane; })
      .attr("data-seat-id", function (d) { return d.seatId; }).attr("data-state", function (d) { return d.state; })
      .classed("tl-focus", function (d) { return d.id === self.focusHoldId; });
    hg.select(".tl-hold-bar")
      .attr("x", function (d) { return x(d.at); })
      .attr("width", function (d) { return Math.max(1, x(Math.min(self._holdEnd(d), cursor)) - x(d.at)); })
      .attr("y", function (d) { return y(d.lane) - barH / 2; }).attr("height", barH);
    hg.select(".tl-hold-plan")
      .attr("x", function (d) { return x(Math.min(self._holdEnd(d), cursor)); })
      .attr("width", function (d) { return Math.max(0, x(self._holdEnd(d)) - x(Math.min(self._holdEnd(d), cursor))); })
      .attr("y", function (d) { return y(d.lane) - barH / 2; }).attr("height", barH);
    hg.select(".tl-hold-tick").attr("x1", function (d) { return x(d.stamp); }).attr("x2", function (d) { return x(d.stamp); })
      .attr("y1", function (d) { return y(d.lane) - half * 0.8; }).attr("y2", function (d) { return y(d.lane) + half * 0.8; });
    hg.select(".tl-hold-gap").attr("x1", function (d) { return x(d.at); }).attr("x2", function (d) { return x(d.stamp); })
      .attr("y1", function (d) { return y(d.lane); }).attr("y2", function (d) { return y(d.lane); });
    hg.select(".tl-hold-label")
      .attr("x", function (d) { return Math.max(M.left + 2, x(d.at)) + 4; })
      .attr("y", function (d) { return y(d.lane) + barH / 2 + 11; })
      .text(function (d) {
        var seat = self.seatLabel(d.seatId);
        return "◷ " + seat + (d.name ? " " + String(d.name).slice(0, 14) : "") + (d.state === "confirmed" ? " ✓" : "");
      });

    // The checker's anomalies whose witness the cursor has passed.
    var items = [];
    this.holdAnomalies.forEach(function (a) {
      var hold = self.records.get("h" + a.hold_id);
      var at = ms(a.witness.completed_at);
      if (!hold || at > cursor || self.lanes.indexOf(a.witness.node) < 0) return;
      var offset = (ms(a.witness.node_time) - at) / 1000; // the deciding node's clock, exactly then
      var judged = hold.expStamp - offset * 1000; // where that node judged the hold expired
      var sale = a.reservation_id ? self.records.get("r" + a.reservation_id) : null;
      items.push({ key: a.kind + ":" + a.hold_id + ":" + a.witness.id, a: a, hold: hold, at: sale ? sale.at : at, lane: a.witness.node,
        from: a.kind === "stolen_hold" ? judged : hold.trueEnd, to: a.kind === "stolen_hold" ? hold.trueEnd : judged });
    });
    var ag = this.gHolds.selectAll("g.tl-hold-anomaly").data(items, function (d) { return d.key; }).join(function (enter) {
      var g = enter.append("g").attr("class", "tl-hold-anomaly");
      g.append("rect").attr("class", "tl-hold-window");
      g.append("path").attr("class", "tl-hold-link");
      g.append("text").attr("class", "tl-refusal-sym").attr("text-anchor", "middle");
      g.append("text").attr("class", "tl-hold-link-label");
      return g;
    });
    ag.attr("data-kind", function (d) { return d.a.kind; }).attr("data-hold-id", function (d) { return d.a.hold_id; })
      .attr("data-lane", function (d) { return d.lane; })
      .attr("data-reservation-id", function (d) { return d.a.reservation_id === null ? null : d.a.reservation_id; })
      .classed("tl-focus", function (d) { return d.a.hold_id === self.focusHoldId; });
    ag.select(".tl-hold-window")
      .attr("x", function (d) { return x(Math.min(d.from, d.to)); })
      .attr("width", function (d) { return Math.abs(x(d.to) - x(d.from)); })
      .attr("y", function (d) { return y(d.lane) - half; }).attr("height", half * 2);
    // From the hold (at the witness's instant for a theft, at its true end for a zombie) to the witness.
    ag.select(".tl-hold-link").attr("d", function (d) {
      var x1 = x(d.a.kind === "stolen_hold" ? d.at : d.hold.trueEnd), y1 = y(d.hold.lane);
      var x2 = x(d.at), y2 = y(d.lane);
      var bend = Math.max(26, Math.abs(y2 - y1) * 0.8);
      return "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 + bend) + "," + y2 + " " + x2 + "," + y2;
    });
    ag.select(".tl-refusal-sym")
      .attr("x", function (d) { return x(d.at); }).attr("y", function (d) { return y(d.lane) + 5; })
      .text(function (d) { return d.a.kind === "zombie_hold" ? "✗" : ""; });
    ag.select(".tl-hold-link-label")
      .attr("x", function (d) { return x(d.at) + Math.max(26, Math.abs(y(d.lane) - y(d.hold.lane)) * 0.8) * 0.75 + 4; })
      .attr("y", function (d) { return (y(d.lane) + y(d.hold.lane)) / 2 + 4; })
      .text(function (d) {
        return d.a.kind === "stolen_hold"
          ? fmt(_("stolen hold: %(node)s sold %(seat)s"), { node: d.lane, seat: self.seatLabel(d.a.seat_id) })
          : fmt(_("zombie hold: %(node)s refused (SEAT_HELD)"), { node: d.lane });
      });
  };

  /* Texts by priority: each keeps its place if it is free, else moves up or down by its own
     height (once, then twice), else is hidden — never drawn over a text already placed. */
  var DECLUTTER = [".tl-now-label", ".tl-link-label", ".tl-hold-link-label", ".tl-res-label", ".tl-marker-sym",
    ".tl-refusal-sym", ".tl-hold-label", ".tl-blind-label", ".tl-marker-label", ".tl-global text"];
  var NUDGES = [0, -1, 1, -2, 2];
  Timeline.prototype._declutter = function () {
    var placed = [];
    var root = this.svg.node();
    var H = this.height;
    function free(b) {
      return !placed.some(function (p) {
        return b.x < p.x + p.width && p.x < b.x + b.width && b.y < p.y + p.height && p.y < b.y + b.height;
      });
    }
    DECLUTTER.forEach(function (selector) {
      root.querySelectorAll(selector).forEach(function (t) {
        t.style.display = "";
        t.removeAttribute("data-hidden");
        t.removeAttribute("transform");
        if (!t.textContent) return;
        var b = t.getBBox();
        if (!b.width) return;
        for (var i = 0; i < NUDGES.length; i++) {
          var dy = NUDGES[i] * (b.height + 1);
          var box = { x: b.x, y: b.y + dy, width: b.width, height: b.height };
          if (box.y < 0 || box.y + box.height > H) continue;
          if (free(box)) {
            if (dy) t.setAttribute("transform", "translate(0," + dy + ")");
            placed.push(box);
            return;
          }
        }
        t.style.display = "none";
        t.setAttribute("data-hidden", "overlap");
      });
    });
  };


  window.SeatclockTimeline = { create: function (container, options) { return new Timeline(container, options); }, ms: ms };
})();
