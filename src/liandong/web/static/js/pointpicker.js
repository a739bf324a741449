// The "where" of a report, shared by the citizen page and the phone app: a map with the town outlines,
// a pin set by a click or by the device's position, written into the form's hidden lon/lat fields.

import { getJSON, t } from "./common.js";

/**
 * @param {string} mapId element id of the map
 * @param {HTMLFormElement} form form with hidden `lon` and `lat` inputs
 * @param {(message: string) => void} onError shows a message to the user
 * @returns {{ retryOutline: () => void }}
 */
export function pointPicker(mapId, form, onError) {
  const mapEl = document.getElementById(mapId);
  const hint = document.getElementById("where-hint");
  const map = L.map(mapEl, { minZoom: 9, maxZoom: 19 });
  map.attributionControl.setPrefix(false);
  const tiles = mapEl.closest("[data-tile-url]")?.dataset.tileUrl;
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
  map.setView([31.11, 121.38], 11);
  let pin = null;
  let outlined = false;

  function retryOutline() {
    if (outlined) return;
    getJSON("/api/v1/public/towns")
      .then((fc) => {
        const style = { color: "#1f4e79", weight: 1, fillOpacity: 0.03 };
        const towns = L.geoJSON(fc, { style, interactive: false }).addTo(map);
        if (!pin && towns.getBounds().isValid()) map.fitBounds(towns.getBounds());
        outlined = true;
      })
      .catch(() => {}); // the outline helps to find the place; a report works without it (and offline)
  }

  function place(lat, lon) {
    if (pin) pin.setLatLng([lat, lon]);
    else pin = L.marker([lat, lon], { keyboard: true, title: t("report.where") }).addTo(map);
    form.elements.lat.value = lat.toFixed(7);
    form.elements.lon.value = lon.toFixed(7);
    hint.textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
    mapEl.dataset.pinned = "1";
  }

  map.on("click", (e) => place(e.latlng.lat, e.latlng.lng));
  document.getElementById("gps").addEventListener("click", () => {
    if (!navigator.geolocation) return onError(t("report.gps_failed"));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        place(pos.coords.latitude, pos.coords.longitude);
        map.setView([pos.coords.latitude, pos.coords.longitude], 17);
      },
      () => onError(t("report.gps_failed")),
      { enableHighAccuracy: true, timeout: 10000 },
    );
  });
  retryOutline();
  return { retryOutline };
}
