#!/usr/bin/env bash
# Copy the front-end libraries from npm (package.json / package-lock.json) into the static folder.
# The vendor folder is git-ignored: libraries come from the npm registry, never from a CDN or git.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# npm writes node_modules/.package-lock.json last in every install, so it marks "installed from
# this lock"; a plain `npm install` rewrites package-lock.json just after node_modules/leaflet.
marker="node_modules/.package-lock.json"
if [[ ! -d node_modules/leaflet ]] || [[ ! -e "$marker" ]] || [[ package-lock.json -nt "$marker" ]]; then
    echo "vendor_assets: installing npm packages (npm ci)" >&2
    npm ci --no-audit --no-fund
fi

vendor="src/liandong/web/static/vendor"
rm -rf "$vendor"
mkdir -p "$vendor/leaflet" "$vendor/markercluster" "$vendor/echarts"
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css "$vendor/leaflet/"
cp -R node_modules/leaflet/dist/images "$vendor/leaflet/images"
cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js node_modules/leaflet.markercluster/dist/MarkerCluster.css \
   node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css "$vendor/markercluster/"
cp node_modules/echarts/dist/echarts.min.js "$vendor/echarts/"
for pkg in leaflet leaflet.markercluster echarts; do
    echo "vendor_assets: $pkg $(node -p "require('./node_modules/$pkg/package.json').version") -> $vendor" >&2
done
