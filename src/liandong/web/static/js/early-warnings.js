// The early-warning page (早研判): the warnings the space-time scan found, filtered by status and paged; choosing one
// reads it (GET /api/v1/early-warnings/{id}) and draws its evidence on the map — the scan circle with its radius, the
// grids it covers, the reports as dots with their number, kind and time — lists the reports (linking to each case,
// hazard or dispute: a warning's reports are of one source), and offers the decisions the server allows
// (allowed_actions): keep watching, dismiss with a reason, promote to an incident (then linked). Shift leaders and
// administrators run a scan by hand and read its counts. Refusals come in the page language (the server translates
// them by code). The list refreshes every 60 s.

import { channelLabel, el, errorText, getJSON, HttpError, postJSON, stateLabel, t, tipText, when } from "./common.js";
import { category, gradeText } from "./emergency.js";
import { kindText, matterText } from "./ew-kinds.js";

const main = document.querySelector(".early-warnings-page");
const message = document.getElementById("message");
const rows = document.getElementById("rows");
const detail = document.getElementById("detail");
const decision = document.getElementById("decision");
const actionsBox = document.getElementById("actions");
const dismissForm = document.getElementById("dismiss-form");
const promoteForm = document.getElementById("promote-form");
const mapEl = document.getElementById("ew-map");
const PAGE = 20;
const POLL_MS = 60_000;
const COLUMNS = 7;

let offset = 0;
let items = [];
let ticket = 0;
let selected = main.dataset.selected ? Number(main.dataset.selected) : null;
let current = null;  // the chosen warning as last read, with its evidence

for (const o of promoteForm.querySelectorAll("[data-category]")) o.textContent = category(o.value);
for (const o of promoteForm.querySelectorAll("[data-grade]")) o.textContent = gradeText(o.value);

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}
const showError = (err) => say(errorText(err), "error");

const statusText = (s) => t(`ew.status.${s}`);
const pValue = (p) => (p === null || p === undefined ? "—" : p < 0.001 ? p.toExponential(1) : p.toFixed(3));
const number = (x, digits = 1) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));
const radiusText = (m) => (Number(m) > 0 ? t("ew.radius_value", { m: Math.round(m) }) : t("ew.radius_grid"));
const windowText = (w) => `${when(w.window_start)} – ${when(w.window_end)}`;

function statusBadge(status) {
  const b = el("span", `ew-status ew-status-${status}`, statusText(status));
  b.dataset.status = status;
  return b;
}

// --- the map -----------------------------------------------------------------------------------------------

let map = null;
let layers = null;

function ensureMap() {
  if (map || !window.L) return map;
  map = L.map("ew-map", { zoomControl: true, maxZoom: 19 });
  map.attributionControl.setPrefix(false);
  if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
  map.setView([31.11, 121.38], 10);
  layers = L.featureGroup().addTo(map);
  return map;
}

const GRID_STYLE = { color: "#1f6fb5", weight: 1.5, fillColor: "#1f6fb5", fillOpacity: 0.12 };
const CIRCLE_STYLE = { color: "#c0392b", weight: 2, dashArray: "6 4", fill: true, fillColor: "#c0392b", fillOpacity: 0.06 };
const CASE_STYLE = { color: "#8e1b10", weight: 1.5, fillColor: "#e74c3c", fillOpacity: 0.85, radius: 6 };
const HAZARD_STYLE = { color: "#8a4b08", weight: 1.5, fillColor: "#e67e22", fillOpacity: 0.85, radius: 6 };
const DISPUTE_STYLE = { color: "#4a235a", weight: 1.5, fillColor: "#8e44ad", fillOpacity: 0.85, radius: 6 };

