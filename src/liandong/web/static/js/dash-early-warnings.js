// The command centre's early warnings (早研判): the open ones (new and watching) in this screen's jurisdiction, newest
// first, each with its matters, observed against expected reports and p-value, linking to its evidence on the
// early-warning page. It follows the live early-warning stream (/api/v1/live/early-warnings: a scan found or re-found
// a warning, someone watched, dismissed or promoted one) and reloads on each burst; a slow poll is only the safety
// net for a dropped connection.

import { debounced, el, getJSON, t } from "./common.js";
import { matterText } from "./ew-kinds.js";

const list = document.getElementById("early-warnings-open");
const count = document.getElementById("early-warnings-count");
const POLL_MS = 300_000;
const LIMIT = 20;

const pValue = (p) => (p === null || p === undefined ? "—" : p < 0.001 ? p.toExponential(1) : p.toFixed(3));

function item(w) {
  const li = el("li", `dash-warning dash-early-warning ew-${w.status}`);
  li.dataset.warningId = String(w.id);
  li.dataset.status = w.status;
  const link = el("a", "", matterText(w));
  link.href = `/early-warnings?status=open&id=${w.id}`;
  const head = el("div", "dash-warning-head");
  head.append(el("span", `ew-status ew-status-${w.status}`, t(`ew.status.${w.status}`)), " ", link);
  const facts = el("div", "dash-warning-facts");
  facts.append(el("span", "", t("ew.dash_item", { observed: w.observed, expected: Number(w.expected).toFixed(1) })),
    " ", el("span", "muted small-inline", `p = ${pValue(w.p_value)}`),
    " ", el("span", "muted small-inline", w.centre_grid_code));
  li.append(head, facts);
  return li;
}

async function load() {
  const data = await getJSON(`/api/v1/early-warnings?status=open&limit=${LIMIT}`);
  count.textContent = String(data.total);
  list.replaceChildren(...data.items.map(item));
  if (!data.items.length) list.append(el("li", "muted", t("ew.dash_none")));
  list.dataset.loaded = String(Date.now());
  list.dataset.count = String(data.items.length);
}

async function poll() {
  if (!document.hidden) await load().catch(() => {});
  setTimeout(poll, POLL_MS);
}

function follow() {
  if (!window.EventSource) return;
  const source = new EventSource("/api/v1/live/early-warnings");
  const refresh = debounced(() => load().catch(() => {}));
  source.addEventListener("open", () => { list.dataset.live = "1"; });
  source.addEventListener("early_warning", refresh);
  source.addEventListener("reload", refresh);
}

load().catch(() => list.replaceChildren(el("li", "muted", t("inc.refresh_failed")))).finally(() => setTimeout(poll, POLL_MS));
follow();
