// The annual report page: one year of the district (within the caller's jurisdiction) from GET /api/v1/reports/annual
// — cases reported, accepted, filed and closed with the closure rate and the change on the year before; hazards and
// disputes; incidents by category and grade with their mean 五早 intervals; the towns and the departments with their
// scores and grades in the grades' colours. Choosing a year loads that year's page (the downloads follow it).

import { figureText, gradeBadge, indicatorName, number } from "./assess.js";
import { el, errorText, getJSON, percent, say, t } from "./common.js";
import { category, duration, gradeText, ROMAN } from "./emergency.js";

const main = document.querySelector(".annual-page");
const form = document.getElementById("filters");
const message = document.getElementById("message");
const year = Number(main.dataset.year);
const COLOURS = Object.fromEntries(JSON.parse(main.dataset.grades).map((g) => [g.grade, g.colour]));
const ROW_META = new Set(["id", "name", "code", "score", "grade", "rank"]);
/** The rates among a table's figures (the report names them so: closure_rate, rework_rate…). */
const isRate = (key) => key.endsWith("_rate");

form.elements.year.addEventListener("change", () => form.requestSubmit());

function showCases(cases) {
  for (const node of document.querySelectorAll("#cases [data-figure]")) {
    const key = node.dataset.figure;
    node.textContent = figureText(cases[key], isRate(key));
  }
  for (const node of document.querySelectorAll("#cases [data-change]")) {
    const key = node.dataset.change;
    const change = cases.change[key];
    if (isRate(key)) {
      node.textContent = t("ar.previous", { v: figureText(cases.previous[key], true) });
    } else if (change === null || change === undefined) {
      node.textContent = t("ar.no_change");
    } else {
      node.textContent = t("ar.change", { d: `${change > 0 ? "+" : ""}${percent(change)}` });
      node.dataset.direction = change > 0 ? "up" : change < 0 ? "down" : "same";
    }
  }
}

function showFigures(id, figures) {
  for (const node of document.querySelectorAll(`#${id} [data-figure]`)) node.textContent = number(figures[node.dataset.figure] ?? 0);
}

function showIncidents(incidents) {
  document.getElementById("incidents-total").textContent = t("ar.incidents_total", { n: incidents.total });
  for (const th of document.querySelectorAll("[data-grade-head]")) {
    th.textContent = ROMAN[th.dataset.gradeHead];
    th.title = gradeText(th.dataset.gradeHead);
  }
  const intervals = [...document.querySelectorAll("#incidents-table [data-interval]")].map((th) => th.dataset.interval);
  document.getElementById("incidents-rows").replaceChildren(...incidents.by_category.map((g) => {
    const tr = el("tr");
    tr.dataset.category = g.key;
    tr.append(el("th", null, category(g.key)), el("td", null, g.count));
    for (const grade of [1, 2, 3, 4]) tr.append(el("td", null, g.grades[grade] || 0));
    tr.append(el("td", null, g.report_late));
    for (const i of intervals) tr.append(el("td", null, duration(g.intervals[i].mean) || "—"));
    tr.firstChild.scope = "row";
    return tr;
  }));
}

/** A table of towns or departments: rank, name, the report's figures in its order, score and grade. */
function showTable(id, rows) {
  const tableEl = document.getElementById(id);
  const keys = rows.length ? Object.keys(rows[0]).filter((k) => !ROW_META.has(k)) : [];
  const head = [t("as.rank"), t("as.name"), ...keys.map((k) => indicatorName(k)), t("as.score")];
  tableEl.tHead.rows[0].replaceChildren(...head.map((text) => {
    const th = el("th", null, text);
    th.scope = "col";
    return th;
  }));
  const body = tableEl.tBodies[0];
  if (!rows.length) {
    const td = el("td", "muted", t("ar.none"));
    const tr = el("tr");
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...rows.map((r) => {
    const tr = el("tr");
    tr.dataset.objectId = String(r.id);
    const name = el("th", null, r.name);
    name.scope = "row";
    tr.append(el("td", null, r.rank ?? "—"), name, ...keys.map((k) => el("td", null, figureText(r[k], isRate(k)))));
    const score = el("td", "as-score");
    if (r.score === null) score.textContent = figureText(null);
    else score.append(number(r.score), " ", gradeBadge(r.grade, COLOURS[r.grade]));
    tr.append(score);
    return tr;
  }));
}

async function load() {
  const heading = document.getElementById("report");
  try {
    const report = await getJSON(`/api/v1/reports/annual?year=${year}`);
    showCases(report.cases);
    showFigures("hazards", report.hazards);
    showFigures("disputes", report.disputes);
    showIncidents(report.incidents);
    showTable("towns-table", report.towns);
    showTable("departments-table", report.departments);
    heading.dataset.year = String(report.year);
  } catch (err) {
    say(message, errorText(err));
  } finally {
    heading.setAttribute("aria-busy", "false");
  }
}

load();
