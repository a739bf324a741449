// One connection per page to the live incident stream (/api/v1/live/incidents: every new entry of the log of an
// incident the user sees — state changes, orders, task events, warnings issued): the panels and boards register
// what to do when one arrives, and keep a slow poll only as a safety net for a dropped connection.

const handlers = new Set();
let source = null;

export function onIncidentEvent(handler) {
  handlers.add(handler);
  if (source || !window.EventSource) return;
  source = new EventSource("/api/v1/live/incidents");
  source.addEventListener("open", () => { document.body.dataset.incidentsLive = "1"; });
  source.addEventListener("incident", (event) => {
    const item = JSON.parse(event.data);
    for (const handle of handlers) handle(item);
  });
  source.addEventListener("reload", () => window.location.reload());  // the screen fell behind: start afresh
}
