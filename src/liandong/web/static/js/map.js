// District map: towns, communities, unit grids (by viewport when zoomed in), click → locate.
// Data comes from the JSON API with the session cookie; settings come from data- attributes on
// #map so the page needs no inline script (strict CSP). Text is always set with textContent, in the
// page language (LABELS); names from the data are Chinese and say so on an English page.

import { LABELS, el, getJSON, t } from "./common.js";

const API = "/api/v1/areas";
const STYLES = {
  town: { color: "#1f4e79", weight: 2.5, fill: false }, // outline only: the communities inside stay hoverable
  community: { color: "#2f7d5b", weight: 1.2, fill: true, fillColor: "#2f7d5b", fillOpacity: 0.03, dashArray: "4 3" },
  grid: { color: "#9a5b13", weight: 0.8, fill: true, fillColor: "#d9a441", fillOpacity: 0.08 },
  highlight: { color: "#c0392b", weight: 3, fill: true, fillColor: "#c0392b", fillOpacity: 0.15 },
};

const english = LABELS.lang === "en";
const mapEl = document.getElementById("map");
const statusEl = document.getElementById("map-status");
const lineLabels = JSON.parse(mapEl.dataset.lines || "{}");
const gridMinZoom = Number(mapEl.dataset.gridMinZoom || 15);
const levelLabel = (level) => (LABELS.levels || {})[level] || level;

/** A name from the data (Chinese): marked as such on an English page, for screen readers and fonts. */
function named(tag, className, text) {
  const node = el(tag, className, text);
  if (english) node.lang = "zh-CN";
  return node;
}

function setStatus(...parts) {
  statusEl.replaceChildren(...parts);
}

function tooltipFor(props) {
  const box = el("span", "area-tip");
  box.append(named("strong", "", props.name), " ", el("span", "code", props.code));
  return box;
}

function areaLayer(style) {
  return L.geoJSON(null, {
    style: () => style,
    onEachFeature: (feature, layer) => {
      layer.bindTooltip(tooltipFor(feature.properties), { sticky: true, direction: "top", opacity: 0.95 });
    },
  });
}

// --- the map -------------------------------------------------------------------------------------

const map = L.map(mapEl, { preferCanvas: true, zoomControl: true, minZoom: 8, maxZoom: 19 });
map.setView([31.11, 121.38], 12);
map.attributionControl.setPrefix(false);
if (mapEl.dataset.tileUrl) {
  L.tileLayer(mapEl.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
}

const towns = areaLayer(STYLES.town).addTo(map);
const communities = areaLayer(STYLES.community).addTo(map);
const grids = areaLayer(STYLES.grid).addTo(map);
const highlight = L.geoJSON(null, { style: () => STYLES.highlight, interactive: false }).addTo(map);

L.control
  .layers(
    null,
    {  // (Leaflet reads these names as HTML: our own labels only)
      [t("map.towns")]: towns,
      [t("map.communities")]: communities,
      [`${t("map.grids")} (≥ ${gridMinZoom})`]: grids,
    },
    { collapsed: false },
  )
  .addTo(map);
L.control.scale({ imperial: false }).addTo(map);

async function loadTowns() {
  const fc = await getJSON(`${API}/geojson?level=town&simplify=20`);
  towns.addData(fc);
  const bounds = towns.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12] });
  mapEl.dataset.townsLoaded = String(fc.features.length);
}

async function loadCommunities() {
  const fc = await getJSON(`${API}/geojson?level=community&simplify=5`);
  communities.addData(fc);
  communities.bringToBack();
  mapEl.dataset.communitiesLoaded = String(fc.features.length);
}

// Unit grids: only when zoomed in, only the viewport, newest request wins.
let gridRequest = null;
let gridBox = "";

