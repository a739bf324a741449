// The incident list: filters (state, category, drill or real), paging, each incident with its state, its three
// levels, the drill mark, its commander and the 五早 flags (a late upward report), and a form to report a new
// incident for those who may. The list refreshes every 10 s (incidents do not publish to the live feed).

import { debounced, el, errorText, getJSON, postJSON, t, when } from "./common.js";
import { onIncidentEvent } from "./live-incidents.js";
import { pointPicker } from "./pointpicker.js";
import { category, drillBadge, incidentState, levelBadges, responseText, stateBadge, warningText, gradeText } from "./emergency.js";

const main = document.querySelector(".incidents");
const rows = document.getElementById("rows");
const total = document.getElementById("total");
const filters = document.getElementById("filters");
const message = document.getElementById("message");
const PAGE = 20;
const POLL_MS = 60_000;  // a safety net: the live incident stream refreshes the list at once
let offset = 0;
let latest = 0;

for (const o of document.querySelectorAll("[data-incident-state]")) o.textContent = incidentState(o.value);
for (const o of document.querySelectorAll("[data-category]")) o.textContent = category(o.value);
for (const o of document.querySelectorAll("[data-grade]")) o.textContent = gradeText(o.value);
for (const o of document.querySelectorAll("[data-warning]")) o.textContent = warningText(Number(o.value));

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(filters)) if (v) params.set(k, v);
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  return params;
}

/** The commander and the 五早 clock: in the list's items when the API gives them, else from each incident. */
async function details(items) {
  const missing = items.filter((i) => !("five_early" in i) || !("commander" in i));
  const full = await Promise.all(missing.map((i) => getJSON(`/api/v1/incidents/${i.id}`).catch(() => null)));
  const byId = new Map(full.filter(Boolean).map((f) => [f.id, f]));
  return items.map((i) => ({ ...i, ...(byId.get(i.id) || {}) }));
}

function row(i) {
  const tr = el("tr");
  tr.dataset.incidentId = String(i.id);
  const number = el("td");
  const link = el("a", "", i.number);
  link.href = `/incidents/${i.id}`;
  number.append(link);
  if (i.exercise) number.append(" ", drillBadge());
  const state = el("td");
  state.append(stateBadge(i.state));
  const levels = el("td");
  levels.append(levelBadges(i));
  levels.title = [gradeText(i.grade), warningText(i.warning_level), responseText(i.response_level)].join(" · ");
  const flags = el("td");
  const f = i.five_early || {};
  if (f.report_late) {
    const late = el("span", "flag-late", t("inc.report_late"));
    late.dataset.testid = "report-late";
    flags.append(late);
  } else if (f.report_deadline && !f.reported_at && i.state !== "closed") {
    flags.append(el("span", "muted small", t("inc.report_due", { at: when(f.report_deadline) })));
  }
  const c = i.commander;
  tr.append(number, el("td", "", i.title), el("td", "", `${category(i.category)} · ${i.type}`), state, levels,
    el("td", "", c ? (c.name || c.username) : "—"), flags, el("td", "", when(i.occurred_at)));
  return tr;
}

async function load() {
  const ticket = ++latest;
  const data = await getJSON(`/api/v1/incidents?${query()}`);
  const items = await details(data.items);
  if (ticket !== latest) return;
  rows.replaceChildren(...items.map(row));
  if (!items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("none"));
    td.colSpan = 8;
    tr.append(td);
    rows.append(tr);
  }
  total.textContent = t("inc.total", { n: data.total });
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + PAGE >= data.total;
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

// --- reporting a new incident --------------------------------------------------------------------------

const newForm = document.getElementById("new-incident");
if (newForm) {
  let picker = null;
  const box = document.getElementById("new-box");
  box.addEventListener("toggle", () => {  // the map is drawn once its box is open (Leaflet needs a size)
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
    const body = { title: data.get("title"), category: data.get("category"), type: data.get("type"),
      grade: Number(data.get("grade")), lon: Number(data.get("lon")), lat: Number(data.get("lat")),
      exercise: data.get("exercise") === "true" };
    if (data.get("warning_level")) body.warning_level = Number(data.get("warning_level"));
    if (data.get("commander")) body.commander = data.get("commander").trim();
    if (data.get("occurred_at")) body.occurred_at = data.get("occurred_at");  // local time: the district's
    const codes = String(data.get("area_codes") || "").split(/[\s,，、]+/).filter(Boolean);
    if (codes.length) body.area_codes = codes;
    try {
      const made = await postJSON("/api/v1/incidents", body);
      say(t("inc.created", { number: made.number }));
      window.location.assign(`/incidents/${made.id}`);
    } catch (err) {
      showError(err);
    }
  });
}

async function poll() {
  if (!document.hidden && !(document.activeElement && document.activeElement.closest("form"))) {
    await load().catch(() => {});
  }
  setTimeout(poll, POLL_MS);
}

const soon = debounced(() => {
  if (!(document.activeElement && document.activeElement.closest("form"))) load().catch(() => {});
});
onIncidentEvent(soon);
load().then(() => setTimeout(poll, POLL_MS)).catch(showError);