// Each source of evidence: its list and hidden count in the warning, its page, its dot, how a row reads.
const SOURCES = {
  case: {
    list: "cases", hidden: "hidden_cases", path: "cases", style: CASE_STYLE,
    heading: () => t("ew.evidence"), number: () => t("ew.case_number"),
    hiddenText: (n) => t("ew.hidden_cases", { n }),
    kind: (c) => c.matter_name, state: (c) => stateLabel(c.state),
    note: (c) => `${t("ew.case_channel")}: ${channelLabel(c.channel)}`,
  },
  hazard: {
    list: "hazards", hidden: "hidden_hazards", path: "hazards", style: HAZARD_STYLE,
    heading: () => t("ew.evidence_hazards"),
    number: () => t("ew.hazard_number"),
    hiddenText: (n) => t("ew.hidden_hazards", { n }),
    kind: (h) => kindText(h.kind), state: (h) => t(`hz.state.${h.state}`), note: (h) => t(`hz.grade.${h.grade}`),
  },
  dispute: {
    list: "disputes", hidden: "hidden_disputes", path: "disputes", style: DISPUTE_STYLE,
    heading: () => t("ew.evidence_disputes"),
    number: () => t("ew.dispute_number"),
    hiddenText: (n) => t("ew.hidden_disputes", { n }),
    kind: (d) => kindText(d.kind), state: (d) => t(`md.state.${d.state}`), note: (d) => t(`md.risk.${d.risk}`),
  },
};
const sourceOf = (w) => SOURCES[w.source] || SOURCES.case;
// A tooltip's content as text: Leaflet reads a string as HTML, and codes, numbers and matter names come from the
// server.
// The evidence rows of every source, each with its source's name and description.
const evidence = (w) => Object.entries(SOURCES)
  .flatMap(([name, spec]) => (w[spec.list] || []).map((r) => ({ name, spec, r })));

function drawEvidence(w) {
  if (!ensureMap()) return;
  layers.clearLayers();
  let grids = 0;
  let circles = 0;
  for (const f of (w.area && w.area.features) || []) {
    const p = f.properties || {};
    if (p.role === "centre") {
      const [lon, lat] = f.geometry.coordinates;
      const metres = Number(p.radius_m) || 0;  // 0: the scan took the centre grid alone; mark its centre
      const circle = metres > 0 ? L.circle([lat, lon], { ...CIRCLE_STYLE, radius: metres })
        : L.circleMarker([lat, lon], { ...CIRCLE_STYLE, radius: 10 });
      circle.bindTooltip(tipText(`${t("ew.centre")} ${p.code} · ${radiusText(metres)}`));
      layers.addLayer(circle);
      circles += 1;
    } else if (f.geometry) {
      const grid = L.geoJSON(f, { style: GRID_STYLE });
      grid.bindTooltip(tipText(`${t("ew.grids")} ${p.code}`));
      layers.addLayer(grid);
      grids += 1;
    }
  }
  const dots = { case: 0, hazard: 0, dispute: 0 };
  for (const { name, spec, r } of evidence(w)) {
    if (r.lon === null || r.lat === null || r.lon === undefined || r.lat === undefined) continue;
    const dot = L.circleMarker([r.lat, r.lon], spec.style);
    dot.bindTooltip(tipText(`${r.number} · ${spec.kind(r)} · ${when(r.created_at)}`));
    dot.on("click", () => window.location.assign(`/${spec.path}/${r.id}`));
    layers.addLayer(dot);
    dots[name] += 1;
  }
  const bounds = layers.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16], maxZoom: 17 });
  mapEl.dataset.warningId = String(w.id);
  mapEl.dataset.grids = String(grids);
  mapEl.dataset.circles = String(circles);
  mapEl.dataset.cases = String(dots.case);
  mapEl.dataset.hazards = String(dots.hazard);
  mapEl.dataset.disputes = String(dots.dispute);
  mapEl.dataset.drawn = String(Date.now());
}

// --- one warning: facts, evidence, decisions ----------------------------------------------------------------

