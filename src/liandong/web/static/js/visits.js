// Campaign visits on the grid worker's phone (巡查走访): the running campaigns a team of the worker's is assigned
// to, with their checklists and the worker's unit grids in them, are kept on the phone (IndexedDB, per account),
// so a visit is recorded offline once they were loaded. A visit (every checklist question answered, findings that
// become hazards or disputes) waits in the outbox like a report and is sent with its visit_key (outbox.js).

import { el, errorText, getJSON, say, t, when } from "./common.js";
import { store } from "./idb.js";
import * as outbox from "./outbox.js";

const GRID_LIMIT = 2000; // grids kept per campaign; a worker over more (a district-wide one) types any other's code
const kept = store("liandong-kept", "campaigns"); // { id: account, at, campaigns }: replaced by each load online
// the values the server takes for an answer and a finding's fields (the domain's lists, web/mobile.py VOCAB)
const VOCAB = JSON.parse(document.querySelector(".mobile").dataset.vocab || "{}");

const form = document.getElementById("v-form");
const fields = document.getElementById("v-fields");
const status = document.getElementById("v-status");
const campaignSelect = document.getElementById("v-campaign");
const gridInput = document.getElementById("v-grid");
const gridHint = document.getElementById("v-grid-hint");
const questions = document.getElementById("v-questions");
const findings = document.getElementById("v-findings");
const errorBox = document.getElementById("v-error");
const okBox = document.getElementById("v-ok");
const editBox = document.getElementById("v-editing");

let owner = "";
let onQueued = async () => {};
let campaigns = [];
let fresh = false; // loaded from the server in this page (not the kept copy)
let loaded = Promise.resolve(); // the load under way, or the last one
let shown = null; // id of the campaign whose checklist the form shows
let position = null; // the phone's last position {lon, lat}
let editing = null; // the refused outbox item the form is fixing
let seq = 0;

/** The server's choices for a field ("answer", "sector", "grade", "type", "risk"), as the page carries them. */
const choices = (name) => VOCAB[name] || [];

// --- the campaigns, kept for offline use -------------------------------------------------------------

function gridsOf(fc) {
  return (fc.features || []).map((f) => ({
    code: f.properties.code,
    name: f.properties.name,
    polygons: !f.geometry ? [] : f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates,
  }));
}

/** Whether the worker sees the whole of `area` (the areas list is cut to the caller's sight, never refused). */
async function inSight(area) {
  const found = await getJSON(`/api/v1/areas?level=${area.level}&q=${encodeURIComponent(area.code)}&limit=100`);
  return found.items.some((a) => a.code === area.code);
}

/**
 * The unit grids of the campaign's area the worker sees, and whether the list was cut short: all of them (the
 * export inside the area) when the worker sees the area; else the worker's sight lies inside the area or beside
 * it, and of the grids in sight around the area only those the campaign counts as its own (its coverage) are kept.
 */
async function campaignGrids(c) {
  const bbox = c.area && c.area.bbox.every((x) => x !== null) ? c.area.bbox : null;
  if (!bbox) return { grids: [], partial: false };
  let fc;
  let own = null;
  if (await inSight(c.area)) { // (the export refuses, 404, an area outside the caller's sight: asked only here)
    const within = encodeURIComponent(c.area.code);
    fc = await getJSON(`/api/v1/areas/geojson?level=grid&within=${within}&limit=${GRID_LIMIT}`);
  } else {
    fc = await getJSON(`/api/v1/areas/geojson?level=grid&bbox=${bbox.join(",")}&limit=${GRID_LIMIT}`);
    own = new Set((await getJSON(`/api/v1/campaigns/${c.id}/coverage?level=grid`)).items.map((g) => g.code));
  }
  const grids = gridsOf(fc).filter((g) => !own || own.has(g.code));
  return { grids, partial: fc.features.length >= GRID_LIMIT };
}

async function fetchCampaigns() {
  const list = await getJSON("/api/v1/campaigns?mine=true&state=running&limit=50");
  const found = [];
  for (const brief of list.items) {
    const c = await getJSON(`/api/v1/campaigns/${brief.id}`);
    if (!c.can_visit) continue;
    found.push({ id: c.id, code: c.code, name: c.name, checklist: c.checklist, ...await campaignGrids(c) });
  }
  return found;
}

