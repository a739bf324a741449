// One screening campaign (/campaigns/{id}): its facts, checklist and teams, start/close for those allowed, a
// coverage map colouring communities (or grids, or towns) by the share of their unit grids visited, the coverage
// table, and the visits with their findings linking to the hazard and dispute pages.

import { el, errorText, getJSON, percent, postJSON, t, tipText, when } from "./common.js";

const main = document.querySelector(".campaign");
const id = main.dataset.campaignId;
const API = `/api/v1/campaigns/${id}`;
const message = document.getElementById("message");
const levelForm = document.getElementById("level-form");
let campaign = null;
let map = null;
let shapes = null;

const word = (key, value) => {
  const text = t(key);
  return text === key ? value : text;
};

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}

const showError = (err) => say(errorText(err), "error");

/** Red (nothing visited) through amber to green (every grid visited); grey where the area has no grid. */
export function colour(item) {
  if (!item || !item.grids) return "#9aa5b1";
  const s = item.share;
  if (s >= 1) return "#1e8449";
  if (s >= 0.5) return "#7dbb42";
  if (s > 0) return "#e0a800";
  return "#c0392b";
}

function fact(dl, label, value) {
  dl.append(el("dt", "", label), el("dd", "", value));
}

function showCampaign(c) {
  campaign = c;
  document.getElementById("c-code").textContent = c.code;
  document.getElementById("c-name").textContent = c.name;
  const state = document.getElementById("c-state");
  state.textContent = word(`pc.state.${c.state}`, c.state);
  state.className = `badge state-${c.state}`;
  const dl = document.getElementById("facts");
  dl.replaceChildren();
  fact(dl, t("pc.field.theme"), word(`pc.theme.${c.theme}`, c.theme));
  fact(dl, t("pc.field.area"), c.area ? c.area.name : "—");
  fact(dl, t("pc.field.period"), `${c.start} – ${c.end}`);
  fact(dl, t("pc.field.visits"), String(c.visits));
  if (c.started_at) fact(dl, t("pc.started_at"), when(c.started_at));
  if (c.closed_at) fact(dl, t("pc.closed_at"), when(c.closed_at));
  document.getElementById("checklist").replaceChildren(
    ...c.checklist.map((item) => el("li", "", `${item.question}（${item.key}）`)));
  document.getElementById("teams").replaceChildren(...c.teams.map((u) => el("li", "", `${u.name} · ${u.code}`)));
  const actions = document.getElementById("actions");
  actions.replaceChildren(...c.allowed_actions.map((name) => {
    const b = el("button", "button", t(`pc.action.${name}`));
    b.type = "button";
    b.dataset.action = name;
    b.addEventListener("click", () => act(name));
    return b;
  }));
}

async function act(name) {
  if (name === "close" && !window.confirm(t("pc.confirm_close"))) return;
  try {
    showCampaign(await postJSON(`${API}/actions/${name}`, { version: campaign.version }));
    say(t("pc.done"));
  } catch (err) {
    showError(err);
    getJSON(API).then(showCampaign).catch(() => {});
  }
}

async function drawCoverage() {
  const level = new FormData(levelForm).get("level");
  const cov = await getJSON(`${API}/coverage?level=${encodeURIComponent(level)}`);
  const byCode = Object.fromEntries(cov.items.map((i) => [i.code, i]));
  const tot = cov.totals;
  document.getElementById("totals").textContent = t("pc.totals", {
    visited: tot.visited, grids: tot.grids, share: percent(tot.share), problems: tot.problems,
    findings: tot.findings });
  document.getElementById("coverage-rows").replaceChildren(...cov.items.map((i) => {
    const tr = el("tr");
    tr.dataset.code = i.code;
    tr.append(el("td", "", `${i.name} · ${i.code}`), el("td", "", i.grids), el("td", "", i.visited),
      el("td", "", percent(i.share)), el("td", "", i.problems), el("td", "", i.findings));
    return tr;
  }));
  if (!window.L || !campaign || !campaign.area) return;
  if (!map) {
    map = L.map("coverage-map", { maxZoom: 19 });
    map.attributionControl.setPrefix(false);
    if (main.dataset.tileUrl) L.tileLayer(main.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    map.setView([31.11, 121.38], 11);
  }
  const shapesUrl = `/api/v1/areas/geojson?level=${encodeURIComponent(level)}&simplify=${level === "grid" ? 0 : 10}`;
  // the campaign's area, or (for staff whose jurisdiction is a part of it) the parts of it they may see
  const fc = await getJSON(`${shapesUrl}&within=${encodeURIComponent(campaign.area.code)}`)
    .catch(() => getJSON(`${shapesUrl}&bbox=${campaign.area.bbox.join(",")}`));
  if (shapes) shapes.remove();
  shapes = L.geoJSON(fc, {
    style: (f) => {
      const c = colour(byCode[f.properties.code]);
      return { color: "#34495e", weight: level === "grid" ? 0.5 : 1, fillColor: c, fillOpacity: 0.55 };
    },
    onEachFeature: (f, layer) => {
      const i = byCode[f.properties.code];
      layer.bindTooltip(tipText(i ? `${i.name}：${i.visited}/${i.grids}（${percent(i.share)}）` : f.properties.name));
    },
  }).addTo(map);
  if (fc.features && fc.features.length) map.fitBounds(shapes.getBounds(), { padding: [10, 10] });
  document.getElementById("coverage-map").dataset.features = String((fc.features || []).length);
}

function findingLink(f) {
  const a = el("a", `finding finding-${f.kind}`, `${t(`pc.finding.${f.kind}`)} ${f.number || f.id}`
    + (f.title ? ` ${f.title}` : ""));
  a.href = `/${f.kind === "hazard" ? "hazards" : "disputes"}/${f.id}`;
  return a;
}

async function loadVisits() {
  const data = await getJSON(`${API}/visits?limit=200`);
  document.getElementById("visits-total").textContent = t("scr.total", { n: data.total });
  const keys = campaign ? campaign.checklist.map((i) => i.key) : [];
  document.getElementById("visit-rows").replaceChildren(...data.items.map((v) => {
    const tr = el("tr");
    tr.dataset.visitId = String(v.id);
    const answers = el("td");
    for (const k of keys.length ? keys : Object.keys(v.answers)) {
      const a = v.answers[k];
      answers.append(el("span", `answer answer-${a === "n/a" ? "na" : a}`, `${k}: ${word(`pc.answer.${a}`, a)}`), " ");
    }
    const findings = el("td");
    for (const f of v.findings) findings.append(findingLink(f), el("br"));
    if (!v.findings.length) findings.textContent = "—";
    tr.append(el("td", "", when(v.visited_at)), el("td", "", `${v.grid_name || ""} · ${v.grid_code}`),
      el("td", "", v.unit ? `${v.actor}（${v.unit}）` : v.actor), answers, findings, el("td", "", v.note || ""));
    return tr;
  }));
}

levelForm.addEventListener("change", () => drawCoverage().catch(showError));

async function start() {
  showCampaign(await getJSON(API));
  await Promise.all([drawCoverage(), loadVisits()]);
  main.dataset.loaded = String(Date.now());
}

start().catch(showError);
