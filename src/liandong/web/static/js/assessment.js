// The assessment page (考核): one object type over a period (a month, a quick choice or any from–to), read from
// GET /api/v1/assessment — the ranking with each score's grade in the grade's configured colour, the previous
// period's score and the change, the scored indicators and the other rates; a bar chart of the scores and the top
// objects' scores over the last six months (one call per month). Clicking a figure lists the cases behind it
// (GET /api/v1/assessment/drill: a rate's numerator and denominator), paged, linked to the case pages, with the
// list's total set beside the figure. The filters live in the address, so a reload or the language switch keeps
// them.

import { figureText, gradeBadge, indicatorName, noData, number } from "./assess.js";
import { channelLabel, el, errorText, getJSON, say, stateLabel, t, when } from "./common.js";

const main = document.querySelector(".assessment-page");
const form = document.getElementById("filters");
const message = document.getElementById("message");
const table = document.getElementById("ranking");
const headRow = document.getElementById("head-row");
const rowsBox = document.getElementById("rows");
const drillBox = document.getElementById("drill");
const drillRows = document.getElementById("drill-rows");
const drillParts = document.getElementById("drill-parts");
const drillTotal = document.getElementById("drill-total");
const TOP = 5;  // objects drawn in the trend chart
const TREND_MONTHS = 6;
const BARS = 20;  // bars in the score chart: more stay readable in the table
const DRILL_PAGE = 20;
const TODAY = main.dataset.today;  // the district's today, from the server (its clock, its time zone)

let state = { object: main.dataset.object, from: main.dataset.from, to: main.dataset.to };
let data = null;  // the assessment shown
let ticket = 0;
let drill = null;  // {row, key, part, offset} of the open drill-down

// --- dates: ISO days of the district; months counted in UTC so that no local zone shifts them ------------------

const day = (y, m, d) => new Date(Date.UTC(y, m, d)).toISOString().slice(0, 10);  // m from 0; overflow rolls
const [TY, TM] = TODAY.split("-").map(Number);
const upToToday = (iso) => (iso > TODAY ? TODAY : iso);
/** A calendar month (m from 0, may roll over the year) up to today. */
const month = (y, m) => [day(y, m, 1), upToToday(day(y, m + 1, 0))];
const QUICK = {
  this_month: () => month(TY, TM - 1),
  last_month: () => month(TY, TM - 2),
  this_quarter: () => [day(TY, Math.floor((TM - 1) / 3) * 3, 1), TODAY],
  this_year: () => [day(TY, 0, 1), TODAY],
};

/** The month the period is, when it is one (whole, or this one up to today). */
function monthOf(from, to) {
  const [y, m, d] = from.split("-").map(Number);
  return d === 1 && month(y, m - 1)[1] === to ? from.slice(0, 7) : "";
}

const label = (key) => indicatorName(key, data ? data.labels : {});

// --- the ranking -------------------------------------------------------------------------------------------

/** The columns after the scores: the weighted indicators in their order, then the other rates. */
function columns() {
  return [...Object.keys(data.weights), ...Object.keys(data.rates).filter((k) => !(k in data.weights))];
}

/** What a figure counts for the drill-down: a count itself, a rate's numerator or denominator. */
function counted(key, part) {
  const rate = data.rates[key];
  if (rate) return rate[part];
  return key === "filed_per_1000" ? "filed" : key;
}

function figureCell(r, key) {
  const td = el("td", "as-fig-cell");
  const value = r.indicators[key];
  const rate = data.rates[key];
  const button = el("button", "as-fig");
  button.type = "button";
  button.dataset.key = key;
  button.append(figureText(value, rate));
  if (rate) button.append(el("small", "muted", ` ${r.indicators[rate.numerator]}/${r.indicators[rate.denominator]}`));
  if (value === null) button.classList.add("no-data");
  button.title = label(key);
  button.addEventListener("click", () => openDrill(r, key, rate ? "numerator" : null));
  td.append(button);
  return td;
}

function changeCell(change) {
  const td = el("td", "as-change");
  if (change === null || change === undefined) {
    td.textContent = "—";
    return td;
  }
  const dir = change > 0 ? "up" : change < 0 ? "down" : "same";
  const arrow = { up: "▲", down: "▼", same: "＝" }[dir];
  td.append(el("span", `as-arrow as-${dir}`, `${arrow} ${change > 0 ? "+" : ""}${number(change)}`));
  td.dataset.change = dir;
  return td;
}

function rankingRow(r, keys) {
  const tr = el("tr");
  tr.dataset.objectId = String(r.id);
  tr.append(el("td", "as-rank", r.rank ?? "—"));
  const name = el("th", "as-name", r.name);
  name.scope = "row";
  if (r.code && r.code !== r.name) name.append(el("small", "muted", ` ${r.code}`));
  tr.append(name);
  const score = el("td", "as-score");
  if (r.score === null) score.textContent = noData();
  else score.append(el("span", "as-score-value", number(r.score)), " ", gradeBadge(r.grade, r.grade_colour));
  const left = r.unscored.filter((k) => k in data.weights);
  if (left.length) score.title = t("as.unscored", { keys: left.map(label).join("、") });
  tr.append(score, el("td", "as-previous", r.previous_score === null ? noData() : number(r.previous_score)));
  tr.append(changeCell(r.change));
  for (const key of keys) tr.append(figureCell(r, key));
  return tr;
}