/** The campaigns from the server, kept; the kept copy when there is no network (or the server fails). */
function load() {
  loaded = fill();
  return loaded;
}

async function fill() {
  let note = "";
  try {
    campaigns = await fetchCampaigns();
    fresh = true;
    await kept.put({ id: owner, at: Date.now(), campaigns });
  } catch (err) {
    const copy = await kept.get(owner).catch(() => null);
    if (copy) {
      campaigns = copy.campaigns;
      note = t("mv.kept_at", { at: when(new Date(copy.at).toISOString()) });
    } else {
      note = err instanceof TypeError ? t("mv.not_loaded") : errorText(err);
    }
  }
  show(note);
}

/** Load again when the network is back, if only the kept copy (or nothing) was shown. */
export function refresh() {
  if (!fresh) load();
}

function show(note) {
  const chosen = campaignSelect.value;
  campaignSelect.replaceChildren(...campaigns.map((c) => {
    const o = el("option", "", `${c.name}（${c.code}）`);
    o.value = String(c.id);
    return o;
  }));
  if (campaigns.some((c) => String(c.id) === chosen)) campaignSelect.value = chosen;
  fields.hidden = !campaigns.length;
  form.dataset.campaigns = String(campaigns.length);
  say(status, note || (campaigns.length ? "" : t("mv.none")));
  if (campaigns.length) choose();
}

const current = () => campaigns.find((c) => String(c.id) === campaignSelect.value) || null;

/** The chosen campaign's grids and checklist (answers given so far stay while it is the same campaign). */
function choose() {
  const c = current();
  if (!c || shown === c.id) return;
  shown = c.id;
  document.getElementById("v-grids").replaceChildren(...c.grids.map((g) => {
    const o = el("option", "", g.name);
    o.value = g.code;
    return o;
  }));
  if (!c.grids.some((g) => g.code === gridInput.value)) gridInput.value = c.grids.length === 1 ? c.grids[0].code : "";
  gridHint.textContent = c.partial ? t("mv.partial", { n: c.grids.length }) : t("mv.grid_hint");
  questions.replaceChildren(...c.checklist.map(question));
}
campaignSelect.addEventListener("change", choose);

/** One checklist question: its answers (ok / problem / n/a), one of them required. */
function question(item) {
  const set = el("fieldset", "question");
  set.dataset.key = item.key;
  set.append(el("legend", "", item.question));
  for (const answer of choices("answer")) {
    const label = el("label", "answer-choice");
    const input = el("input");
    input.type = "radio";
    input.name = `answer-${item.key}`;
    input.value = answer;
    input.required = true;
    label.append(input, ` ${t(`pc.answer.${answer}`)}`);
    set.append(label);
  }
  return set;
}

// --- where: the grid at the phone's position, or the one chosen --------------------------------------

/** Even-odd over every ring of a GeoJSON polygon: inside the outer ring and outside its holes. */
function inside(polygon, lon, lat) {
  let odd = false;
  for (const ring of polygon) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) odd = !odd;
    }
  }
  return odd;
}

const within = (grid, p) => grid.polygons.some((polygon) => inside(polygon, p.lon, p.lat));

/** The kept grid at a point: the lowest code first (the export's order), as the server decides on shared edges. */
const gridAt = (c, p) => c.grids.find((g) => within(g, p)) || null;

/** A finding's place: the phone's position when it lies in the chosen grid, else the grid's middle. */
function findingPoint() {
  const c = current();
  const grid = c && c.grids.find((g) => g.code === gridInput.value.trim());
  if (!grid) return position;
  if (position && within(grid, position)) return position;
  const ring = grid.polygons.length ? grid.polygons[0][0].slice(0, -1) : [];
  if (!ring.length) return position;
  const middle = { lon: ring.reduce((s, v) => s + v[0], 0) / ring.length,
    lat: ring.reduce((s, v) => s + v[1], 0) / ring.length };
  return within(grid, middle) ? middle : { lon: ring[0][0], lat: ring[0][1] };
}

async function gridHere(p) {
  const c = current();
  if (!c) return null;
  const hit = gridAt(c, p);
  if (hit || !c.partial || !navigator.onLine) return hit;
  // not among the kept grids of a list cut short: ask the server, without leaving the page on a refusal
  const url = `/api/v1/areas/locate?lon=${p.lon}&lat=${p.lat}`;
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .catch(() => null);
  return response && response.ok ? (await response.json()).grid : null;
}