function fact(dl, label, value) {
  const dd = el("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  dl.append(el("dt", "", label), dd);
  return dd;
}

function incidentLink(id) {
  const a = el("a", "incident-link", t("ew.open_incident", { id }));
  a.href = `/incidents/${id}`;
  a.dataset.incidentId = String(id);
  return a;
}

function evidenceTable(w) {
  const table = el("table", "cases-table ew-cases");
  const head = el("tr");
  for (const text of [sourceOf(w).number(), t("ew.matters"), t("ew.case_time"), t("ew.case_state")]) {
    const th = el("th", "", text);
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  body.id = "evidence";
  for (const { name, spec, r } of evidence(w)) {
    const row = el("tr");
    row.dataset[`${name}Id`] = String(r.id);  // data-case-id, data-hazard-id, data-dispute-id
    const a = el("a", "", r.number);
    a.href = `/${spec.path}/${r.id}`;
    const num = el("td");
    num.append(a);
    row.title = spec.note(r);
    row.append(num, el("td", "", spec.kind(r)), el("td", "", when(r.created_at)), el("td", "", spec.state(r)));
    body.append(row);
  }
  table.append(thead, body);
  const wrap = el("div", "table-wrap");
  wrap.append(table);
  return wrap;
}

function showDetail(w) {
  current = w;
  const head = el("h3", "small-head", `#${w.id} ${matterText(w)}`);
  head.append(" ", statusBadge(w.status));
  const dl = el("dl", "facts ew-facts");
  fact(dl, t("ew.observed"), t("ew.observed_value", { observed: w.observed, expected: number(w.expected, 2) }));
  fact(dl, t("ew.rr"), number(w.relative_risk));
  fact(dl, t("ew.p"), pValue(w.p_value));
  fact(dl, t("ew.window"), windowText(w));
  fact(dl, t("ew.radius"), radiusText(w.radius_m));
  fact(dl, t("ew.centre"), w.centre_grid_code);
  fact(dl, t("ew.grids"), w.grid_codes.join("、"));
  fact(dl, t("ew.detected"), when(w.detected_at));
  fact(dl, t("ew.scans"), w.scans);
  if (w.status_at) fact(dl, statusText(w.status), `${when(w.status_at)}${w.status_note ? ` — ${w.status_note}` : ""}`);
  if (w.incident_id) fact(dl, t("ew.incident"), incidentLink(w.incident_id));
  const children = [head, dl, el("h3", "small-head", sourceOf(w).heading()), evidenceTable(w)];
  for (const spec of Object.values(SOURCES)) {
    if (w[spec.hidden]) children.push(el("p", "muted small", spec.hiddenText(w[spec.hidden])));
  }
  detail.replaceChildren(...children);
  detail.dataset.warningId = String(w.id);
  detail.dataset.status = w.status;
  showActions(w);
  drawEvidence(w);
}

function showActions(w) {
  dismissForm.hidden = true;
  promoteForm.hidden = true;
  decision.hidden = false;
  const buttons = (w.allowed_actions || []).map((action) => {
    const b = el("button", `button${action === "promote" ? " primary" : ""}`, t(`ew.action.${action}`));
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", () => begin(action));
    return b;
  });
  actionsBox.replaceChildren(...buttons);
  if (!buttons.length) actionsBox.append(el("p", "muted", w.incident_id ? "" : t("ew.no_actions")));
  if (w.incident_id) actionsBox.append(incidentLink(w.incident_id));
}

function begin(action) {
  say("");
  if (action === "watch") {
    act("watch", {}).catch(showError);
    return;
  }
  dismissForm.hidden = action !== "dismiss";
  promoteForm.hidden = action !== "promote";
  const form = action === "dismiss" ? dismissForm : promoteForm;
  form.querySelector("textarea, input").focus();
}

async function act(action, payload) {
  const w = current;
  let done;
  try {
    done = await postJSON(`/api/v1/early-warnings/${w.id}/actions/${action}`, { version: w.version, ...payload });
  } catch (err) {
    if (err instanceof HttpError && err.status === 409) await choose(w.id, { quiet: true }).catch(() => {});
    throw err;
  }
  say(t(`ew.done.${action}`));
  if (done.incident_id) {
    message.append(" ", incidentLink(done.incident_id));
  }
  showDetail({ ...w, ...done });
  await load();
}

dismissForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const reason = dismissForm.elements.reason.value.trim();
  if (!reason) {
    say(t("ew.reason_required"), "error");
    return;
  }
  act("dismiss", { reason }).then(() => dismissForm.reset()).catch(showError);
});

promoteForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const f = promoteForm.elements;
  const payload = { category: f.category.value, grade: Number(f.grade.value) };
  if (f.title.value.trim()) payload.title = f.title.value.trim();
  if (f.note.value.trim()) payload.note = f.note.value.trim();
  act("promote", payload).then(() => promoteForm.reset()).catch(showError);
});

for (const button of document.querySelectorAll("#decision [data-cancel]")) {
  button.addEventListener("click", () => {
    dismissForm.hidden = true;
    promoteForm.hidden = true;
  });
}

