// Case detail: facts, deadlines and light, units, map, timeline from the event log, photos, and a form for
// each action the state table allows this user (the API's `allowed_actions`). Every action carries the
// version the page showed: if someone else changed the case meanwhile, the page reloads it and says so.

import { actionLabel, channelLabel, el, errorText, getJSON, LABELS, lightLabel, postJSON, stageLabel, stateLabel, t, tipText, when } from "./common.js";

const main = document.querySelector(".case-page");
const caseId = main.dataset.caseId;
const NEEDS = JSON.parse(main.dataset.needs || "{}");
const API = `/api/v1/cases/${caseId}`;
const message = document.getElementById("message");
const form = document.getElementById("action-form");
const fields = document.getElementById("action-fields");
let current = null;
let chosen = null;
let caseMap = null;

const unitStatus = (s) => (LABELS.unit_status && LABELS.unit_status[s]) || s;

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}

function fact(dl, label, value, testid) {
  if (value === null || value === undefined || value === "") return;
  const dt = el("dt", "", label);
  const dd = el("dd", "", value);
  if (testid) dd.dataset.testid = testid;
  dl.append(dt, dd);
}

function renderFacts(c) {
  document.getElementById("case-number").textContent = c.number;
  const badge = document.getElementById("case-state");
  badge.textContent = stateLabel(c.state);
  badge.dataset.state = c.state;
  document.getElementById("case-matter").textContent = `${c.matter_code} ${c.matter_name}`;
  const facts = document.getElementById("facts");
  facts.replaceChildren();
  fact(facts, t("case.description"), c.description);
  fact(facts, t("col.channel"), channelLabel(c.channel));
  fact(facts, t("col.grid"), `${c.grid_code} ${c.grid_name || ""}`);
  fact(facts, t("col.created"), when(c.created_at));
  const r = c.reporter || {};
  fact(facts, t("case.reporter"), [r.name, r.phone, r.id_number].filter(Boolean).join(" "), "reporter");
  const dl = document.getElementById("deadlines");
  dl.replaceChildren();
  const d = c.deadlines || {};
  fact(dl, t("case.stage"), stageLabel(d.stage));
  fact(dl, t("case.stage_deadline"), d.paused ? t("case.paused") : when(d.stage_deadline));
  if (d.light) {
    const dd = el("dd");
    dd.append(el("span", `light light-${d.light}`, lightLabel(d.light)));
    dl.append(el("dt", "", t("col.light")), dd);
  }
  fact(dl, t("case.case_deadline"), when(d.case_deadline));
  if (d.case_light) {
    const dd = el("dd");
    dd.dataset.testid = "case-light";
    dd.append(el("span", `light light-${d.case_light}`, lightLabel(d.case_light)));
    dl.append(el("dt", "", t("case.case_light")), dd);
  }
  if (d.level) fact(dl, t("case.level"), String(d.level), "level");
  if (d.warning) fact(dl, "⚠", d.warning);
  const crit = c.criteria || {};  // what the shift leader files and closes against
  if (["reported", "accepted", "verifying"].includes(c.state)) fact(dl, t("case.filing_criteria"), crit.filing);
  if (["disposed", "checking", "checked"].includes(c.state)) fact(dl, t("case.closing_criteria"), crit.closing);
  const units = document.getElementById("units");
  units.replaceChildren(...(c.units || []).map((u) =>
    el("li", "", `${u.name || u.unit_id} · ${u.role === "lead" ? t("case.lead") : t("case.assist")} · ${unitStatus(u.status)}`)));
  if (!units.children.length) units.append(el("li", "muted", t("none")));
}

function renderMap(c) {
  if (!window.L) return;
  if (!caseMap) {
    caseMap = L.map("case-map", { zoomControl: true });
    caseMap.attributionControl.setPrefix(false);
    if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(caseMap);
  }
  caseMap.setView([c.lat, c.lon], 16);
  if (!caseMap.gridsDrawn) {  // the unit grids around the case, its own one filled: where it is without tiles
    caseMap.gridsDrawn = true;
    const d = 0.004;
    getJSON(`/api/v1/areas/geojson?level=grid&bbox=${c.lon - d},${c.lat - d},${c.lon + d},${c.lat + d}`).then((fc) => {
      L.geoJSON(fc, {
        style: (f) => (f.properties.code === c.grid_code
          ? { color: "#0b5cad", weight: 2, fillOpacity: 0.15 }
          : { color: "#7a8899", weight: 1, fillOpacity: 0, interactive: false }),  // context only: no tab stops
        onEachFeature: (f, layer) => {
          if (f.properties.code === c.grid_code) layer.bindTooltip(tipText(`${f.properties.code} ${f.properties.name}`));
        },
      }).addTo(caseMap);
      caseMap.eachLayer((layer) => layer instanceof L.CircleMarker && layer.bringToFront());
      document.getElementById("case-map").dataset.grids = String(fc.features.length);
    }).catch(() => {});  // the map is a help, not the record: the grid code is in the facts
  }
  if (!caseMap.dot) caseMap.dot = L.circleMarker([c.lat, c.lon], { radius: 8, color: "#a3201a" }).addTo(caseMap);
}

