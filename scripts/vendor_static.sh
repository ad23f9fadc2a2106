#!/usr/bin/env bash
# Re-vendor the front-end packages under static/vendor/ from the npm registry (no CDN at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
BOOTSTRAP=${BOOTSTRAP:-5.3.8}; ICONS=${ICONS:-1.13.2}; CHARTJS=${CHARTJS:-4.6.1}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "bootstrap@$BOOTSTRAP" "bootstrap-icons@$ICONS" "chart.js@$CHARTJS" >/dev/null)
for f in "$tmp"/*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
V=static/vendor
mkdir -p "$V/bootstrap-$BOOTSTRAP"/{css,js} "$V/bootstrap-icons-$ICONS/fonts" "$V/chart.js-$CHARTJS"
cp "$tmp/bootstrap-$BOOTSTRAP"/package/dist/css/bootstrap.min.css{,.map} "$V/bootstrap-$BOOTSTRAP/css/"
cp "$tmp/bootstrap-$BOOTSTRAP"/package/dist/js/bootstrap.bundle.min.js{,.map} "$V/bootstrap-$BOOTSTRAP/js/"
cp "$tmp/bootstrap-$BOOTSTRAP/package/LICENSE" "$V/bootstrap-$BOOTSTRAP/"
cp "$tmp/bootstrap-icons-$ICONS/package/font/bootstrap-icons.min.css" "$V/bootstrap-icons-$ICONS/"
cp "$tmp/bootstrap-icons-$ICONS"/package/font/fonts/* "$V/bootstrap-icons-$ICONS/fonts/"
cp "$tmp/bootstrap-icons-$ICONS/package/LICENSE" "$V/bootstrap-icons-$ICONS/"
cp "$tmp/chart.js-$CHARTJS"/package/dist/chart.umd.min.js{,.map} "$V/chart.js-$CHARTJS/"
cp "$tmp/chart.js-$CHARTJS/package/LICENSE.md" "$V/chart.js-$CHARTJS/"
echo "vendored into $V"