function showRanking() {
  const keys = columns();
  headRow.replaceChildren(...[t("as.rank"), t("as.name"), t("as.score"), t("as.previous"), t("as.change")]
    .map((text) => el("th", null, text)), ...keys.map((k) => {
    const th = el("th", "as-fig-head", label(k));
    th.dataset.key = k;
    if (k in data.weights) th.append(el("small", "muted", ` ${data.weights[k]}%`));
    return th;
  }));
  for (const th of headRow.children) th.scope = "col";
  rowsBox.replaceChildren(...data.rows.map((r) => rankingRow(r, keys)));
  if (!data.rows.length) {
    const td = el("td", "muted", t("as.no_rows"));
    td.colSpan = 5 + keys.length;
    const tr = el("tr");
    tr.append(td);
    rowsBox.append(tr);
  }
  const p = data.period;
  document.getElementById("period").textContent = t("as.period", {
    from: p.from, to: p.to, days: p.days, pfrom: data.previous_period.from, pto: data.previous_period.to });
}

function showNotes() {
  document.getElementById("weights").replaceChildren(...Object.entries(data.weights).map(([k, w]) => {
    const li = el("li", null, `${label(k)} ${w}%`);
    li.dataset.key = k;
    return li;
  }));
  document.getElementById("grades").replaceChildren(...data.grades.map((g) => {
    const li = el("li", "as-grade-band");
    li.append(gradeBadge(g.grade, g.colour), " ", t("as.grade_band", { grade: g.grade, name: g.name, min: number(g.min) }));
    return li;
  }));
  document.getElementById("missed-box").hidden = !data.missed_definition;
  document.getElementById("missed").textContent = data.missed_definition || "";
}

// --- the charts ----------------------------------------------------------------------------------------------

const charts = {};
function chart(id) {
  if (!window.echarts) return null;
  if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  return charts[id];
}
window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));

function showScores() {
  const scored = data.rows.filter((r) => r.score !== null).slice(0, BARS).reverse();
  const box = document.getElementById("chart-scores");
  box.dataset.bars = String(scored.length);
  const c = chart("chart-scores");
  if (!c) return;
  c.setOption({
    grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", min: 0, max: 100 },
    yAxis: { type: "category", data: scored.map((r) => r.name) },
    series: [{ type: "bar", data: scored.map((r) => ({ value: r.score, itemStyle: { color: r.grade_colour } })),
               label: { show: true, position: "right", formatter: (p) => `${number(p.value)} ${scored[p.dataIndex].grade}` } }],
    tooltip: { trigger: "axis" },
  }, true);
}

/** The months of the trend: the period's month and the five before it. */
function trendMonths() {
  const [y, m] = state.to.split("-").map(Number);
  return Array.from({ length: TREND_MONTHS }, (_, i) => month(y, m - TREND_MONTHS + i));
}

async function showTrend(mine) {
  const top = data.rows.filter((r) => r.score !== null).slice(0, TOP);
  const box = document.getElementById("chart-trend");
  document.getElementById("trend-caption").textContent = t("as.chart_trend", { n: top.length || TOP });
  const months = trendMonths();
  const results = await Promise.all(months.map(([from, to]) => getJSON(query("/api/v1/assessment", { from, to }))));
  if (mine !== ticket) return;
  box.dataset.months = String(results.length);
  box.dataset.lines = String(top.length);
  const c = chart("chart-trend");
  if (!c) return;
  c.setOption({
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    legend: { top: 0, type: "scroll" },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: months.map(([from]) => from.slice(0, 7)) },
    yAxis: { type: "value", min: 0, max: 100 },
    series: top.map((r) => ({
      name: r.name, type: "line", connectNulls: false, symbolSize: 8,
      data: results.map((res) => (res.rows.find((x) => x.id === r.id) || { score: null }).score),
    })),
  }, true);
}

// --- the drill-down ----------------------------------------------------------------------------------------

function caseRow(item) {
  const tr = el("tr");
  tr.dataset.caseId = String(item.id);
  const link = el("a", null, item.number);
  link.href = `/cases/${item.id}`;
  const number_ = el("td");
  number_.append(link);
  tr.append(number_, el("td", null, item.matter_name), el("td", null, channelLabel(item.channel)),
            el("td", null, stateLabel(item.state)), el("td", null, when(item.created_at)));
  return tr;
}

function partTabs() {
  const rate = data.rates[drill.key];
  drillParts.hidden = !rate;
  if (!rate) return drillParts.replaceChildren();
  drillParts.replaceChildren(...["numerator", "denominator"].map((part) => {
    const tab = el("button", null, t(`as.drill.${part}`, {
      label: label(rate[part]), n: number(drill.row.indicators[rate[part]]) }));
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.dataset.part = part;
    tab.setAttribute("aria-selected", String(part === drill.part));
    tab.addEventListener("click", () => {
      drill = { ...drill, part, offset: 0 };
      partTabs();
      loadDrill().catch((err) => say(message, errorText(err)));
    });
    return tab;
  }));
}

