#!/usr/bin/env bash
# Render the HTML report of a generated sample cache in headless Chromium:
# docs/report.png (the README's picture). The cache grows over three scans
# and a duplicate cleanup shrinks it, so the growth chart has a history.
# Everything is made under target/screenshot/.
#   scripts/screenshot.sh [OUT.png]      (needs /usr/bin/chromium or $CHROMIUM)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/report.png}")
chromium=${CHROMIUM:-/usr/bin/chromium}
work=$(realpath -m target/screenshot)
rm -rf "$work"
mkdir -p "$work" "$(dirname "$out")"
cargo build --release --quiet --bin sstate-cache-management --example gencache
release=$(realpath "${CARGO_TARGET_DIR:-target}/release")
bin=$release/sstate-cache-management
cd "$work" # relative paths: the page names the cache `sstate-cache`
idx=(--cache-dir sstate-cache --index index.sqlite)
mkdir -p sstate-cache
for seed in 1 2 3; do
    "$release/examples/gencache" --objects 1500 --seed "$seed" --stamps "stamps-$seed" "gen-$seed" >/dev/null
    cp -a "gen-$seed/." sstate-cache/
    "$bin" scan "${idx[@]}" >/dev/null
done
"$bin" "${idx[@]}" -d -y >/dev/null
"$bin" report "${idx[@]}" --stamps-dir stamps-3 --html report.html >/dev/null
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1200,1600 --screenshot="$out" "file://$work/report.html" 2>/dev/null
echo "screenshot: $out ($work/report.html)"
