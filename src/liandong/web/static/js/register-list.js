// The screening registers (/hazards, /disputes): filters, paging, the listed items in a table and on a map, and a
// form to report a new one for those who may. Words come from the page's labels (hz.* and md.* messages).

import { el, errorText, getJSON, postJSON, t, tipText, when } from "./common.js";
import { pointPicker } from "./pointpicker.js";

const main = document.querySelector(".register");
const kind = main.dataset.kind;
const P = kind === "hazards" ? "hz." : "md.";
const API = `/api/v1/${kind}`;
const rows = document.getElementById("rows");
const filters = document.getElementById("filters");
const message = document.getElementById("message");
const PAGE = 20;
let offset = 0;
let latest = 0;
let map = null;
let markers = null;

export const word = (group, value) => (value === null || value === undefined ? "—" : t(`${P}${group}.${value}`));

const COLUMNS = kind === "hazards"
  ? [["number"], ["title"], ["sector", (i) => word("sector", i.sector)], ["grade", (i) => word("grade", i.grade)],
    ["state", (i) => word("state", i.state)], ["deadline", (i) => i.deadline || "—"],
    ["reward", (i) => (i.rewarded ? t("hz.rewarded") : i.reward_wanted ? t("hz.reward_wanted_short") : "—")],
    ["created_at", (i) => when(i.created_at)]]
  : [["number"], ["title"], ["type", (i) => word("type", i.type)], ["risk", (i) => word("risk", i.risk)],
    ["tier", (i) => word("tier", i.tier)], ["state", (i) => word("state", i.state)],
    ["list", (i) => word("list", i.list)], ["mediator", (i) => i.mediator || "—"],
    ["created_at", (i) => when(i.created_at)]];

document.getElementById("head-row").replaceChildren(
  ...COLUMNS.map(([name]) => {
    const th = el("th", "", t(`scr.field.${name}`));
    th.scope = "col";
    return th;
  }));

function say(text, kind_ = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind_}`;
}

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(filters)) if (v) params.set(k, v);
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  return params;
}

function row(i) {
  const tr = el("tr");
  tr.dataset.itemId = String(i.id);
  for (const [name, show] of COLUMNS) {
    const td = el("td");
    td.dataset.col = name;
    if (name === "number") {
      const a = el("a", "", i.number);
      a.href = `/${kind}/${i.id}`;
      td.append(a);
    } else if (name === "risk") {
      td.append(el("span", `risk risk-${i.risk}`, show(i)));
    } else {
      td.textContent = show ? show(i) : i[name];
    }
    tr.append(td);
  }
  return tr;
}

const COLOURS = { red: "#c0392b", yellow: "#d4a017", blue: "#2e6da4", major: "#c0392b", general: "#d4a017" };

function drawMap(items) {
  if (!window.L) return;
  if (!map) {
    map = L.map("list-map", { maxZoom: 19 });
    map.attributionControl.setPrefix(false);
    if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    map.setView([31.11, 121.38], 11);
    markers = L.layerGroup().addTo(map);
  }
  markers.clearLayers();
  const points = [];
  for (const i of items) {
    const colour = COLOURS[i.risk || i.grade] || "#1f4e79";
    const m = L.circleMarker([i.lat, i.lon], { radius: 7, color: colour, fillColor: colour, fillOpacity: 0.7 });
    m.bindTooltip(tipText(`${i.number} ${i.title}`));
    m.on("click", () => window.location.assign(`/${kind}/${i.id}`));
    markers.addLayer(m);
    points.push([i.lat, i.lon]);
  }
  if (points.length) map.fitBounds(points, { maxZoom: 16, padding: [20, 20] });
  document.getElementById("list-map").dataset.markers = String(points.length);
}

async function load() {
  const ticket = ++latest;
  const data = await getJSON(`${API}?${query()}`);
  if (ticket !== latest) return;
  rows.replaceChildren(...data.items.map(row));
  if (!data.items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("none"));
    td.colSpan = COLUMNS.length;
    tr.append(td);
    rows.append(tr);
  }
  document.getElementById("total").textContent = t("scr.total", { n: data.total });
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + PAGE >= data.total;
  drawMap(data.items);
  main.dataset.loaded = String(Date.now());
}

const showError = (err) => say(errorText(err), "error");
filters.addEventListener("submit", (e) => {
  e.preventDefault();
  offset = 0;
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

function body(data) {
  const text = (name) => String(data.get(name) || "").trim() || undefined;
  const out = { title: text("title"), description: text("description"), lon: Number(data.get("lon")),
    lat: Number(data.get("lat")) };
  if (kind === "hazards") {
    Object.assign(out, { sector: data.get("sector"), grade: data.get("grade"), type: text("type"),
      deadline: text("deadline"),
      reporter: { kind: data.get("reporter_kind"), name: text("reporter_name"), phone: text("reporter_phone"),
        reward: data.get("reward") === "true" } });
  } else {
    const parties = [1, 2].map((n) => ({ name: text(`party${n}_name`), phone: text(`party${n}_phone`),
      id_number: text(`party${n}_id_number`) })).filter((p) => p.name);
    Object.assign(out, { type: data.get("type"), risk: data.get("risk"), tier: data.get("tier"),
      mediator: text("mediator"), parties });
  }
  return JSON.parse(JSON.stringify(out));  // drops the fields left empty
}

const newForm = document.getElementById("new-item");
if (newForm) {
  let picker = null;
  const box = document.getElementById("new-box");
  box.addEventListener("toggle", () => {
    if (box.open && !picker) picker = pointPicker("new-map", newForm, (text) => say(text, "error"));
  });
  newForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!newForm.checkValidity()) {
      newForm.reportValidity();
      return;
    }
    const data = new FormData(newForm);
    if (!data.get("lon")) {
      say(t("report.no_point"), "error");
      return;
    }
    try {
      const made = await postJSON(API, body(data));
      say(t("scr.created", { number: made.number }));
      window.location.assign(`/${kind}/${made.id}`);
    } catch (err) {
      showError(err);
    }
  });
}

load().catch(showError);
