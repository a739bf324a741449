// The outbox: what the worker made on the phone, kept in IndexedDB until the server has it. Each item carries its
// own id, sent as the key that makes a retry safe, so an item retried after a lost answer is still made once.
//
// An item is { id, kind, created, owner, ... }; `kind` says what it is and how it is sent (SEND below):
// - "report" (the default: items from before kinds were recorded are reports): { body, photo, photoName, caseId? },
//   the case sent with the Idempotency-Key, then its photo; `caseId` is set once the server has the report.
// - "visit": { campaignId, campaignName, gridName, body }: a campaign's grid visit, its id sent as `visit_key`.
// `owner` is the account that made it: only that account sends it (a shared phone never reports in another
// worker's name). `error` (with the HTTP `status`) is set once the server refused it for good: for a report, the
// report itself when there is no `caseId` yet, else its photo. A refused item stays here, is not sent again, and
// waits for the worker to fix it (`resend`) or to drop it (`remove`); nothing leaves the outbox unseen.

import { store } from "./idb.js";

/** 4xx answers that say "not now" rather than "not this": tried again later, with the same key. */
const RETRY_LATER = new Set([408, 409, 425, 429]);
/** Codes of those answers that are final all the same: the key was used for something else, or the campaign is
 * over (a visit is made only while it runs; a visit already made is found by its key first). */
const FINAL = new Set(["idempotency_key_reused", "visit_key_reused", "campaign_not_running"]);
const JSON_HEADERS = { "Content-Type": "application/json", Accept: "application/json" };

export class LoginNeeded extends Error {}

export const { put, remove, get, all } = store("liandong-outbox", "reports");

/** What an item is: "report" unless it says otherwise. */
export const kindOf = (item) => item.kind || "report";

/**
 * A refused item again, changed by the worker, to be sent with the next flush. Its id (the Idempotency-Key, the
 * visit_key) is kept: a report refused by the server made no case, a refused photo belongs to the case made, and
 * a refused visit made nothing (a visit and its findings are one transaction).
 */
export async function resend(id, changes) {
  const item = await get(id);
  if (!item) return;
  delete item.error;
  delete item.status;
  await put({ ...item, ...changes });
}

/**
 * Why the server refused a request for good ({status, reason}), or null when it took it. 401 throws
 * LoginNeeded; 5xx and the "not now" answers throw, so the item stays as it is and is tried again later.
 */
async function refusal(response) {
  if (response.ok) return null;
  if (response.status === 401) throw new LoginNeeded("login needed");
  const body = await response.json().catch(() => ({}));
  // for good, not "not now"; told by its code (the detail a page gets is in the page's language)
  if (response.status >= 500 || (RETRY_LATER.has(response.status) && !FINAL.has(body.code))) {
    throw new Error(`server ${response.status}`);
  }
  return { status: response.status, error: body.detail || response.statusText || String(response.status) };
}

/** Whether ``user`` may see and send this item (items from before owners were recorded belong to anyone). */
export const ownedBy = (item, user) => !item.owner || item.owner === user;

/** A report: the case (once), then its photo; the server's refusal, or null when it has both. */
async function sendReport(item) {
  if (!item.caseId) {
    const response = await fetch("/api/v1/cases", {
      method: "POST",
      credentials: "same-origin",
      headers: { ...JSON_HEADERS, "Idempotency-Key": item.id },
      body: JSON.stringify(item.body),
    });
    const no = await refusal(response);
    if (no) return no;
    item.caseId = (await response.json()).id;
    await put(item);
  }
  if (!item.photo) return null;
  const data = new FormData();
  data.append("file", item.photo, item.photoName || "photo.jpg");
  data.append("kind", "before");
  return refusal(await fetch(`/api/v1/cases/${item.caseId}/attachments`, {
    method: "POST", credentials: "same-origin", body: data,
  }));
}

/** A grid visit with its findings, in one request; its `visit_key` (the item's id) finds a visit made before. */
async function sendVisit(item) {
  return refusal(await fetch(`/api/v1/campaigns/${item.campaignId}/visits`, {
    method: "POST",
    credentials: "same-origin",
    headers: JSON_HEADERS,
    body: JSON.stringify({ ...item.body, visit_key: item.id }),
  }));
}

const SEND = { report: sendReport, visit: sendVisit };

let flushing = null;

/**
 * Send every waiting item once; an item leaves the outbox only after the server has all of it.
 * Resolves to the number of items the server refused in this run.
 */
export function flush(user, onSent) {
  if (flushing) return flushing;
  flushing = (async () => {
    let refused = 0;
    for (const item of (await all()).sort((a, b) => a.created - b.created)) {
      const send = SEND[kindOf(item)];
      // refused: waits for the worker; someone else's; or a kind this version of the app does not know
      if (item.error || !ownedBy(item, user) || !send) continue;
      const no = await send(item);
      if (no) {
        await put({ ...item, ...no });
        refused += 1;
        continue;
      }
      await remove(item.id);
      if (onSent) onSent(item);
    }
    return refused;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}
