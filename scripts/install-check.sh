#!/usr/bin/env bash
# `cargo install --path .` from a clean clone of HEAD, as the README says,
# into a temporary root; then the installed binary must run. Uncommitted
# changes are not part of the clone: this checks what was committed.
#
# Set CARGO_TARGET_DIR to reuse a build cache (CI passes its own, so only
# the crate itself and the few dependencies built with other features are
# compiled again); without it the install builds from nothing, like a user's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sscm-install-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

git clone --quiet --no-local "$repo" "$tmp/src"
if [[ -z ${CARGO_TARGET_DIR:-} ]]; then
    export CARGO_TARGET_DIR=$tmp/target
fi
(cd "$tmp/src" && cargo install --quiet --path . --root "$tmp/root" --locked)

bin=$tmp/root/bin/sstate-cache-management
want="sstate-cache-management $(sed -n 's/^version = "\(.*\)"/\1/p' "$tmp/src/Cargo.toml" | head -n1)"
got=$("$bin" --version)
if [[ $got != "$want" ]]; then
    echo "install-check: $bin --version printed '$got', expected '$want'" >&2
    exit 1
fi
"$bin" completions bash >/dev/null
"$bin" man | grep -q '^\.TH sstate-cache-management 1'
echo "install-check: cargo install --path . --locked from a clean clone: $got, $(stat -c %s "$bin") bytes"
