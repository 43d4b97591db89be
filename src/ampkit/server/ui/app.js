// ampkit event inspector (/_ampkit/ui): plain JavaScript, no build step, no library.
// It reads the public admin API beside it (/_ampkit/events, /events/counts, /stats, /faults,
// /bad-events) with the browser's Basic credentials for the project. Every value that comes
// from the server is written as text (textContent, attributes), never parsed as HTML.
"use strict";

(() => {
  const FILTERS = ["event_type", "user_id", "device_id", "insert_id", "since", "until",
                   "time_field"];
  const DEFAULTS = { time_field: "server_received_time", interval: "minute" };
  const FIRST_PAGE = 200;   // events shown when a view opens, newest first
  const MAX_ROWS = 500;     // the table keeps the newest this many
  const POLL_MS = 1000;     // between polls; ?refresh=<seconds> (0.2 to 60) changes it
  const SIDE_EVERY = 3;     // the side panels and the chart refresh every third poll
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    events: [], cursor: "0", live: true, selected: null, generation: 0, loading: false,
    timer: null, busy: false, ticks: 0, pollMs: POLL_MS,
  };
  const rowEvent = new WeakMap();

  const $ = (id) => document.getElementById(id);
  const form = () => $("filters");

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  // --- the view's state lives in the URL ------------------------------------------------
  function setSelect(select, value, fallback) {
    const known = Array.from(select.options).some((o) => o.value === value);
    select.value = known ? value : fallback;
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    for (const name of FILTERS) {
      const input = form().elements[name];
      if (input.tagName === "SELECT") setSelect(input, params.get(name), DEFAULTS[name]);
      else input.value = params.get(name) || "";
    }
    setSelect($("interval"), params.get("interval"), DEFAULTS.interval);
    state.live = params.get("live") !== "0";
    const refresh = Number(params.get("refresh")) * 1000;
    if (refresh) state.pollMs = Math.min(Math.max(refresh, 200), 60000);
  }

  function filters() {
    const out = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form().elements[name].value.trim();
      if (value && value !== DEFAULTS[name]) out.set(name, value);
    }
    return out;
  }

  function writeUrl() {
    const params = filters();
    if ($("interval").value !== DEFAULTS.interval) params.set("interval", $("interval").value);
    if (!state.live) params.set("live", "0");
    if (state.pollMs !== POLL_MS) params.set("refresh", String(state.pollMs / 1000));
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  }

  // --- the API ---------------------------------------------------------------------------
  async function getJson(path, params) {
    const query = params ? params.toString() : "";
    const response = await fetch(path + (query ? "?" + query : ""), {
      headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    return { status: response.status, body, headers: response.headers };
  }

  function problem(answer) {
    if (answer.status === 401) return "Not signed in: use the project's api_key and secret_key.";
    const error = answer.body && answer.body.error;
    if (error && typeof error === "object") {
      return (error.metadata && error.metadata.details) || error.message || "HTTP " + answer.status;
    }
    return typeof error === "string" ? error : "HTTP " + answer.status;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function showStatus(message) {
    $("status").textContent = message;
  }

  // --- events ----------------------------------------------------------------------------
  const when = (value) => (value ? String(value).slice(0, 23) : "");

  function brief(value, limit) {
    const text = value === undefined || value === null ? "" : JSON.stringify(value);
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
  }

  function eventRow(event) {
    const props = brief(event.event_properties, 120);
    const cells = [when(event.server_received_time), when(event.event_time), event.event_type,
                   event.user_id, event.device_id, event.$insert_id, props];
    const row = el("tr");
    for (const value of cells) {
      const cell = el("td", value);
      if (value) cell.title = String(value);
      row.append(cell);
    }
    row.tabIndex = 0;
    if (state.selected && state.selected === event.uuid) row.classList.add("selected");
    rowEvent.set(row, event);
    return row;
  }

  function renderRows() {
    $("rows").replaceChildren(...state.events.map(eventRow));
    $("empty").hidden = state.events.length > 0;
    const shown = `${state.events.length} event${state.events.length === 1 ? "" : "s"} shown`;
    showStatus(`${state.live ? "live" : "paused"} · ${shown}`);
  }

  function select(value, what, key) {
    state.selected = key;
    $("json").textContent = JSON.stringify(value, null, 2);
    $("selected-what").textContent = what;
    for (const row of $("rows").children) {
      const event = rowEvent.get(row);
      row.classList.toggle("selected", Boolean(event && key && event.uuid === key));
    }
  }

  function onRowClick(e) {
    const row = e.target.closest("tr");
    const event = row && rowEvent.get(row);
    if (event) select(event, event.event_type, event.uuid);
  }

  async function loadEvents() {
    const generation = ++state.generation;
    const params = filters();
    params.set("order", "desc");
    params.set("limit", String(FIRST_PAGE));
    state.loading = true;
    let answer;
    try {
      answer = await getJson("events", params);
    } finally {
      if (generation === state.generation) state.loading = false;
    }
    if (generation !== state.generation) return;  // a newer view has started meanwhile
    if (answer.status !== 200) {
      showError(problem(answer));
      state.events = [];
      renderRows();
      return;
    }
    showError(null);
    state.events = answer.body;
    state.cursor = answer.headers.get("Ampkit-Cursor") || "0";  // kept as text: 64-bit
    renderRows();
  }

  async function pollEvents() {
    if (state.loading) return;  // the view's first page is on its way
    const generation = state.generation;
    const params = filters();
    params.set("after_seq", state.cursor);
    params.set("limit", String(MAX_ROWS));
    const answer = await getJson("events", params);
    if (generation !== state.generation || answer.status !== 200) return;
    state.cursor = answer.headers.get("Ampkit-Cursor") || state.cursor;
    const shown = new Set(state.events.map((e) => e.uuid));
    const fresh = answer.body.filter((e) => !shown.has(e.uuid)).reverse();
    if (fresh.length) {
      state.events = fresh.concat(state.events).slice(0, MAX_ROWS);
      renderRows();
    }
  }

  // --- counts over time ------------------------------------------------------------------
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function drawChart(data) {
    const width = Math.max(300, $("chart").clientWidth), height = 120, below = 16, above = 12;
    const buckets = data.buckets;
    const top = buckets.reduce((m, b) => Math.max(m, b.count), 1);
    const step = width / Math.max(1, buckets.length);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
                               "aria-label": `events per ${data.interval}` });
    buckets.forEach((bucket, i) => {
      if (!bucket.count) return;
      const h = (height - below - above) * bucket.count / top;
      const bar = svg("rect", { x: i * step, y: height - below - h, width: Math.max(step - 1, 0.5),
                                height: h, class: "bar" });
      bar.append(svg("title", {}, `${bucket.start}: ${bucket.count}`));
      chart.append(bar);
    });
    chart.append(svg("line", { x1: 0, y1: height - below, x2: width, y2: height - below,
                               class: "axis" }));
    chart.append(svg("text", { x: 0, y: 10, class: "label" }, `${top}`));
    if (buckets.length) {
      chart.append(svg("text", { x: 0, y: height - 3, class: "label" }, buckets[0].start));
      chart.append(svg("text", { x: width, y: height - 3, class: "label end" },
                       buckets[buckets.length - 1].start));
    }
    $("chart").replaceChildren(chart);
    $("chart-total").textContent = `${data.total} in ${buckets.length} ${data.interval}s`;
  }

  async function loadCounts() {
    const params = filters();
    params.set("interval", $("interval").value);
    const answer = await getJson("events/counts", params);
    if (answer.status !== 200) {
      $("chart").replaceChildren(el("p", problem(answer), "error"));
      $("chart-total").textContent = "";
      return;
    }
    drawChart(answer.body);
  }

  // --- side panels -----------------------------------------------------------------------
  function tableRows(body, rows, empty, columns) {
    if (!rows.length) {
      const cell = el("td", empty, "muted");
      cell.colSpan = columns;
      const row = el("tr");
      row.append(cell);
      body.replaceChildren(row);
      return [];
    }
    const out = rows.map((cells) => {
      const row = el("tr");
      for (const value of cells) row.append(el("td", value));
      return row;
    });
    body.replaceChildren(...out);
    return out;
  }

  async function loadBadEvents() {
    const params = new URLSearchParams({ limit: "50" });
    const type = form().elements.event_type.value.trim();
    if (type) params.set("event_type", type);
    const answer = await getJson("bad-events", params);
    const note = $("bad-note");
    if (answer.status !== 200) {
      note.textContent = answer.status === 404
        ? "No tracking plan: the bad-event bucket is not available on this server."
        : problem(answer);
      note.hidden = false;
      $("bad-total").textContent = "";
      tableRows($("bad-rows"), [], "—", 6);
      return;
    }
    note.hidden = true;
    const items = answer.body.bad_events || [];
    $("bad-total").textContent = `${answer.body.total}`;
    const rows = tableRows($("bad-rows"), items.map((b) => [
      when(b.received_at), b.kind, b.event_type || "", b.rule, b.path,
      b.disposition]), "None.", 6);
    rows.forEach((row, i) => {
      row.tabIndex = 0;
      row.addEventListener("click", () => select(items[i], `bad event ${items[i].id}`, null));
    });
  }

  function throttleRows(throttle) {
    const out = [];
    for (const api of ["httpapi", "batch"]) {
      for (const who of (throttle[api] && throttle[api].busiest) || []) {
        out.push([api, who.kind, who.id, who.eps, who.last_24h, who.throttled ? "yes" : "no"]);
      }
    }
    return out;
  }

  async function loadStats() {
    const answer = await getJson("stats");
    if (answer.status !== 200) return;
    const stats = answer.body;
    $("project").textContent = `project ${stats.project_id}`;
    const items = [];
    for (const [name, value] of Object.entries(stats)) {
      if (typeof value === "number" && name !== "project_id") {
        items.push(el("dt", name.replace(/_/g, " ")), el("dd", value));
      }
    }
    $("stats").replaceChildren(...items);
    const silenced = stats.silenced_devices || [];
    $("silenced").textContent = silenced.length ? silenced.join(", ") : "none";
    const throttle = stats.throttle || {};
    $("throttle-limits").textContent = throttle.enabled
      ? `${throttle.httpapi.eps_limit} (HTTP V2) / ${throttle.batch.eps_limit} (batch) events/s ` +
        `per user or device over ${throttle.window_seconds} s, ${throttle.daily_quota} a day`
      : "off";
    tableRows($("throttle-rows"), throttleRows(throttle), "Nobody sent in the last 24 h.", 6);
  }

  async function loadFaults() {
    const answer = await getJson("faults");
    if (answer.status !== 200) return;
    const faults = answer.body;
    const active = Object.values(faults.rates || {}).some((rate) => rate > 0);
    $("faults").textContent = active ? JSON.stringify(faults, null, 2) : "none";
  }

  function refreshSide() {
    return Promise.all([loadStats(), loadFaults(), loadBadEvents(), loadCounts()]);
  }

  // --- live updates ----------------------------------------------------------------------
  function schedule() {
    if (state.live && state.timer === null && !state.busy) {
      state.timer = setTimeout(tick, state.pollMs);
    }
  }

  async function tick() {
    state.timer = null;
    if (!state.live) return;
    state.busy = true;
    try {
      await pollEvents();
      state.ticks += 1;
      if (state.ticks % SIDE_EVERY === 0) await refreshSide();
    } catch (_) {
      showStatus("the server does not answer; trying again");
    } finally {
      state.busy = false;
      schedule();
    }
  }

  function setLive(live) {
    state.live = live;
    $("live").textContent = live ? "Pause" : "Resume";
    if (live) schedule();
    else if (state.timer !== null) {
      clearTimeout(state.timer);
      state.timer = null;
    }
    renderRows();
  }

  async function apply() {
    writeUrl();
    try {
      await Promise.all([loadEvents(), refreshSide()]);
    } catch (_) {
      showStatus("the server does not answer");
    }
  }

  function start() {
    readUrl();
    form().addEventListener("submit", (e) => {
      e.preventDefault();
      apply();
    });
    form().addEventListener("change", apply);
    $("clear").addEventListener("click", () => {
      form().reset();
      apply();
    });
    $("interval").addEventListener("change", () => {
      writeUrl();
      loadCounts();
    });
    $("live").addEventListener("click", () => {
      setLive(!state.live);
      writeUrl();
    });
    $("rows").addEventListener("click", onRowClick);
    $("rows").addEventListener("keydown", (e) => {
      if (e.key === "Enter") onRowClick(e);
    });
    setLive(state.live);
    apply();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
