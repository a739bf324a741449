// What the phone app keeps on the phone: one IndexedDB object store (keyed by `id`) in a database of its own,
// so that each kept thing (the outbox, the campaigns for offline visits) upgrades on its own.

/**
 * @param {string} dbName the database
 * @param {string} storeName its only object store
 * @returns {{ put, remove, get, all }} promised reads and writes, each its own transaction
 */
export function store(dbName, storeName) {
  let opened = null; // one connection per page, given up when another page upgrades the database

  function open() {
    opened ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(dbName, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(storeName, { keyPath: "id" });
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => {
          db.close();
          opened = null;
        };
        resolve(db);
      };
      req.onerror = () => {
        opened = null;
        reject(req.error);
      };
    });
    return opened;
  }

  async function run(mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      const result = fn(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  }

  return {
    put: (item) => run("readwrite", (s) => s.put(item)),
    remove: (id) => run("readwrite", (s) => s.delete(id)),
    get: (id) => run("readonly", (s) => s.get(id)),
    all: () => run("readonly", (s) => s.getAll()),
  };
}