async function refreshGrids() {
  if (!map.hasLayer(grids) || map.getZoom() < gridMinZoom) {
    if (gridRequest) gridRequest.abort();
    grids.clearLayers();
    gridBox = "";
    delete mapEl.dataset.gridsLoaded;
    return;
  }
  const box = map.getBounds().pad(0.25).toBBoxString();
  if (box === gridBox) return;
  if (gridRequest) gridRequest.abort();
  const request = new AbortController();
  gridRequest = request;
  try {
    const fc = await getJSON(`${API}/geojson?level=grid&bbox=${box}`, request.signal);
    if (request.signal.aborted) return;
    grids.clearLayers();
    grids.addData(fc);
    gridBox = box;
    mapEl.dataset.gridsLoaded = String(fc.features.length);
  } catch (error) {
    if (error.name !== "AbortError") setStatus(`${t("map.grids_failed")}: ${error.message}`);
  }
}

map.on("moveend overlayadd", refreshGrids);

async function loadSummary() {
  const summary = await getJSON(`${API}/summary`);
  for (const dd of document.querySelectorAll("[data-summary]")) {
    const n = summary[dd.dataset.summary];
    dd.textContent = typeof n === "number" ? n.toLocaleString(english ? "en-GB" : "zh-CN") : "—";
  }
}

// --- click → locate ------------------------------------------------------------------------------

function lineText(unit) {
  if (unit.role === "territorial" || !unit.line) return t("unit_role.territorial");
  return (lineLabels[unit.line] || [unit.line, unit.line])[english ? 1 : 0];
}

function locateContent(found, latlng) {
  const box = el("div", "locate");
  const head = el("p", "locate-grid");
  head.append(el("span", "locate-code code", found.grid.code), " ", named("strong", "locate-name", found.grid.name));
  box.append(head);

  const chain = el("ol", "locate-chain");
  chain.setAttribute("aria-label", t("map.ancestors"));
  for (const a of found.ancestors) {
    const item = el("li");
    item.append(el("span", "level", levelLabel(a.level)), " ", named("span", "", a.name), " ", el("span", "code", a.code));
    chain.append(item);
  }
  box.append(chain);

  box.append(el("h3", "", t("map.responsible")));
  const units = el("ul", "locate-units");
  if (!found.responsible_units.length) units.append(el("li", "muted", "—"));
  for (const u of found.responsible_units) {
    const item = el("li");
    item.append(named("span", "unit", u.name), " ", el("span", "line", lineText(u)));
    units.append(item);
  }
  box.append(units);
  box.append(el("p", "coords", `${latlng.lng.toFixed(6)}, ${latlng.lat.toFixed(6)}`));
  return box;
}

async function locate(latlng) {
  const lon = latlng.lng.toFixed(7);
  const lat = latlng.lat.toFixed(7);
  highlight.clearLayers();
  let content;
  try {
    const found = await getJSON(`${API}/locate?lon=${lon}&lat=${lat}`);
    content = locateContent(found, latlng);
    setStatus(named("span", "", found.grid.name), " ", el("span", "code", found.grid.code));
    const shape = grids.getLayers().find((layer) => layer.feature.properties.code === found.grid.code);
    if (shape) highlight.addData(shape.feature);
  } catch (error) {
    content = error.status === 404
      ? el("p", "locate-none", t("map.no_grid")) : el("p", "locate-none", `${t("map.locate_failed")}: ${error.message}`);
    setStatus();
  }
  L.popup({ maxWidth: 340, className: "locate-popup" }).setLatLng(latlng).setContent(content).openOn(map);
}

map.on("click", (event) => locate(event.latlng));
document.getElementById("locate-centre").addEventListener("click", () => locate(map.getCenter()));

// --- start ---------------------------------------------------------------------------------------

setStatus(t("map.loading"));
Promise.all([loadTowns(), loadCommunities(), loadSummary()])
  .then(() => {
    setStatus();
    mapEl.dataset.ready = "true";
    return refreshGrids();
  })
  .catch((error) => {
    if (error.status !== 401) setStatus(`${t("map.load_failed")}: ${error.message}`);
  });
