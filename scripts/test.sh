#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build the default preset, run ctest.
# Usage: scripts/test.sh [preset]   (default: default; asan builds build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j 2
ctest --preset "$preset"