async function choose(id, { quiet = false } = {}) {
  selected = id;
  for (const tr of rows.querySelectorAll("tr[data-warning-id]")) {
    const on = Number(tr.dataset.warningId) === id;
    tr.classList.toggle("selected", on);
    if (on) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }
  const url = new URL(window.location.href);
  url.searchParams.set("id", String(id));
  window.history.replaceState(null, "", url);
  if (!quiet) say("");
  showDetail(await getJSON(`/api/v1/early-warnings/${id}`));
}

// --- the list ------------------------------------------------------------------------------------------------

function row(w) {
  const tr = el("tr", "warning-row");
  tr.dataset.warningId = String(w.id);
  tr.dataset.status = w.status;
  tr.tabIndex = 0;
  if (w.id === selected) {
    tr.classList.add("selected");
    tr.setAttribute("aria-current", "true");
  }
  const matters = el("td");
  matters.append(el("strong", "", matterText(w)));
  tr.append(matters,
    el("td", "", t("ew.observed_value", { observed: w.observed, expected: number(w.expected, 2) })),
    el("td", "", number(w.relative_risk)), el("td", "", pValue(w.p_value)), el("td", "small", windowText(w)),
    el("td", "", radiusText(w.radius_m)));
  const status = el("td");
  status.append(statusBadge(w.status));
  if (w.incident_id) status.append(" ", incidentLink(w.incident_id));
  tr.append(status);
  tr.addEventListener("click", (e) => {
    if (!e.target.closest("a")) choose(w.id).catch(showError);
  });
  tr.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target === tr) {
      e.preventDefault();
      choose(w.id).catch(showError);
    }
  });
  return tr;
}

function query() {
  const params = new URLSearchParams();
  const status = document.getElementById("filters").elements.status.value;
  if (status) params.set("status", status);
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  return params;
}

async function load() {
  const mine = ++ticket;
  const data = await getJSON(`/api/v1/early-warnings?${query()}`);
  if (mine !== ticket) return;
  items = data.items;
  rows.replaceChildren(...items.map(row));
  if (!items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("ew.none"));
    td.colSpan = COLUMNS;
    tr.append(td);
    rows.append(tr);
  }
  document.getElementById("total").textContent = t("ew.total", { n: data.total });
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + PAGE >= data.total;
  rows.dataset.loaded = String(Date.now());
  rows.dataset.count = String(items.length);
}

document.getElementById("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  offset = 0;
  const url = new URL(window.location.href);
  url.searchParams.set("status", e.target.elements.status.value);
  window.history.replaceState(null, "", url);
  load().catch(showError);
});
document.getElementById("prev").addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE);
  load().catch(showError);
});
document.getElementById("next").addEventListener("click", () => {
  offset += PAGE;
  load().catch(showError);
});

// --- scanning by hand ----------------------------------------------------------------------------------------

const scanButton = document.getElementById("scan");
const scanResult = document.getElementById("scan-result");

async function scan() {
  scanButton.disabled = true;
  scanResult.textContent = t("ew.scanning");
  try {
    const r = await postJSON("/api/v1/early-warnings/scan");
    scanResult.replaceChildren(
      el("span", "", t("ew.scanned", { reports: r.reports, seconds: number(r.seconds, 2), created: r.created.length,
        updated: r.updated.length, suppressed: r.suppressed })),
      " ", el("span", "muted small", t("ew.baseline", { n: (r.baseline || []).length })));
    scanResult.dataset.created = String(r.created.length);
    scanResult.dataset.updated = String(r.updated.length);
    scanResult.dataset.done = String(Date.now());
    offset = 0;
    await load();
  } catch (err) {
    scanResult.textContent = "";
    showError(err);
  } finally {
    scanButton.disabled = false;
  }
}

if (scanButton) scanButton.addEventListener("click", () => scan());

// --- start and refresh ---------------------------------------------------------------------------------------

async function poll() {
  if (!document.hidden && !(document.activeElement && document.activeElement.closest("form"))) {
    await load().catch(() => {});
  }
  setTimeout(poll, POLL_MS);
}

load()
  .then(() => (selected !== null ? choose(selected) : null))
  .catch(showError)
  .finally(() => setTimeout(poll, POLL_MS));
