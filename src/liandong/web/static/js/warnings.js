// The warnings page: CAP warnings we issued (from incidents) and warnings received (imported or polled), each list
// filtered and paged, the listed warnings' areas on one map (polygons, circles with their radius; areas given only
// by geocodes listed below the map), a row's area highlighted and zoomed to when the row is chosen, and, for those
// who may, importing a CAP document (POST /api/v1/cap/import) with the refusal named by element and line. The lists
// refresh every 15 s.

import { el, errorText, getJSON, refusalText, t, tabs, tipText, when } from "./common.js";
import { areaStyle, capStateBadge, capWord, severityBadge, statusMark } from "./cap.js";

const main = document.querySelector(".warnings-page");
const message = document.getElementById("message");
const mapNote = document.getElementById("map-note");
const noGeometry = document.getElementById("no-geometry");
const PAGE = 20;
const POLL_MS = 15_000;
const API = { issued: "/api/v1/cap/issued", received: "/api/v1/cap/received" };
const COLUMNS = 7;

const lists = {
  issued: { offset: 0, items: [], ticket: 0 },
  received: { offset: 0, items: [], ticket: 0 },
};
let current = main.dataset.tab === "received" ? "received" : "issued";
let selected = main.dataset.selected ? Number(main.dataset.selected) : null;
let drawnKey = "";

for (const o of document.querySelectorAll("[data-issued-state]")) o.textContent = capWord("issued_state", o.value);
for (const o of document.querySelectorAll("[data-received-state]")) o.textContent = capWord("received_state", o.value);
for (const o of document.querySelectorAll("[data-cap-status]")) o.textContent = capWord("status", o.value);

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}
const showError = (err) => say(errorText(err), "error");

// --- the map ---------------------------------------------------------------------------------------------

let map = null;
const shapes = new Map();  // warning id → its layer group on the map (for the list on show)

function ensureMap() {
  if (map || !window.L) return map;
  map = L.map("warn-map", { zoomControl: true, maxZoom: 18 });
  map.attributionControl.setPrefix(false);
  if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
  map.setView([31.11, 121.38], 10);
  map.areas = L.featureGroup().addTo(map);
  return map;
}

/** The Leaflet layers of one GeoJSON feature: a polygon, a circle of its radius, or a dot for a zero radius. */
function featureLayers(feature, style) {
  const g = feature.geometry;
  if (g.type === "Point") {
    const [lon, lat] = g.coordinates;
    const km = Number((feature.properties || {}).radius_km || 0);
    return km > 0 ? L.circle([lat, lon], { ...style, radius: km * 1000 })
      : L.circleMarker([lat, lon], { ...style, radius: 7, fillOpacity: Math.max(style.fillOpacity, 0.5) });
  }
  return L.geoJSON(feature, { style });
}

function areaText(feature) {
  const p = feature.properties || {};
  const codes = (p.geocodes || []).map(([name, value]) => `${name} ${value}`).join("、");
  return [p.areaDesc, codes].filter(Boolean).join(" · ");
}

function drawMap(force = false) {
  if (!ensureMap()) return;
  const items = lists[current].items;
  const key = `${current}|${items.map((w) => `${w.id}:${w.state}`).join(",")}`;
  if (key === drawnKey && !force) return;  // a refresh with nothing new keeps the view where the user left it
  drawnKey = key;
  map.areas.clearLayers();
  shapes.clear();
  const without = [];
  for (const w of items) {
    const style = areaStyle(current, w);
    const group = L.featureGroup();
    for (const f of (w.areas && w.areas.features) || []) {
      if (!f.geometry) {
        without.push([w, f]);
        continue;
      }
      const layer = featureLayers(f, style);
      const p = f.properties || {};
      const circle = p.radius_km ? ` · ${t("cap.circle", { km: p.radius_km })}` : "";
      layer.bindTooltip(tipText(`${w.headline || w.event || w.identifier}${p.areaDesc ? ` — ${p.areaDesc}` : ""}${circle}`));
      group.addLayer(layer);
    }
    if (group.getLayers().length) {
      group.style = style;
      group.on("click", () => choose(w.id, { zoom: false, scroll: true }));
      group.addTo(map.areas);
      shapes.set(w.id, group);
    }
  }
  noGeometry.replaceChildren(...without.map(([w, f]) => {
    const li = el("li", "", `${w.headline || w.event || w.identifier}: ${areaText(f) || t("cap.geocode_only")}`);
    li.dataset.warningId = String(w.id);
    return li;
  }));
  if (!without.length) noGeometry.append(el("li", "muted", t("none")));
  const bounds = map.areas.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12], maxZoom: 12 });
  const mapEl = document.getElementById("warn-map");
  mapEl.dataset.kind = current;
  mapEl.dataset.shapes = String(shapes.size);
  mapEl.dataset.drawn = String(Date.now());
  if (selected !== null) highlight(selected, false);
}