/** Who acted, as people read it: the user's name (and unit), or the channel for system actors. */
function actorName(e) {
  if (e.actor_name) return e.unit_name ? `${e.actor_name}（${e.unit_name}）` : e.actor_name;
  const [kind, ...source] = e.actor.split(":");
  const system = LABELS.messages && LABELS.messages[`actor.${kind}`];
  return system ? [system, ...source].join(" ") : e.actor;
}

async function renderTimeline() {
  const events = await getJSON(`${API}/events`);
  const list = document.getElementById("timeline");
  list.replaceChildren(...events.map((e) => {
    const li = el("li", "", "");
    li.dataset.action = e.action;
    const time = el("time", "muted", when(e.at));
    time.dateTime = e.at;
    li.append(time, " ", el("strong", "", actionLabel(e.action)), ` · ${actorName(e)}`);
    if (e.to && e.from !== e.to) li.append(` · ${stateLabel(e.from || "")} → ${stateLabel(e.to)}`);
    const p = e.payload || {};
    if (p.amount && p.unit) li.append(` · ${t("form.amount")} ${p.amount} ${t(`form.${p.unit}`)}`);  // what is asked
    const note = e.payload && (e.payload.note || e.payload.reason);
    if (note) li.append(el("div", "note", note));
    return li;
  }));
}

async function renderPhotos() {
  const photos = await getJSON(`${API}/attachments`);
  const box = document.getElementById("photos");
  box.replaceChildren(...photos.map((p) => {
    const fig = el("figure", "photo");
    const img = el("img");
    img.src = `${API}/attachments/${p.id}`;
    img.alt = `${t(`case.${p.kind}`)} ${p.filename || ""}`;
    img.loading = "lazy";
    fig.append(img, el("figcaption", "", t(`case.${p.kind}`)));
    return fig;
  }));
  if (!photos.length) box.append(el("p", "muted", t("none")));
}

// --- actions -------------------------------------------------------------------------------------

function field(labelKey, input, required) {
  const wrap = el("div", "field");
  const id = `f-${input.name}`;
  input.id = id;
  const label = el("label", "", t(labelKey));
  label.htmlFor = id;
  if (required) {
    input.required = true;
    label.append(" ", el("span", "req", `(${t("form.required")})`));
  }
  wrap.append(label, input);
  return wrap;
}

function textArea(name) {
  const area = el("textarea");
  area.name = name;
  area.maxLength = 2000;
  area.rows = 3;
  return area;
}

function select(name, options) {
  const s = el("select");
  s.name = name;
  for (const [value, text] of options) {
    const o = el("option", "", text);
    o.value = value;
    s.append(o);
  }
  return s;
}

