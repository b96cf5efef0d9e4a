#!/usr/bin/env bash
# CI step: install libbitnet from build/ (the default preset) to a temporary prefix; build
# examples/c against the installed CMake package and with pkg-config and run both on the tiny
# fixtures; compile tests/c/capi_test.c against the installed headers and run it.
# Usage: examples/c/build-from-install.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
fixtures=${BITNET_FIXTURES:-$(pwd)/../shared/fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S examples/c -B "$work/example" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/example"
libdir=$(dirname "$(find "$work/prefix" -name 'libbitnet.so' | head -1)")
LD_LIBRARY_PATH="$libdir" "$work/example/bitnet_c_example" "$fixtures/tiny-b158-i2s.gguf" "Hello" 8

# The same program through pkg-config.
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c99 -Wall -Werror examples/c/generate.c \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs bitnet) -o "$work/generate_pc"
LD_LIBRARY_PATH="$libdir" "$work/generate_pc" "$fixtures/tiny-bitnet-tq2_0.gguf" "Hello" 4 >/dev/null

# The C99 API test (tests/c), compiled against the installed headers only.
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c99 -Wall -Wextra -Wpedantic -Werror tests/c/capi_test.c \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs bitnet) -lpthread -lm -o "$work/capi_test"
LD_LIBRARY_PATH="$libdir" "$work/capi_test" "$fixtures/tiny-bitnet-tq2_0.gguf" "$work" 2>/dev/null | tail -1
echo "examples/c: built and ran from the installed package (CMake and pkg-config); tests/c passed against it"
