// The command centre's warnings in force: the CAP warnings we issued that are current and the received ones still
// active, the most recently sent first, drills marked (演练) and left out of the count, each linking to its row on
// the warnings page. Fetched again when a warning is issued (an incident event on the live incident stream); the
// received ones come by upload or feed polling, so a poll every 15 s stays.

import { debounced, el, getJSON, t, when } from "./common.js";
import { capWord, isDrill, severityBadge, statusMark } from "./cap.js";
import { onIncidentEvent } from "./live-incidents.js";

const list = document.getElementById("warnings-in-force");
const count = document.getElementById("warnings-count");
const POLL_MS = 15_000;
const LIMIT = 50;

function item(kind, w) {
  const li = el("li", `dash-warning dash-warning-${kind}${isDrill(w) ? " is-drill" : ""}`);
  li.dataset.kind = kind;
  li.dataset.warningId = String(w.id);
  li.dataset.identifier = w.identifier;
  if (kind === "received" && w.severity) li.dataset.severity = w.severity;
  const link = el("a", "", w.headline || w.event || w.identifier);
  link.href = `/warnings?tab=${kind}&id=${w.id}`;
  const head = el("div", "dash-warning-head");
  head.append(el("span", `origin origin-${kind}`, t(kind === "issued" ? "cap.ours" : "cap.external")), " ", link);
  const mark = statusMark(w.status);
  if (mark) head.append(" ", mark);
  const facts = el("div", "dash-warning-facts");
  if (kind === "issued") {
    const incident = el("a", "", w.incident.number);
    incident.href = `/incidents/${w.incident.id}`;
    facts.append(el("span", "", capWord("msg", w.msg_type)), " ", incident);
  } else {
    facts.append(severityBadge(w.severity), " ", el("span", "", w.sender_name || w.sender));
  }
  facts.append(" ", el("span", "muted small-inline", w.expires ? t("cap.until", { at: when(w.expires) }) : t("cap.no_expiry")));
  li.append(head, facts);
  return li;
}

async function load() {
  const [issued, received] = await Promise.all([
    getJSON(`/api/v1/cap/issued?state=current&limit=${LIMIT}`),
    getJSON(`/api/v1/cap/received?state=active&limit=${LIMIT}`),
  ]);
  const all = [...issued.items.map((w) => ["issued", w]), ...received.items.map((w) => ["received", w])]
    .sort((a, b) => (Date.parse(b[1].sent) || 0) - (Date.parse(a[1].sent) || 0));
  count.textContent = String(all.filter(([, w]) => !isDrill(w)).length);  // drills never count as real warnings
  list.replaceChildren(...all.map(([kind, w]) => item(kind, w)));
  if (!all.length) list.append(el("li", "muted", t("cap.none_in_force")));
  list.dataset.loaded = String(Date.now());
  list.dataset.count = String(all.length);
}

async function poll() {
  if (!document.hidden) await load().catch(() => {});
  setTimeout(poll, POLL_MS);
}

load().catch(() => list.replaceChildren(el("li", "muted", t("inc.refresh_failed")))).finally(() => setTimeout(poll, POLL_MS));
const refresh = debounced(() => load().catch(() => {}));
onIncidentEvent((item) => { if (item.kind === "warning") refresh(); });
