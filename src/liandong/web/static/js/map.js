// District map: towns, communities, unit grids (by viewport when zoomed in), click → locate.
// Data comes from the JSON API with the session cookie; settings come from data- attributes on
// #map so the page needs no inline script (strict CSP). Text is always set with textContent.

const API = "/api/v1/areas";
const LEVEL_LABELS = {
  district: ["区", "District"],
  town: ["镇/街道", "Town"],
  community: ["村/居", "Community"],
  grid: ["网格", "Grid"],
};
const STYLES = {
  town: { color: "#1f4e79", weight: 2.5, fill: false }, // outline only: the communities inside stay hoverable
  community: { color: "#2f7d5b", weight: 1.2, fill: true, fillColor: "#2f7d5b", fillOpacity: 0.03, dashArray: "4 3" },
  grid: { color: "#9a5b13", weight: 0.8, fill: true, fillColor: "#d9a441", fillOpacity: 0.08 },
  highlight: { color: "#c0392b", weight: 3, fill: true, fillColor: "#c0392b", fillOpacity: 0.15 },
};

const mapEl = document.getElementById("map");
const statusEl = document.getElementById("map-status");
const lineLabels = JSON.parse(mapEl.dataset.lines || "{}");
const gridMinZoom = Number(mapEl.dataset.gridMinZoom || 15);

/** Create an element with a class and text: the only way text reaches the DOM here. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Chinese label with the English one in smaller text (and lang="en" for screen readers). */
function bilingual(tag, className, zh, en) {
  const node = el(tag, className, zh + " ");
  const small = el("span", "en", en);
  small.lang = "en";
  node.append(small);
  return node;
}

function setStatus(zh, en) {
  statusEl.replaceChildren();
  if (zh) statusEl.append(bilingual("span", "", zh, en));
}

class HttpError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
  }
}

/** Same-origin GET with the session cookie; an expired session sends the user back to log in. */
async function getJSON(url, signal) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal });
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    throw new HttpError(401, "session expired");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      /* not JSON */
    }
    throw new HttpError(response.status, detail);
  }
  return response.json();
}

function tooltipFor(props) {
  const box = el("span", "area-tip");
  box.append(el("strong", "", props.name), " ", el("span", "code", props.code));
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
    {
      "镇/街道 Towns": towns,
      "村/居 Communities": communities,
      [`单元网格 Unit grids (≥ ${gridMinZoom})`]: grids,
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
    if (error.name !== "AbortError") setStatus("网格加载失败", `Could not load grids: ${error.message}`);
  }
}

map.on("moveend overlayadd", refreshGrids);

async function loadSummary() {
  const summary = await getJSON(`${API}/summary`);
  for (const dd of document.querySelectorAll("[data-summary]")) {
    const n = summary[dd.dataset.summary];
    dd.textContent = typeof n === "number" ? n.toLocaleString("zh-CN") : "—";
  }
}

// --- click → locate ------------------------------------------------------------------------------

function lineText(unit) {
  if (unit.role === "territorial" || !unit.line) return ["属地", "Territorial"];
  return lineLabels[unit.line] || [unit.line, unit.line];
}

function locateContent(found, latlng) {
  const box = el("div", "locate");
  const head = el("p", "locate-grid");
  head.append(el("span", "locate-code code", found.grid.code), " ", el("strong", "locate-name", found.grid.name));
  box.append(head);

  const chain = el("ol", "locate-chain");
  chain.setAttribute("aria-label", "所属区域 Ancestors");
  for (const a of found.ancestors) {
    const [zh, en] = LEVEL_LABELS[a.level] || [a.level, a.level];
    const item = el("li");
    const level = el("span", "level", zh);
    level.title = en;
    item.append(level, " ", a.name, " ", el("span", "code", a.code));
    chain.append(item);
  }
  box.append(chain);

  box.append(bilingual("h3", "", "责任单位", "Responsible units"));
  const units = el("ul", "locate-units");
  if (!found.responsible_units.length) units.append(el("li", "muted", "—"));
  for (const u of found.responsible_units) {
    const [zh, en] = lineText(u);
    const item = el("li");
    const line = el("span", "line", zh);
    line.title = en;
    item.append(el("span", "unit", u.name), " ", line);
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
    setStatus(`${found.grid.name}（${found.grid.code}）`, "Grid found");
    const shape = grids.getLayers().find((layer) => layer.feature.properties.code === found.grid.code);
    if (shape) highlight.addData(shape.feature);
  } catch (error) {
    if (error.status === 404) {
      content = bilingual("p", "locate-none", "此处不在辖区的单元网格内", "No unit grid here in your jurisdiction");
    } else {
      content = bilingual("p", "locate-none", "查询失败", error.message);
    }
    setStatus("", "");
  }
  L.popup({ maxWidth: 340, className: "locate-popup" }).setLatLng(latlng).setContent(content).openOn(map);
}

map.on("click", (event) => locate(event.latlng));
document.getElementById("locate-centre").addEventListener("click", () => locate(map.getCenter()));

// --- start ---------------------------------------------------------------------------------------

setStatus("正在加载地图数据…", "Loading map data…");
Promise.all([loadTowns(), loadCommunities(), loadSummary()])
  .then(() => {
    setStatus("", "");
    mapEl.dataset.ready = "true";
    return refreshGrids();
  })
  .catch((error) => {
    if (error.status !== 401) setStatus("地图数据加载失败", `Could not load map data: ${error.message}`);
  });
