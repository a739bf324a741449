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

dest="src/liandong/web/static/vendor/leaflet"
rm -rf "$dest"
mkdir -p "$dest"
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css "$dest/"
cp -R node_modules/leaflet/dist/images "$dest/images"
echo "vendor_assets: leaflet $(node -p 'require("./node_modules/leaflet/package.json").version') -> $dest" >&2