/** Mark the chosen warning's area (thicker, in front) and, when asked, zoom to it. */
function highlight(id, zoom) {
  for (const [wid, group] of shapes) {
    const on = wid === id;
    group.setStyle({ ...group.style, weight: on ? 5 : group.style.weight, fillOpacity: on ? 0.4 : group.style.fillOpacity });
    if (on) group.bringToFront();
  }
  const group = shapes.get(id);
  if (!group) {
    mapNote.textContent = lists[current].items.some((w) => w.id === id) ? t("cap.no_shape") : "";
    return;
  }
  mapNote.textContent = "";
  if (zoom) map.fitBounds(group.getBounds(), { padding: [20, 20], maxZoom: 13 });
}

function choose(id, { zoom = true, scroll = false } = {}) {
  selected = id;
  for (const tr of document.querySelectorAll(`#${current}-rows tr[data-warning-id]`)) {
    const on = Number(tr.dataset.warningId) === id;
    tr.classList.toggle("selected", on);
    if (on) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
    if (on && scroll) tr.scrollIntoView({ block: "nearest" });
  }
  if (map) highlight(id, zoom);
}

// --- the lists -------------------------------------------------------------------------------------------

function cell(...children) {
  const td = el("td");
  td.append(...children.filter((c) => c !== null && c !== undefined && c !== ""));
  return td;
}

function chosenRow(tr, w) {
  tr.dataset.warningId = String(w.id);
  tr.dataset.state = w.state;
  tr.tabIndex = 0;
  tr.classList.add("warning-row");
  if (w.id === selected) {
    tr.classList.add("selected");
    tr.setAttribute("aria-current", "true");
  }
  tr.addEventListener("click", (e) => {
    if (!e.target.closest("a")) choose(w.id);
  });
  tr.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target === tr) {
      e.preventDefault();
      choose(w.id);
    }
  });
  return tr;
}

function issuedRow(w) {
  const tr = el("tr");
  tr.dataset.identifier = w.identifier;
  const headline = cell(el("strong", "", w.headline));
  const mark = statusMark(w.status);
  if (mark) headline.append(" ", mark);
  const incident = el("a", "", `${w.incident.number} ${w.incident.title}`);
  incident.href = `/incidents/${w.incident.id}`;
  const doc = el("a", "code", w.identifier);
  doc.href = w.url;
  doc.type = "application/cap+xml";
  const docCell = cell(doc);
  if (w.signed) {
    const s = el("span", "signed", `✓ ${t("cap.signed")}`);
    s.title = t("cap.signed_title");
    s.dataset.testid = "signed";
    docCell.append(" ", s);
  }
  tr.append(headline, cell(capStateBadge("issued", w.state)), cell(capWord("msg", w.msg_type)), cell(incident),
    el("td", "", when(w.sent)), el("td", "", when(w.expires)), docCell);
  return chosenRow(tr, w);
}

function sourceText(source) {
  if (source === "upload" || source === "cli") return capWord("source", source);
  return source || "";
}

function receivedRow(w) {
  const tr = el("tr");
  tr.dataset.identifier = w.identifier;
  const headline = cell(el("strong", "", w.headline || w.event || w.identifier));
  const mark = statusMark(w.status);
  if (mark) headline.append(" ", mark);
  if (w.msg_type !== "Alert") headline.append(" ", el("span", "muted small", capWord("msg", w.msg_type)));
  const sender = el("span", "", w.sender_name || w.sender);
  sender.title = `${w.sender} · ${w.identifier} · ${when(w.sent)}`;
  const levels = cell(severityBadge(w.severity), " ",
    el("span", "muted small", [capWord("urgency", w.urgency), capWord("certainty", w.certainty)].filter(Boolean).join(" · ")));
  const source = el("span", "source", sourceText(w.source));
  source.title = `${t("cap.received_at")} ${when(w.received_at)}`;
  tr.append(headline, el("td", "", w.event || ""), cell(sender), levels, cell(capStateBadge("received", w.state)),
    el("td", "", w.expires ? when(w.expires) : t("cap.no_expiry")), cell(source));
  return chosenRow(tr, w);
}

function query(kind) {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(document.getElementById(`${kind}-filters`))) if (v) params.set(k, v);
  params.set("limit", String(PAGE));
  params.set("offset", String(lists[kind].offset));
  return params;
}

