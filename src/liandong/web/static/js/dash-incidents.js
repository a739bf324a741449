// The command centre's active incidents: every incident not closed, the newest first, with its state, its three
// levels in their colours and the drill mark (演练), each linking to its board. Fetched again as soon as an incident
// event arrives on the live incident stream (live-incidents.js); a slow poll covers a dropped connection.

import { debounced, el, getJSON, t, when } from "./common.js";
import { category, drillBadge, levelBadges, stateBadge } from "./emergency.js";
import { onIncidentEvent } from "./live-incidents.js";

const list = document.getElementById("active-incidents");
const count = document.getElementById("incidents-count");
const POLL_MS = 60_000;

function item(i) {
  const li = el("li", `dash-incident${i.exercise ? " is-drill" : ""} grade-${i.grade}`);
  li.dataset.incidentId = String(i.id);
  const link = el("a", "", `${i.number} ${i.title}`);
  link.href = `/incidents/${i.id}`;
  const head = el("div", "dash-incident-head");
  head.append(link);
  if (i.exercise) head.append(" ", drillBadge());
  const facts = el("div", "dash-incident-facts");
  facts.append(stateBadge(i.state), " ", levelBadges(i), " ", el("span", "muted small-inline",
    `${category(i.category)} · ${when(i.occurred_at)}`));
  li.append(head, facts);
  return li;
}

async function load() {
  const data = await getJSON("/api/v1/incidents?open=true&limit=200");
  const active = data.items;
  count.textContent = String(active.filter((i) => !i.exercise).length);  // drills never count as real work
  list.replaceChildren(...active.map(item));
  if (!active.length) list.append(el("li", "muted", t("inc.no_active")));
  list.dataset.loaded = String(Date.now());
  list.dataset.count = String(active.length);
}

async function poll() {
  if (!document.hidden) await load().catch(() => {});
  setTimeout(poll, POLL_MS);
}

load().catch(() => list.replaceChildren(el("li", "muted", t("inc.refresh_failed")))).finally(() => setTimeout(poll, POLL_MS));
onIncidentEvent(debounced(() => load().catch(() => {})));
