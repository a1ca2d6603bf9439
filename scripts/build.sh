#!/usr/bin/env bash
# Configures and builds Dyad into ./build (Release), or ./build-<type> for another build type:
#   scripts/build.sh              Release, the command at build/bin/compress
#   scripts/build.sh Sanitize     AddressSanitizer + UndefinedBehaviorSanitizer into build-sanitize
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
type="${1:-Release}"
dir="$root/build"
[ "$type" != "Release" ] && dir="$root/build-$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
cmake --build "$dir" -j"$(nproc)"
