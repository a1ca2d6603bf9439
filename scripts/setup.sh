#!/usr/bin/env bash
# Installs everything Dyad needs to build, test and benchmark on Debian 12: the Debian packages
# (build tools, libraries, ONNX's conformance data) and, from npm, ONNX Runtime for Node.js (the
# tests' oracle) and the PP-OCRv4 models. Idempotent; needs root (or sudo) for apt-get.
#   DYAD_SETUP_PEERS=1 also installs the benchmark peers (oneDNN, gemmlowp). Debian's oneDNN is built
#   with its OpenCL GPU runtime, so its CMake package needs the OpenCL loader, which it only recommends.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

packages=(cmake g++ make libprotobuf-dev protobuf-compiler libonnx-dev libeigen3-dev libfmt-dev libcli11-dev
          libgtest-dev libbenchmark-dev libonnx-testdata zlib1g-dev libpng-dev libjpeg-dev dataset-fashion-mnist)
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
[ "${DYAD_SETUP_PEERS:-0}" = "1" ] && packages+=(libdnnl-dev ocl-icd-opencl-dev libgemmlowp-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$here/install_ort.sh"
bash "$here/install_ocr_models.sh"
echo "setup: done"
