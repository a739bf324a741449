// Workbench: my queue (cases waiting for my action) or every visible case, with filters, paging and
// bulk dispatch to the proposed units for dispatchers.

import { LABELS, channelLabel, el, getJSON, lightLabel, postJSON, stageLabel, stateLabel, t, when } from "./common.js";

const main = document.querySelector(".workbench");
const rows = document.getElementById("rows");
const total = document.getElementById("total");
const form = document.getElementById("filters");
const bulkButton = document.getElementById("bulk-dispatch");
const bulkStatus = document.getElementById("bulk-status");
const canDispatch = main.dataset.canDispatch === "true";
const PAGE = 50;
let offset = 0;
let mine = true;

for (const opt of form.querySelectorAll("[data-state-label]")) opt.textContent = stateLabel(opt.value);
for (const opt of form.querySelectorAll("[data-channel-label]")) opt.textContent = channelLabel(opt.value);
for (const opt of form.querySelectorAll("[data-light-label]")) opt.textContent = lightLabel(opt.value);

function query() {
  const params = new URLSearchParams();
  const data = new FormData(form);
  for (const [k, v] of data) if (v) params.set(k, v);
  if (mine) {
    params.set("mine", "true");
    params.set("sort", "stage_deadline");
  }
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  return params;
}

function row(c) {
  const tr = el("tr");
  tr.dataset.caseId = String(c.id);
  if (canDispatch) {
    const td = el("td");
    const box = el("input");
    box.type = "checkbox";
    box.className = "pick";
    box.value = String(c.id);
    box.disabled = c.state !== "filed";
    box.setAttribute("aria-label", `${t("bulk.select")} ${c.number}`);
    box.addEventListener("change", updateBulk);
    td.append(box);
    tr.append(td);
  }
  const link = el("a", "", c.number);
  link.href = `/cases/${c.id}`;
  const first = el("td");
  first.append(link);
  const d = c.deadlines || {};
  const lightCell = el("td");
  if (d.light) lightCell.append(el("span", `light light-${d.light}`, lightLabel(d.light)));
  // a paused stage (suspended, or an extension waiting) has no deadline: its clock stands still
  const deadline = el("td", "", d.paused ? t("case.paused") : when(d.stage_deadline));
  tr.append(first, el("td", "", c.matter_name), el("td", "", stateLabel(c.state)), el("td", "", channelLabel(c.channel)),
    el("td", "code", c.grid_code), deadline, lightCell, el("td", "", when(c.created_at)));
  return tr;
}

let latest = 0;
async function load() {
  const ticket = ++latest;
  const data = await getJSON(`/api/v1/cases?${query()}`);
  if (ticket !== latest) return; // a newer search (another tab, filter or page) has been asked for
  rows.replaceChildren(...data.items.map(row));
  if (!data.items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("none"));
    td.colSpan = canDispatch ? 9 : 8;
    tr.append(td);
    rows.append(tr);
  }
  total.textContent = t("total", { n: data.total });
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + PAGE >= data.total;
  main.dataset.loaded = String(Date.now());
  updateBulk();
}

function updateBulk() {
  if (bulkButton) bulkButton.disabled = !rows.querySelector(".pick:checked");
}

async function bulkDispatch() {
  const ids = [...rows.querySelectorAll(".pick:checked")].map((b) => b.value);
  let ok = 0;
  let bad = 0;
  bulkButton.disabled = true;
  for (const id of ids) {
    try {
      await postJSON(`/api/v1/cases/${id}/actions/dispatch`, {}); // no lead given: the proposed one
      ok += 1;
    } catch {
      bad += 1;
    }
  }
  bulkStatus.textContent = t("bulk.done", { ok, bad });
  await load();
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  offset = 0;
  load().catch(showError);
});
for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => {
    mine = tab.dataset.mine === "true";
    for (const other of document.querySelectorAll("[role=tab]")) other.setAttribute("aria-selected", String(other === tab));
    document.getElementById("results").setAttribute("aria-labelledby", tab.id);
    offset = 0;
    load().catch(showError);
  });
}
document.getElementById("prev").addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE);
  load().catch(showError);
});
document.getElementById("next").addEventListener("click", () => {
  offset += PAGE;
  load().catch(showError);
});
if (bulkButton) bulkButton.addEventListener("click", () => bulkDispatch().catch(showError));

function showError(err) {
  total.textContent = `${t("error")}: ${err.message}`;
}

/** A notice in the page's language, from its kind and details; older notices keep their stored text. */
function noticeText(n) {
  const d = n.details || {};
  const key = `notice.${n.kind}`;
  if (!(key in (LABELS.messages || {})) || (!n.case_number && !n.incident_id)) return n.message;
  if (n.kind === "overdue" && !d.stage) return n.message;
  return t(key, { number: n.case_number || "", stage: stageLabel(d.stage || ""), level: d.level || 1, note: d.note || "" });
}

const SHOWN = 3;  // groups always in view; the rest wait folded, so the queue stays above the fold

/** One line per case or incident: the newest notice's wording, how many wait, the drill mark, read all of it. */
function noticeGroup(g) {
  const n = g.latest;
  const li = el("li", `notice notice-${n.kind}${g.exercise ? " notice-drill" : ""}`);
  li.dataset.noticeId = String(n.id);
  li.dataset.group = g.key;
  const href = g.case_id ? `/cases/${g.case_id}` : g.incident_id ? `/incidents/${g.incident_id}` : null;
  const link = el(href ? "a" : "span", "notice-text", noticeText(n));
  if (href) link.href = href;
  li.append(el("time", "muted", when(n.created_at)), " ");
  if (g.exercise) li.append(el("span", "drill", t("notice.drill")), " ");
  li.append(link);
  if (g.unread > 1) li.append(" ", el("span", "count", t("notice.count", { n: g.unread })));
  const done = el("button", "button", t("notice.read"));
  done.type = "button";
  const name = g.case_number || (g.incident_number ? t("notice.incident", { number: g.incident_number }) : "");
  done.setAttribute("aria-label", `${t("notice.read")}: ${name}`);
  done.addEventListener("click", async () => {
    const body = g.case_id ? { case_id: g.case_id } : g.incident_id ? { incident_id: g.incident_id } : { ids: [n.id] };
    await postJSON("/api/v1/notifications/read", body);
    await loadNotices();
  });
  li.append(" ", done);
  return li;
}

async function loadNotices() {
  const data = await getJSON("/api/v1/notifications/groups?limit=50");  // the badge counts real work only
  document.getElementById("notice-count").textContent = String(data.unread);
  document.getElementById("notice-groups").textContent = data.total ? t("notice.groups", { n: data.total }) : "";
  document.getElementById("notice-drills").textContent = data.exercise ? t("notice.drills", { n: data.exercise }) : "";
  document.getElementById("notice-read-all").hidden = !data.total;
  document.getElementById("notices").replaceChildren(...data.groups.slice(0, SHOWN).map(noticeGroup));
  const rest = data.groups.slice(SHOWN);
  const more = document.getElementById("notice-more");
  more.hidden = !rest.length;
  document.getElementById("notice-more-label").textContent = t("notice.more", { n: data.total - SHOWN });
  document.getElementById("notices-rest").replaceChildren(...rest.map(noticeGroup));
  main.dataset.notices = String(data.total);
}

document.getElementById("notice-read-all").addEventListener("click", async () => {
  await postJSON("/api/v1/notifications/read", { all: true });
  await loadNotices();
});

load().catch(showError);
loadNotices().catch(showError);