async function loadDrill() {
  const { row, key, part, offset } = drill;
  const asked = drill;
  const params = { id: row.id, indicator: key, limit: DRILL_PAGE, offset };
  if (part) params.part = part;
  const body = await getJSON(query("/api/v1/assessment/drill", params));
  if (asked !== drill) return;
  const figure = row.indicators[counted(key, part)];
  drillBox.dataset.total = String(body.total);
  drillBox.dataset.figure = String(figure);
  drillBox.dataset.part = part || "";
  drillTotal.replaceChildren(el("strong", null, t("as.drill.total", { n: number(body.total) })), " · ",
    el("span", body.total === figure ? "as-match" : "as-differs",
       t(body.total === figure ? "as.drill.matches" : "as.drill.differs", { n: number(figure) })));
  drillRows.replaceChildren(...body.items.map(caseRow));
  document.getElementById("drill-prev").disabled = offset === 0;
  document.getElementById("drill-next").disabled = offset + body.items.length >= body.total;
}

function openDrill(row, key, part) {
  drill = { row, key, part, offset: 0 };
  const shown = figureText(row.indicators[key], data.rates[key]);
  document.getElementById("drill-title").textContent = `${row.name} · ${label(key)} ${shown}`;
  drillBox.dataset.objectId = String(row.id);
  drillBox.dataset.key = key;
  drillBox.hidden = false;
  partTabs();
  drillRows.replaceChildren();
  loadDrill().then(() => drillBox.focus()).catch((err) => say(message, errorText(err)));
}

function closeDrill() {
  drill = null;
  drillBox.hidden = true;
}

document.getElementById("drill-close").addEventListener("click", closeDrill);
document.getElementById("drill-prev").addEventListener("click", () => {
  drill = { ...drill, offset: Math.max(0, drill.offset - DRILL_PAGE) };
  loadDrill().catch((err) => say(message, errorText(err)));
});
document.getElementById("drill-next").addEventListener("click", () => {
  drill = { ...drill, offset: drill.offset + DRILL_PAGE };
  loadDrill().catch((err) => say(message, errorText(err)));
});

// --- the filters and loading ---------------------------------------------------------------------------------

/** An API address for the current object type and period; `extra` overrides or adds parameters. */
function query(path, extra = {}) {
  const params = new URLSearchParams({ object: state.object, from: state.from, to: state.to });
  for (const [k, v] of Object.entries(extra)) params.set(k, String(v));
  return `${path}?${params}`;
}

/** The address bar, the language switch and the download links follow the filters. */
function keepFilters() {
  const url = new URL(window.location.href);
  for (const k of ["object", "from", "to"]) url.searchParams.set(k, state[k]);
  window.history.replaceState(null, "", url);
  const lang = document.querySelector(".lang-switch");
  if (lang) {
    const target = new URL(lang.href);
    target.searchParams.set("next", url.pathname + url.search);
    lang.href = target.toString();
  }
  for (const a of document.querySelectorAll("#downloads a[data-kind]")) a.href = query(`/api/v1/assessment.${a.dataset.kind}`);
}

function showFilters() {
  form.elements.object.value = state.object;
  form.elements.from.value = state.from;
  form.elements.to.value = state.to;
  form.elements.month.value = monthOf(state.from, state.to);
}

async function load() {
  const mine = ++ticket;
  closeDrill();
  showFilters();
  keepFilters();
  table.setAttribute("aria-busy", "true");
  say(message, "");
  try {
    const result = await getJSON(query("/api/v1/assessment"));
    if (mine !== ticket) return;
    data = result;
    showRanking();
    showNotes();
    showScores();
    table.dataset.object = state.object;
    table.dataset.from = state.from;
    table.dataset.to = state.to;
    table.setAttribute("aria-busy", "false");
    await showTrend(mine);
  } catch (err) {
    if (mine === ticket) {
      table.setAttribute("aria-busy", "false");
      say(message, errorText(err));
    }
  }
}

function set(changes) {
  state = { ...state, ...changes };
  load();
}

form.elements.object.addEventListener("change", () => set({ object: form.elements.object.value }));
form.elements.month.addEventListener("change", () => {
  const value = form.elements.month.value;
  if (!value) return;
  const [y, m] = value.split("-").map(Number);
  const [from, to] = month(y, m - 1);
  set({ from, to: to < from ? day(y, m, 0) : to });  // a month after today: the whole of it
});
for (const button of form.querySelectorAll("[data-quick]")) {
  button.addEventListener("click", () => {
    const [from, to] = QUICK[button.dataset.quick]();
    set({ from, to });
  });
}
form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!form.reportValidity()) return;
  set({ object: form.elements.object.value, from: form.elements.from.value, to: form.elements.to.value });
});

if (!state.from || !state.to) [state.from, state.to] = QUICK.this_month();
load();
