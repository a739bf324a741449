// The screening campaigns (/campaigns): the list with a state filter and paging, and the form to plan one for
// shift leaders, leaders and administrators. Words come from the page's labels (pc.* messages).

import { el, errorText, getJSON, postJSON, t } from "./common.js";

const API = "/api/v1/campaigns";
const rows = document.getElementById("rows");
const filters = document.getElementById("filters");
const message = document.getElementById("message");
const main = document.querySelector(".campaigns");
const PAGE = 20;
let offset = 0;
let latest = 0;

/** A word from the labels, or the value itself (a free-text theme). */
export function word(key, value) {
  const text = t(key);
  return text === key ? value : text;
}

function say(text, kind = "ok") {
  message.hidden = !text;
  message.textContent = text || "";
  message.className = `message ${kind}`;
}

function row(c) {
  const tr = el("tr");
  tr.dataset.campaignId = String(c.id);
  const code = el("td");
  const a = el("a", "", c.code);
  a.href = `/campaigns/${c.id}`;
  code.append(a);
  tr.append(code, el("td", "", c.name), el("td", "", word(`pc.theme.${c.theme}`, c.theme)),
    el("td", "", c.area_name || ""), el("td", "", `${c.start} – ${c.end}`),
    el("td", "", word(`pc.state.${c.state}`, c.state)));
  return tr;
}

async function load() {
  const ticket = ++latest;
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(filters)) if (v) params.set(k, v);
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  const data = await getJSON(`${API}?${params}`);
  if (ticket !== latest) return;
  rows.replaceChildren(...data.items.map(row));
  if (!data.items.length) {
    const tr = el("tr");
    const td = el("td", "muted", t("none"));
    td.colSpan = 6;
    tr.append(td);
    rows.append(tr);
  }
  document.getElementById("total").textContent = t("scr.total", { n: data.total });
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

/** "key|question" per line (a line without "|" gets a key of its own: item1, item2…). */
export function checklist(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line, n) => {
    const bar = line.indexOf("|");
    return bar > 0 ? { key: line.slice(0, bar).trim(), question: line.slice(bar + 1).trim() }
      : { key: `item${n + 1}`, question: line };
  });
}

const form = document.getElementById("new-campaign");
if (form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!form.checkValidity()) {
      form.reportValidity();
      return;
    }
    const data = new FormData(form);
    const text = (name) => String(data.get(name) || "").trim() || undefined;
    const body = JSON.parse(JSON.stringify({
      code: text("code"), name: text("name"), theme: text("theme") || text("theme_other"),
      area_code: text("area_code"), start: text("start"), end: text("end"),
      unit_ids: data.getAll("unit_ids").map(Number), checklist: checklist(String(data.get("checklist") || "")),
    }));
    if (!body.theme) {
      say(t("pc.theme_needed"), "error");
      return;
    }
    try {
      const made = await postJSON(API, body);
      say(t("pc.created", { code: made.code }));
      window.location.assign(`/campaigns/${made.id}`);
    } catch (err) {
      showError(err);
    }
  });
}

load().catch(showError);