function locate(quiet = false) {
  if (!navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition(
    async (pos) => {
      position = { lon: pos.coords.longitude, lat: pos.coords.latitude };
      const grid = await gridHere(position);
      if (grid) gridInput.value = grid.code;
      if (grid || !quiet) gridHint.textContent = grid ? t("mv.here_found", grid) : t("mv.here_none");
    },
    () => quiet || say(errorBox, t("report.gps_failed")),
    { enableHighAccuracy: true, timeout: 10000 },
  );
}
document.getElementById("v-here").addEventListener("click", () => {
  say(errorBox, "");
  locate();
});

/** The tab opened: with no grid chosen, the one where the phone is (only if the position is ours without asking). */
export async function opened() {
  await loaded;
  if (!current() || gridInput.value || !navigator.geolocation || !navigator.permissions) return;
  const permission = await navigator.permissions.query({ name: "geolocation" }).catch(() => null);
  if (permission && permission.state === "granted") locate(true);
}

// --- findings: each becomes a hazard or a dispute ------------------------------------------------------

function field(li, name, labelKey, control) {
  control.id = `${li.id}-${name}`;
  control.name = name;
  const label = el("label", "", t(labelKey));
  label.htmlFor = control.id;
  const wrap = el("div", "field");
  wrap.append(label, control);
  li.append(wrap);
  return control;
}

/** A choice among the server's values for `name`, labelled by `${prefix}${value}`. */
function select(name, prefix, { blank = false } = {}) {
  const s = el("select");
  if (blank) s.append(el("option", "", "—"));
  for (const value of choices(name)) {
    const o = el("option", "", t(`${prefix}${value}`));
    o.value = value;
    s.append(o);
  }
  if (blank) {
    s.options[0].value = "";
    s.required = true;
  }
  return s;
}

function text(tag, { required = false, max = 2000 } = {}) {
  const input = el(tag);
  if (tag === "textarea") input.rows = 2;
  input.maxLength = max;
  input.required = required;
  return input;
}

/** Parties, one a line: a name, and a phone after it when there is one. */
function partiesOf(value) {
  return value.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const m = line.match(/^(.+?)[\s,，、]+(\+?[\d][\d\s()-]{4,19})$/);
    return m ? { name: m[1].trim(), phone: m[2].trim() } : { name: line };
  });
}

const partiesText = (parties) => (parties || []).map((p) => (p.phone ? `${p.name}，${p.phone}` : p.name)).join("\n");

function renumber() {
  [...findings.children].forEach((li, i) => {
    li.querySelector("h3").textContent = `${t(`pc.finding.${li.dataset.kind}`)} ${i + 1}`;
  });
}

/** A finding's fields (filled from `f` when fixing a refused visit). */
function addFinding(kind, f = {}) {
  seq += 1;
  const li = el("li", `finding finding-${kind}`);
  li.id = `v-finding-${seq}`;
  li.dataset.kind = kind;
  if (Number.isFinite(f.lon) && Number.isFinite(f.lat)) Object.assign(li.dataset, { lon: f.lon, lat: f.lat });
  li.append(el("h3"));
  field(li, "title", "scr.field.title", text("input", { required: true, max: 200 })).value = f.title || "";
  if (kind === "hazard") {
    field(li, "sector", "scr.field.sector", select("sector", "hz.sector.", { blank: true })).value = f.sector || "";
    field(li, "grade", "scr.field.grade", select("grade", "hz.grade.")).value = f.grade || "general";
  } else {
    field(li, "type", "scr.field.type", select("type", "md.type.", { blank: true })).value = f.type || "";
    field(li, "risk", "scr.field.risk", select("risk", "md.risk.")).value = f.risk || "blue";
    field(li, "parties", "mv.parties", text("textarea", { required: true })).value = partiesText(f.parties);
  }
  field(li, "description", "scr.field.description", text("textarea")).value = f.description || "";
  const remove = el("button", "button", t("mv.remove_finding"));
  remove.type = "button";
  remove.setAttribute("aria-describedby", li.id);
  remove.addEventListener("click", () => {
    li.remove();
    renumber();
  });
  li.append(remove);
  findings.append(li);
  renumber();
  return li;
}
document.getElementById("v-add-hazard").addEventListener("click", () => addFinding("hazard").querySelector("input").focus());
document.getElementById("v-add-dispute").addEventListener("click", () => addFinding("dispute").querySelector("input").focus());

