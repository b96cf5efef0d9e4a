#!/usr/bin/env bash
# The ARM64 build and its tests under qemu-aarch64: installs the cross toolchain (install-deps.sh
# --aarch64), cross-builds the aarch64 preset (build-aarch64/) and runs the bounded CI subset
# (label arm-ci: every ARM kernel set against the oracle on an emulated `max` and `cortex-a53`,
# golden parity, the CLI), or with --full every unit test and every golden case under emulation.
# Usage: scripts/test-aarch64.sh [--full]
set -euo pipefail
cd "$(dirname "$0")/.."
test_preset=aarch64
case "${1:-}" in
  --full) test_preset=aarch64-full ;;
  "") ;;
  *) echo "test-aarch64: unknown option $1 (expected --full)" >&2; exit 2 ;;
esac
scripts/install-deps.sh --aarch64
cmake --preset aarch64 >/dev/null
cmake --build --preset aarch64 -j 2
ctest --preset "$test_preset"
