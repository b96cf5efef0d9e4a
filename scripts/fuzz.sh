#!/usr/bin/env bash
# Builds the libFuzzer target for the GGUF reader with clang-14 and runs it for N seconds (default 60),
# seeded with every GGUF under ../shared/fixtures. Any finding fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
fixtures=${BITNET_FIXTURES:-../shared/fixtures}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j 2 --target fuzz_gguf
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
find "$fixtures" -name '*.gguf' -exec cp {} "$corpus"/ \;
# Large seeds are truncated to their header and metadata, which is where the parser works.
for f in "$corpus"/*.gguf; do head -c 1048576 "$f" >"$f.head" && mv "$f.head" "$f"; done
build-fuzz/bin/fuzz_gguf -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus"
echo "fuzz_gguf: no finding in ${seconds} s"
