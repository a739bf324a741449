// Command-centre dashboard: KPI cards, towns shaded by open cases, clustered case markers, charts, and
// the live feed (Server-Sent Events). A new or changed case shows in the feed at once; the figures
// are fetched again shortly after (several events in a burst cause one refresh).

import { actionLabel, channelLabel, el, getJSON, percent, stateLabel, t, tipText, when } from "./common.js";

const mapEl = document.getElementById("dash-map");
const feedEl = document.getElementById("feed");
const feedStatus = document.getElementById("feed-status");
const FEED_MAX = 60;
const REFRESH_DELAY_MS = 400;

// --- KPI cards -----------------------------------------------------------------------------------

function setKpi(key, value) {
  const node = document.querySelector(`[data-kpi="${key}"]`);
  if (node) node.textContent = value;
}

async function loadOverview() {
  const o = await getJSON("/api/v1/stats/overview");
  for (const key of ["reported", "accepted", "filed", "dispatched", "closed"]) setKpi(key, o.today[key]);
  setKpi("open", o.open);
  setKpi("overdue", o.overdue);
  setKpi("yellow", o.yellow);
  setKpi("closure", percent(o.closure_rate_30d));
  setKpi("ontime", percent(o.on_time_rate_30d));
  document.body.dataset.overviewLoaded = String(Date.now());
}

// --- map -----------------------------------------------------------------------------------------

const map = L.map(mapEl, { preferCanvas: true, minZoom: 8, maxZoom: 19 });
map.setView([31.11, 121.38], 11);
map.attributionControl.setPrefix(false);
if (mapEl.dataset.tileUrl) L.tileLayer(mapEl.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
const towns = L.geoJSON(null, { style: () => ({ color: "#1f4e79", weight: 1.5, fillOpacity: 0.05 }) }).addTo(map);
const grids = L.geoJSON(null, { style: () => ({ color: "#9a5b13", weight: 0.6, fillOpacity: 0 }) }).addTo(map);
const GRID_ZOOM = 15;
let gridCounts = new Map();
let gridRequest = null;
const clusters = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 }).addTo(map);
const markers = new Map();
let townCounts = new Map();

function shade(count, max) {
  const share = max ? count / max : 0;
  return { fillColor: "#c0392b", fillOpacity: 0.06 + 0.5 * share, color: "#1f4e79", weight: 1.5 };
}

function restyleTowns() {
  const max = Math.max(0, ...[...townCounts.values()].map((c) => c.open));
  towns.eachLayer((layer) => {
    const c = townCounts.get(layer.feature.properties.code) || { open: 0, overdue: 0 };
    layer.setStyle(shade(c.open, max));
    layer.setTooltipContent(
      tipText(`${layer.feature.properties.name} · ${t("map.open")} ${c.open} · ${t("map.overdue")} ${c.overdue}`),
    );
  });
}

async function loadTowns() {
  const fc = await getJSON("/api/v1/areas/geojson?level=town&simplify=20");
  towns.addData(fc);
  towns.eachLayer((layer) => layer.bindTooltip("", { sticky: true }));
  const bounds = towns.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
}

function restyleGrids() {
  grids.eachLayer((layer) => {
    const c = gridCounts.get(layer.feature.properties.code);
    const share = c && c.open ? c.overdue / c.open : 0;
    layer.setStyle(c ? { fillColor: share > 0 ? "#c0392b" : "#e67e22", fillOpacity: 0.2 + 0.4 * Math.min(1, c.open / 3) }
      : { fillOpacity: 0 });
  });
  mapEl.dataset.shadedGrids = String([...gridCounts.keys()].length);
}

// Unit grids in view, shaded by open cases (red where some are overdue), once zoomed in far enough.
async function loadGrids() {
  if (gridRequest) gridRequest.abort();
  if (map.getZoom() < GRID_ZOOM) {
    grids.clearLayers();
    delete mapEl.dataset.gridsLoaded;
    return;
  }
  gridRequest = new AbortController();
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(5)).join(",");
  try {
    const fc = await getJSON(`/api/v1/areas/geojson?level=grid&bbox=${bbox}&limit=3000`, gridRequest.signal);
    grids.clearLayers();
    grids.addData(fc);
    restyleGrids();
    mapEl.dataset.gridsLoaded = String(fc.features.length);
  } catch (err) {
    if (err.name !== "AbortError") throw err;
  }
}
map.on("moveend", () => loadGrids().catch(showError));

async function loadShading() {
  const [towns, gridRows] = await Promise.all([getJSON("/api/v1/stats/areas?level=town"),
    getJSON("/api/v1/stats/areas?level=grid")]);
  townCounts = new Map(towns.map((r) => [r.code, r]));
  gridCounts = new Map(gridRows.map((r) => [r.code, r]));
  restyleTowns();
  restyleGrids();
}

function popupFor(p) {
  const box = el("div", "case-pop");
  const link = el("a", "", p.number);
  link.href = `/cases/${p.id}`;
  box.append(link, el("div", "", p.matter_name || ""), el("div", "muted", stateLabel(p.state)));
  return box;
}

// A case is a small focusable element titled with its number (not a canvas dot): reachable by keyboard
// (Enter opens its popup) and named for screen readers.
const caseIcon = (overdue) => L.divIcon({ className: overdue ? "case-dot overdue" : "case-dot", iconSize: [14, 14] });

function placeMarker(p) {
  let marker = markers.get(p.id);
  if (!marker) {
    marker = L.marker([p.lat, p.lon], { icon: caseIcon(p.overdue), title: p.number, keyboard: true });
    marker.bindPopup(() => popupFor(marker.caseInfo));
    markers.set(p.id, marker);
    clusters.addLayer(marker);
  } else if (marker.caseInfo.overdue !== p.overdue) {
    marker.setIcon(caseIcon(p.overdue));
  }
  marker.caseInfo = p;
}

