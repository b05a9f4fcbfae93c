#!/usr/bin/env bash
# Installs Parallax's dependencies from Debian packages and builds it.
#   scripts/setup.sh [PRESET]     (PRESET: default, ci, debug-sanitize, cpu-only; default: default)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}

packages=(build-essential cmake mpich libmpich-dev libhdf5-dev hdf5-tools zlib1g-dev libeigen3-dev libboost-test-dev
          libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libopenblas-openmp-dev libdnnl-dev
          python3-matplotlib python3-h5py python3-numpy python3-torch slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)"
