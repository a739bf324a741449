// The "where" of a report, shared by the citizen page and the phone app: a map with the town outlines,
// a pin set by a click, by the map centre (the cross; the map moves with the arrow keys, so no pointer is
// needed) or by the device's position, written into the form's hidden lon/lat fields.

import { getJSON, t } from "./common.js";

/**
 * @param {string} mapId element id of the map
 * @param {HTMLFormElement} form form with hidden `lon` and `lat` inputs
 * @param {(message: string) => void} onError shows a message to the user
 * @returns {{ retryOutline: () => void, place: (lat: number, lon: number) => void }}
 */
export function pointPicker(mapId, form, onError) {
  const mapEl = document.getElementById(mapId);
  const hint = document.getElementById("where-hint");
  // keyboard: focus the map, arrow keys pan, + / - zoom (Leaflet's keyboard handler)
  const map = L.map(mapEl, { minZoom: 9, maxZoom: 19, keyboard: true });
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
    hint.textContent = t("report.picked", { lat: lat.toFixed(5), lon: lon.toFixed(5) });
    mapEl.dataset.pinned = "1";
  }

  map.on("click", (e) => place(e.latlng.lat, e.latlng.lng));
  document.getElementById("map-centre").addEventListener("click", () => {
    const centre = map.getCenter();
    place(centre.lat, centre.lng);
  });
  const gps = document.getElementById("gps");
  if (!navigator.geolocation) gps.hidden = true; // no position to ask for: the map is the way
  gps.addEventListener("click", () => {
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
  return {
    retryOutline,
    place(lat, lon) {
      place(lat, lon);
      map.setView([lat, lon], Math.max(map.getZoom(), 16));
    },
  };
}
