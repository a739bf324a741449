// The outbox: reports made on the phone, kept in IndexedDB until the server has them. Each carries its
// own id, sent as the Idempotency-Key, so a report retried after a lost answer is still one case.

const DB_NAME = "liandong-outbox";
const STORE = "reports";

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
export const all = () => run("readonly", (s) => s.getAll());

let flushing = null;

/** Send every waiting report once; a report leaves the outbox only after the server has it (and its photo). */
export function flush(onSent) {
  if (flushing) return flushing;
  flushing = (async () => {
    for (const item of (await all()).sort((a, b) => a.created - b.created)) {
      if (item.error) continue; // refused by the server: shown to the worker, not sent again
      if (!item.caseId) {
        const response = await fetch("/api/v1/cases", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": item.id },
          body: JSON.stringify(item.body),
        });
        if (response.status === 401) throw new Error("login needed");
        if (!response.ok && response.status < 500) {
          item.error = (await response.json().catch(() => ({}))).detail || response.statusText;
          await put(item); // refused for good (e.g. outside the district): keep it visible, do not retry blindly
          continue;
        }
        if (!response.ok) throw new Error(`server ${response.status}`);
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
        if (!response.ok && response.status >= 500) throw new Error(`server ${response.status}`);
      }
      await remove(item.id);
      if (onSent) onSent(item);
    }
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}
