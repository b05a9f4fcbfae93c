#!/usr/bin/env bash
# Fetches, on this Debian machine, the Debian packages the GPU machine lacks to build and run
# Parallax (MPICH, HDF5, OpenBLAS, oneDNN, Boost.Test, the header-only libraries and their
# shared-library dependencies), unpacks them into one prefix, drops what a build does not read
# (documentation, static libraries) and packs the prefix as deps/device-deps.tar.xz, which
# scripts/device_check.sh unpacks there. The GPU machine brings the CUDA toolkit, a C++
# compiler, CMake and Python.
#   scripts/fetch_device_deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libmpich-dev libmpich12 mpich libhdf5-dev libhdf5-103-1 libsz2 libaec0 zlib1g-dev libeigen3-dev
          libboost-test-dev libboost-test1.74-dev libboost-test1.74.0 libboost1.74-dev libcli11-dev libtomlplusplus-dev libtomlplusplus3
          nlohmann-json3-dev libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev libdnnl-dev libdnnl2
          libhwloc15 libgfortran5 libucx0 libslurm38 libcurl4 libgomp1 libnuma1 libibverbs1 librdmacm1 libpmix2
          libevent-core-2.1-7 libevent-pthreads-2.1-7 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libldap-2.5-0
          libsasl2-2 libbrotli1 libxml2 libmunge2 liblz4-1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "${packages[@]}" >/dev/null 2>&1) ||
  { echo "fetch_device_deps: apt-get download failed (is the package index current? apt-get update)" >&2; exit 1; }
mkdir -p "$work/prefix"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/prefix"; done
rm -rf "$work/prefix/usr/share/doc" "$work/prefix/usr/share/man" "$work/prefix/usr/share/lintian" \
  "$work/prefix/usr/share/locale"
find "$work/prefix" -name '*.a' -delete
mkdir -p deps
tar -C "$work/prefix" -cJf deps/device-deps.tar.xz .
echo "deps/device-deps.tar.xz: $(du -h deps/device-deps.tar.xz | cut -f1) from ${#packages[@]} packages"