async function load(kind) {
  const list = lists[kind];
  const ticket = ++list.ticket;
  const data = await getJSON(`${API[kind]}?${query(kind)}`);
  if (ticket !== list.ticket) return;
  list.items = data.items;
  const rows = document.getElementById(`${kind}-rows`);
  rows.replaceChildren(...data.items.map(kind === "issued" ? issuedRow : receivedRow));
  if (!data.items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("none"));
    td.colSpan = COLUMNS;
    tr.append(td);
    rows.append(tr);
  }
  document.getElementById(`${kind}-total`).textContent = t("cap.total", { n: data.total });
  document.getElementById(`${kind}-count`).textContent = String(data.total);
  document.getElementById(`${kind}-prev`).disabled = list.offset === 0;
  document.getElementById(`${kind}-next`).disabled = list.offset + PAGE >= data.total;
  document.getElementById(`panel-${kind}`).dataset.loaded = String(Date.now());
  if (kind === current) drawMap();
}

for (const kind of ["issued", "received"]) {
  document.getElementById(`${kind}-filters`).addEventListener("submit", (e) => {
    e.preventDefault();
    lists[kind].offset = 0;
    load(kind).catch(showError);
  });
  document.getElementById(`${kind}-prev`).addEventListener("click", () => {
    lists[kind].offset = Math.max(0, lists[kind].offset - PAGE);
    load(kind).catch(showError);
  });
  document.getElementById(`${kind}-next`).addEventListener("click", () => {
    lists[kind].offset += PAGE;
    load(kind).catch(showError);
  });
}

function showTab(kind) {
  if (kind === current) return;
  current = kind;
  selected = null;
  mapNote.textContent = "";
  main.dataset.tab = kind;
  const url = new URL(window.location.href);
  url.searchParams.set("tab", kind);
  url.searchParams.delete("id");
  window.history.replaceState(null, "", url);
  drawMap(true);
}

tabs((tab) => showTab(tab.dataset.tab));

// --- importing a document ------------------------------------------------------------------------------------

const form = document.getElementById("import-form");
const result = document.getElementById("import-result");

function refusal(status, body) {
  const box = el("div", "message error");
  box.append(el("strong", "", t("cap.refused")), `: ${body.detail || refusalText(status)}`);
  const params = body.params || {};
  const where = el("dl", "facts cap-where");
  if (params.element) {
    where.append(el("dt", "", t("cap.element")));
    const dd = el("dd", "code", `<${params.element}>`);
    dd.dataset.element = params.element;
    where.append(dd);
  }
  if (params.line) where.append(el("dt", "", t("cap.line")), el("dd", "", String(params.line)));
  if (where.children.length) box.append(where);
  if (body.detail_en && body.detail_en !== body.detail) {
    const more = el("details", "small");
    more.append(el("summary", "", t("cap.technical")), el("p", "code", body.detail_en));
    box.append(more);
  }
  return box;
}

async function importDocument(e) {
  e.preventDefault();
  const file = form.elements.file.files[0];
  const text = form.elements.text.value;
  result.replaceChildren();
  delete result.dataset.ok;
  if (!file && !text.trim()) {
    result.append(el("p", "message error", t("cap.import_empty")));
    return;
  }
  let response;
  try {  // the file goes as it is: its bytes carry their own encoding (UTF-8, ISO-8859-1)
    response = await fetch("/api/v1/cap/import", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/xml", Accept: "application/json" }, body: file || text });
  } catch (err) {
    result.append(el("p", "message error", errorText(err)));
    return;
  }
  const body = await response.json().catch(() => ({}));
  result.dataset.ok = String(response.ok);
  if (!response.ok) {
    result.dataset.code = body.code || "";
    result.append(refusal(response.status, body));
    return;
  }
  result.dataset.code = "";
  result.dataset.identifier = body.identifier;
  result.append(el("p", "message ok", t(body.duplicate ? "cap.duplicate" : "cap.imported",
    { identifier: body.identifier, sender: body.sender })));
  form.reset();
  // show it: the received list, unfiltered, from its first page, the new warning chosen
  document.getElementById("received-filters").reset();
  lists.received.offset = 0;
  document.getElementById("tab-received").click();
  await load("received");
  drawMap(true);
  choose(body.id);
}

if (form) form.addEventListener("submit", (e) => importDocument(e).catch(showError));

// --- start and refresh -------------------------------------------------------------------------------------

async function poll() {
  if (!document.hidden && !(document.activeElement && document.activeElement.closest("form"))) {
    await Promise.all([load("issued"), load("received")]).catch(() => {});
  }
  setTimeout(poll, POLL_MS);
}

Promise.all([load("issued"), load("received")])
  .then(() => {
    if (selected !== null) choose(selected, { scroll: true });
    setTimeout(poll, POLL_MS);
  })
  .catch(showError);
