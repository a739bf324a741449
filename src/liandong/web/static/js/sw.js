// Service worker of the grid worker's app (/m/): keeps the app shell so the app opens without network.
// API calls are never cached: reports and visits wait in the page's outbox (IndexedDB) instead, and what the
// visit form needs offline (the campaigns, their checklists and grids) the page keeps in IndexedDB (visits.js).
// The server fills in VERSION (a hash of the static files and the package version, web/mobile.py) when it
// serves /m/sw.js: any changed asset makes a new worker with a new cache, and the old caches are deleted.

const VERSION = "__ASSET_VERSION__";
const PREFIX = "liandong-m-";
const CACHE = PREFIX + VERSION;
const SHELL = [
  "/m/",
  "/static/css/app.css",
  "/static/js/common.js",
  "/static/js/idb.js",
  "/static/js/mobile.js",
  "/static/js/outbox.js",
  "/static/js/pointpicker.js",
  "/static/js/visits.js",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/leaflet/images/marker-icon.png",
  "/static/vendor/leaflet/images/marker-shadow.png",
  "/static/img/icon.svg",
];

self.addEventListener("install", (event) => {
  // "reload": past the browser's HTTP cache, which may still hold the previous version of a file
  const fresh = SHELL.map((url) => new Request(url, { cache: "reload" }));
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(fresh)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (event.request.mode === "navigate") {
    // the page: fresh when online (and kept), the kept copy when offline
    event.respondWith(
      fetch(event.request)
        .then((response) => {
          if (response.ok) caches.open(CACHE).then((cache) => cache.put("/m/", response.clone()));
          return response;
        })
        .catch(() => caches.match("/m/")),
    );
    return;
  }
  event.respondWith(caches.match(event.request).then((hit) => hit || fetch(event.request)));
});
