#!/usr/bin/env bash
# Installs ONNX Runtime for Node.js (the oracle runtime of the tests and the peer of the
# benchmarks) into $DYAD_CACHE/ort (default ~/.cache/dyad/ort). Idempotent.
# The two variables stop its install script from trying a download that fails offline; the
# CPU binary ships inside the npm package itself.
set -euo pipefail
cache="${DYAD_CACHE:-$HOME/.cache/dyad}"
dir="$cache/ort"
if [ -f "$dir/node_modules/onnxruntime-node/package.json" ] &&
   grep -q '"version": "1.30.0"' "$dir/node_modules/onnxruntime-node/package.json"; then
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "dyad-ort", "private": true}' > package.json
ONNXRUNTIME_NODE_INSTALL_CUDA=skip ONNXRUNTIME_NODE_INSTALL=skip \
  npm install --no-audit --no-fund --loglevel=error onnxruntime-node@1.30.0