/** A finding as sent: at its own saved place (a refused visit's, being fixed) when it has one, else at `point`. */
function findingOf(li, point) {
  const value = (name) => li.querySelector(`[name="${name}"]`).value.trim();
  const at = li.dataset.lon ? { lon: Number(li.dataset.lon), lat: Number(li.dataset.lat) } : point;
  const f = { kind: li.dataset.kind, title: value("title"), lon: Number(at.lon.toFixed(7)),
    lat: Number(at.lat.toFixed(7)) };
  if (f.kind === "hazard") Object.assign(f, { sector: value("sector"), grade: value("grade") });
  else Object.assign(f, { type: value("type"), risk: value("risk"), parties: partiesOf(value("parties")) });
  if (value("description")) f.description = value("description");
  return f;
}

// --- saving into the outbox, and fixing a refused visit ------------------------------------------------

function reset() {
  for (const input of questions.querySelectorAll("input")) input.checked = false;
  form.elements.note.value = "";
  findings.replaceChildren();
}

function stopEdit() {
  editing = null;
  editBox.hidden = true;
  reset();
}
document.getElementById("v-cancel-edit").addEventListener("click", stopEdit);

/** The outbox dropped `id`: the form lets it go too. */
export function forget(id) {
  if (editing && editing.id === id) stopEdit();
}

/** Whether the form can take a refused visit back (its campaign is still on the worker's list). */
export const canEdit = (item) => campaigns.some((c) => c.id === item.campaignId);

export function edit(item) {
  document.getElementById("tab-visits").click();
  campaignSelect.value = String(item.campaignId);
  choose();
  reset();
  gridInput.value = item.body.grid_code;
  for (const [key, answer] of Object.entries(item.body.answers)) {
    const input = questions.querySelector(`input[name="answer-${CSS.escape(key)}"][value="${CSS.escape(answer)}"]`);
    if (input) input.checked = true;
  }
  form.elements.note.value = item.body.note || "";
  for (const f of item.body.findings) addFinding(f.kind, f);
  editing = item;
  editBox.hidden = false;
  say(errorBox, "");
  okBox.hidden = true;
  form.scrollIntoView();
}

/** The outbox's line for a visit. */
export function describe(item) {
  const b = item.body;
  return t("mv.item_text", {
    campaign: item.campaignName, grid: item.gridName ? `${b.grid_code} ${item.gridName}` : b.grid_code,
    problems: Object.values(b.answers).filter((a) => a === "problem").length, findings: b.findings.length,
  });
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  say(errorBox, "");
  okBox.hidden = true;
  const c = current();
  for (const input of form.querySelectorAll("input[type=text], input:not([type]), textarea")) input.value = input.value.trim();
  if (!c || !form.reportValidity()) return;
  const lis = [...findings.children];
  const point = findingPoint();
  if (lis.some((li) => !point && !li.dataset.lon)) return say(errorBox, t("mv.no_point"));
  const body = {
    grid_code: gridInput.value,
    // when the visit was made, not when it reaches the server (kept when a refused one is fixed)
    visited_at: editing ? editing.body.visited_at : new Date().toISOString(),
    answers: Object.fromEntries([...questions.querySelectorAll("input:checked")].map((i) => [i.closest("fieldset").dataset.key, i.value])),
    findings: lis.map((li) => findingOf(li, point)),
  };
  if (form.elements.note.value) body.note = form.elements.note.value;
  const grid = c.grids.find((g) => g.code === body.grid_code);
  const visit = { kind: "visit", campaignId: c.id, campaignName: c.name, gridName: grid ? grid.name : null, body };
  const save = form.querySelector("[type=submit]");
  save.disabled = true; // a second tap while this one is kept would queue the visit twice, under two keys
  try {
    if (editing) await outbox.resend(editing.id, visit);
    else await outbox.put({ id: crypto.randomUUID(), created: Date.now(), owner, ...visit });
  } finally {
    save.disabled = false;
  }
  stopEdit();
  say(okBox, t("m.queued"));
  await onQueued();
});

/** Start: `account` owns what is kept and queued here; `queued` runs once a visit waits in the outbox. */
export function start(account, queued) {
  owner = account;
  onQueued = queued;
  return load();
}