async function openForm(action) {
  chosen = action;
  say("");
  document.getElementById("action-form-title").textContent = actionLabel(action);
  fields.replaceChildren();
  const needs = NEEDS[action] || [];
  if (action === "dispatch" || action === "redispatch") {
    const routing = await getJSON(`${API}/routing`);
    const units = routing.candidates || [];
    const lead = select("lead_unit_id", units.map((u) => [String(u.id), `${u.name}（${t(`unit_role.${u.role}`)}）`]));
    if (routing.proposed_lead) lead.value = String(routing.proposed_lead.id);
    fields.append(field("form.lead", lead, true));
    const assist = el("fieldset", "assist");
    assist.append(el("legend", "", t("form.assist")));
    for (const u of units) {
      const label = el("label", "check");
      const box = el("input");
      box.type = "checkbox";
      box.name = "assisting_unit_ids";
      box.value = String(u.id);
      label.append(box, ` ${u.name}`);
      assist.append(label);
    }
    const leadOnly = () => {  // the lead is not also its own assisting unit
      for (const box of assist.querySelectorAll("input")) {
        box.disabled = box.value === lead.value;
        if (box.disabled) box.checked = false;
      }
    };
    lead.addEventListener("change", leadOnly);
    leadOnly();
    fields.append(assist);
  }
  if (action === "rate") {
    fields.append(field("form.satisfaction", select("satisfaction",
      ["very_satisfied", "satisfied", "dissatisfied"].map((s) => [s, t(`sat.${s}`)])), true));
  }
  if (action === "merge") {
    const input = el("input");
    input.name = "master_number";  // the number staff read (310112-20261127-0000010), or an id
    input.maxLength = 32;
    input.pattern = "\\d+|\\d{6}-\\d{8}-\\d{7}";
    input.title = t("form.master_hint");
    fields.append(field("form.master", input, true));
  }
  if (action === "request_extension") {
    const amount = el("input");
    amount.name = "amount";
    amount.type = "number";
    amount.min = "0.5";
    amount.step = "0.5";
    amount.max = "365";
    fields.append(field("form.amount", amount, true));
    fields.append(field("form.unit", select("unit", [["hour", t("form.hour")], ["day", t("form.day")]]), true));
  }
  if (needs.includes("reason")) fields.append(field("form.reason", textArea("reason"), true));
  else if (!["dispatch", "redispatch", "rate", "merge"].includes(action)) {
    fields.append(field("form.note", textArea("note"), needs.includes("note")));
  }
  form.hidden = false;
  form.dataset.action = action;
  const first = fields.querySelector("input, select, textarea");
  if (first) first.focus();
}

/** The id of the case with this number (or this id as typed); an error the form shows when there is none. */
async function caseIdOf(text) {
  if (/^\d+$/.test(text)) return Number(text);
  const found = await getJSON(`/api/v1/cases?q=${encodeURIComponent(text)}&limit=5`);
  const hit = found.items.find((c) => c.number === text);
  if (!hit) throw new Error(`${t("form.master_unknown")}: ${text}`);
  return hit.id;
}

async function payloadFromForm() {
  const data = new FormData(form);
  const payload = { version: current.version };
  for (const [k, v] of data) {
    if (k === "assisting_unit_ids") (payload[k] = payload[k] || []).push(Number(v));
    else if (k === "lead_unit_id") payload[k] = Number(v);
    else if (k === "master_number") payload.master_id = await caseIdOf(v.trim());
    else if (k === "amount") payload[k] = Number(v);
    else if (v !== "") payload[k] = v;
  }
  return payload;
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!form.checkValidity()) {
    form.reportValidity();
    return;
  }
  try {
    current = await postJSON(`${API}/actions/${chosen}`, await payloadFromForm());
    form.hidden = true;
    say(`${actionLabel(chosen)}: ${t("case.done")}`);
    await render(current);
  } catch (err) {
    if (err.status === 409) {  // changed meanwhile, or not possible now: say which, and what is possible
      await reload();
      const allowed = (err.body && err.body.allowed_actions) || [];
      const now = allowed.length ? ` · ${t("case.allowed_now")}: ${allowed.map(actionLabel).join("、")}` : "";
      say(err.body && err.body.stale ? `${t("case.version_conflict")}${now}` : `${errorText(err)}${now}`, "error");
    } else {
      say(errorText(err), "error");
    }
  }
});

function renderActions(c) {
  const box = document.getElementById("actions");
  box.replaceChildren();
  for (const action of c.allowed_actions) {
    const b = el("button", "button", actionLabel(action));
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", () => openForm(action).catch((err) => say(err.message, "error")));
    box.append(b);
  }
  if (!c.allowed_actions.length) box.append(el("p", "muted", t("case.no_actions")));
}

document.getElementById("upload").addEventListener("submit", async (e) => {
  e.preventDefault();
  const response = await fetch(`${API}/attachments`, {
    method: "POST", credentials: "same-origin", body: new FormData(e.target),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    say(`${t("error")}: ${body.detail || response.statusText}`, "error");
    return;
  }
  e.target.reset();
  say(t("case.done"));
  await Promise.all([renderPhotos(), renderTimeline()]);
});

async function render(c) {
  current = c;
  renderFacts(c);
  renderActions(c);
  renderMap(c);
  await Promise.all([renderTimeline(), renderPhotos()]);
  main.dataset.version = String(c.version);
  main.dataset.state = c.state;
}

async function reload() {
  await render(await getJSON(API));
}

reload().catch((err) => say(err.status === 404 ? `404 · ${err.message}` : `${t("error")}: ${err.message}`, "error"));
