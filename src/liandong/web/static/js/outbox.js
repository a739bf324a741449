// The outbox: reports made on the phone, kept in IndexedDB until the server has them. Each carries its
// own id, sent as the Idempotency-Key, so a report retried after a lost answer is still one case.
//
// An item is { id, created, owner, body, photo, photoName, caseId?, status?, error? }; `owner` is the account
// that made it: only that account sends it (a shared phone never reports in another worker's name). `caseId` is set once the
// server has the report; `error` (with the HTTP `status`) once the server refused it for good: the report
// itself when there is no `caseId` yet, else its photo. A refused item stays here, is not sent again, and
// waits for the worker to fix it (`resend`) or to drop it (`remove`); nothing leaves the outbox unseen.

const DB_NAME = "liandong-outbox";
const STORE = "reports";
/** 4xx answers that say "not now" rather than "not this": tried again later, with the same key. */
const RETRY_LATER = new Set([408, 409, 425, 429]);

export class LoginNeeded extends Error {}

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}

export const put = (item) => run("readwrite", (s) => s.put(item));
export const remove = (id) => run("readwrite", (s) => s.delete(id));
export const get = (id) => run("readonly", (s) => s.get(id));
export const all = () => run("readonly", (s) => s.getAll());

/**
 * A refused item again, changed by the worker, to be sent with the next flush. Its id (the Idempotency-Key)
 * is kept: a report refused by the server made no case, and a refused photo belongs to the case made.
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
  const keyReused = body.code === "idempotency_key_reused";
  if (response.status >= 500 || (RETRY_LATER.has(response.status) && !keyReused)) {
    throw new Error(`server ${response.status}`);
  }
  return { status: response.status, error: body.detail || response.statusText || String(response.status) };
}

/** Whether ``user`` may see and send this item (items from before owners were recorded belong to anyone). */
export const ownedBy = (item, user) => !item.owner || item.owner === user;

let flushing = null;

/**
 * Send every waiting report once; a report leaves the outbox only after the server has it and its photo.
 * Resolves to the number of items the server refused in this run.
 */
export function flush(user, onSent) {
  if (flushing) return flushing;
  flushing = (async () => {
    let refused = 0;
    for (const item of (await all()).sort((a, b) => a.created - b.created)) {
      if (item.error || !ownedBy(item, user)) continue; // refused: waits for the worker; or someone else's
      if (!item.caseId) {
        const response = await fetch("/api/v1/cases", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": item.id },
          body: JSON.stringify(item.body),
        });
        const no = await refusal(response);
        if (no) {
          await put({ ...item, ...no });
          refused += 1;
          continue;
        }
        item.caseId = (await response.json()).id;
        await put(item);
      }
      if (item.photo) {
        const data = new FormData();
        data.append("file", item.photo, item.photoName || "photo.jpg");
        data.append("kind", "before");
        const response = await fetch(`/api/v1/cases/${item.caseId}/attachments`, {
          method: "POST", credentials: "same-origin", body: data,
        });
        const no = await refusal(response);
        if (no) {
          await put({ ...item, ...no });
          refused += 1;
          continue;
        }
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
