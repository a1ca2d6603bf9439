#!/usr/bin/env bash
# Sets up, builds, and runs Dyad's main job on the bundled example model
# (testdata/models/resnet_small.onnx, a small ResNet trained on Fashion-MNIST): inspects it,
# compresses it to an integer-only W8A8 model calibrated on 256 training images, and compares the
# float and the integer model's top-1 accuracy on 64 test images.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
compress="$root/build/bin/compress"
model="$root/testdata/models/resnet_small.onnx"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$compress" inspect "$model"
echo
"$compress" "$model" --budget bits=8 --calib "$root/testdata/fmnist/train_256.npy" -o "$out/resnet_small.int8.onnx" \
  --report "$out/report.json"
echo
for m in "$model" "$out/resnet_small.int8.onnx"; do
  outputs="$out/outputs-$(basename "$m" .onnx)"
  "$compress" run "$m" --input "$root/testdata/fmnist/test_64.npy" --output-dir "$outputs" >/dev/null
  printf '%-28s ' "$(basename "$m")"
  "$root/build/bin/top1" "$outputs/logits.npy" "$root/testdata/fmnist/test_64_labels.npy"
done
echo
echo "report (first layers):"
head -n 12 "$out/report.json"
