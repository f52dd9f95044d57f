#!/usr/bin/env bash
# Lay out a small, realistic sample cache (deterministic: seed 1) under
# target/demo/ and run dry-run cleanups on it. Nothing outside target/demo/
# is touched; the index goes to target/demo/index.sqlite.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=target/demo
rm -rf "$demo"
mkdir -p "$demo"
cargo build --release --quiet --bin sstate-cache-management --example gencache
release=${CARGO_TARGET_DIR:-target}/release
"$release/examples/gencache" --objects "${OBJECTS:-2000}" --seed 1 --stamps "$demo/stamps" "$demo/sstate-cache"
bin=$release/sstate-cache-management
idx=(--index "$demo/index.sqlite")
set -x
"$bin" --cache-dir "$demo/sstate-cache" "${idx[@]}" -d -n
"$bin" --cache-dir "$demo/sstate-cache" "${idx[@]}" --remove-orphans -n
"$bin" --cache-dir "$demo/sstate-cache" "${idx[@]}" --stamps-dir "$demo/stamps" -n
"$bin" report --cache-dir "$demo/sstate-cache" "${idx[@]}"
