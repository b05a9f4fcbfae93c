#!/usr/bin/env bash
# The whole test suite from a fresh checkout: install, build with warnings as errors, run CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh ci
ctest --preset ci
