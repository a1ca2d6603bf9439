#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds, and runs every test: unit tests, ONNX's conformance data,
# and the cross-checks against ONNX Runtime. Pass Sanitize to run them under ASan + UBSan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
type="${1:-Release}"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh" "$type"
dir="$root/build"
[ "$type" != "Release" ] && dir="$root/build-$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cd "$dir"
ctest --output-on-failure -j"$(nproc)"
