#!/usr/bin/env bash
# Sets up, builds, and runs Dyad on the bundled example model (testdata/models/resnet_small.onnx,
# a small ResNet trained on Fashion-MNIST) with 64 real test images: inspects the model, runs
# it, and reports the top-1 accuracy of the outputs against the images' labels.
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
"$compress" run "$model" --input "$root/testdata/fmnist/test_64.npy" --output-dir "$out"
"$root/build/bin/top1" "$out/logits.npy" "$root/testdata/fmnist/test_64_labels.npy"