async function loadPoints() {
  const points = await getJSON("/api/v1/stats/points");
  const seen = new Set();
  for (const p of points) {
    placeMarker(p);
    seen.add(p.id);
  }
  for (const [id, marker] of markers) {
    if (!seen.has(id)) {
      clusters.removeLayer(marker);
      markers.delete(id);
    }
  }
  mapEl.dataset.markers = String(markers.size);
}

// --- charts --------------------------------------------------------------------------------------

const charts = {};
/** Chart text follows the page's root size (larger on a wall screen, see app.css), never below 12 px. */
function textSize() {
  return Math.max(12, Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8));
}
function chart(id) {
  if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  charts[id].setOption({ textStyle: { fontSize: textSize() } });
  return charts[id];
}
window.addEventListener("resize", () => Object.values(charts).forEach((c) => {
  c.setOption({ textStyle: { fontSize: textSize() } });
  c.resize();
}));

function bars(id, rows, label = (k) => k) {
  const top = rows.slice(0, 12).reverse();
  chart(id).setOption({
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: top.map((r) => label(r.key)) },
    series: [{ type: "bar", data: top.map((r) => r.count), itemStyle: { color: "#0b5cad" }, label: { show: true, position: "right" } }],
    tooltip: { trigger: "axis" },
  });
}

async function loadCharts() {
  const [category, town, channel, series] = await Promise.all([
    getJSON("/api/v1/stats/breakdown?by=category&days=30"),
    getJSON("/api/v1/stats/breakdown?by=town&days=30"),
    getJSON("/api/v1/stats/breakdown?by=channel&days=30"),
    getJSON("/api/v1/stats/series?days=30"),
  ]);
  bars("chart-category", category);
  bars("chart-town", town);
  chart("chart-channel").setOption({
    tooltip: { trigger: "item" },
    legend: { bottom: 0, itemWidth: 12, itemHeight: 8, itemGap: 8, textStyle: { fontSize: textSize() - 1 } },
    series: [{
      // shares inside the ring, whole percents, none on thin slices: outside labels were cut at the edge
      type: "pie", radius: ["32%", "62%"], center: ["50%", "42%"],
      // dark figures with a white halo: readable on the pale slices too (white on yellow was 1.5:1)
      label: { position: "inside", color: "#14202b", textBorderColor: "#fff", textBorderWidth: 3, fontWeight: "bold",
               formatter: (p) => (p.percent >= 6 ? `${Math.round(p.percent)}%` : "") },
      labelLine: { show: false },
      data: channel.map((r) => ({ name: channelLabel(r.key), value: r.count })),
    }],
  });
  chart("chart-series").setOption({
    grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
    legend: { top: 0, data: [t("series.reported"), t("series.closed")] },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: series.map((d) => d.day.slice(5)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: t("series.reported"), type: "line", data: series.map((d) => d.reported), itemStyle: { color: "#0b5cad" } },
      { name: t("series.closed"), type: "line", data: series.map((d) => d.closed), itemStyle: { color: "#2f7d5b" } },
    ],
  });
}

// --- live feed -----------------------------------------------------------------------------------

function feedItem(e) {
  const li = el("li", `feed-item state-${e.state}`);
  li.dataset.caseId = String(e.case_id);
  li.dataset.eventId = String(e.id);
  const link = el("a", "feed-number", e.number);
  link.href = `/cases/${e.case_id}`;
  const time = el("time", "muted", when(e.at));
  time.dateTime = e.at;
  li.append(time, " ", link, " ", el("span", "feed-action", actionLabel(e.action)));
  if (e.from !== e.to) li.append(" → ", el("span", "feed-state", stateLabel(e.to)));  // system and stage events change no state
  li.append(el("div", "feed-matter", `${e.matter_name || ""} · ${channelLabel(e.channel)}`));
  return li;
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    Promise.all([loadOverview(), loadShading(), loadPoints(), loadCharts()]).catch(showError);
  }, REFRESH_DELAY_MS);
}

function onEvent(e) {
  feedEl.querySelector(".feed-empty")?.remove();
  feedEl.prepend(feedItem(e));
  while (feedEl.children.length > FEED_MAX) feedEl.lastElementChild.remove();
  feedEl.dataset.lastEvent = String(e.id);
  const open = !["closed", "rejected", "voided", "merged"].includes(e.state);
  if (open) placeMarker({ id: e.case_id, number: e.number, state: e.state, lon: e.lon, lat: e.lat, matter_name: e.matter_name, overdue: false });
  else if (markers.has(e.case_id)) {
    clusters.removeLayer(markers.get(e.case_id));
    markers.delete(e.case_id);
  }
  refreshSoon();
}

function connect() {
  const source = new EventSource(`/api/v1/live/events?recent=${FEED_MAX}`);  // not an empty feed on load
  source.addEventListener("open", () => {
    feedStatus.textContent = t("feed.live");
    feedStatus.className = "feed-status live";
    document.body.dataset.live = "open";
  });
  source.addEventListener("case", (msg) => onEvent(JSON.parse(msg.data)));
  source.addEventListener("reload", () => window.location.reload());
  source.addEventListener("error", () => {
    feedStatus.textContent = t("feed.offline");
    feedStatus.className = "feed-status offline";
    document.body.dataset.live = "retrying";
  });
}

function showError(err) {
  feedStatus.textContent = `${t("error")}: ${err.message}`;
}

connect();
Promise.all([loadOverview(), loadTowns().then(loadShading), loadPoints(), loadCharts()])
  .then(() => {
    document.body.dataset.ready = "1";
  })
  .catch(showError);
