#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (`fuzz` preset) and runs them; any finding fails the script.
#   fuzz_gguf:      the GGUF reader, N seconds (default 60), seeded with every GGUF under ../shared/fixtures
#   fuzz_tokenizer: encode/decode/stream-decode on both vocabularies, N/2 seconds
#   fuzz_trace_filter: the BITNET_TRACE_FILTER grammar, N/6 seconds
#   fuzz_safetensors: the safetensors and SentencePiece readers of `bitnet convert`, N/6 seconds
#     (10 s in CI), seeded with the fixtures' model.safetensors headers
#   fuzz_json_prefix:  the incremental JSON validator of response_format json_object, N/6 seconds
# Usage: scripts/fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
fixtures=${BITNET_FIXTURES:-../shared/fixtures}
export BITNET_FIXTURES=$fixtures
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j 2 --target fuzz_gguf fuzz_tokenizer fuzz_trace_filter fuzz_json_prefix fuzz_safetensors
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/gguf" "$corpus/tokenizer" "$corpus/trace_filter" "$corpus/json_prefix" "$corpus/safetensors"
printf '0-3:*,*:logits' >"$corpus/trace_filter/seed1"
printf 'ffn_*' >"$corpus/trace_filter/seed2"
printf '\000{"a": [1, -2.5e3, true, null, {"b": "\\u00e9\303\251"}]}' >"$corpus/json_prefix/seed1"
printf '\001[0, "x\\n", {}]' >"$corpus/json_prefix/seed2"
find "$fixtures" -name '*.gguf' -exec cp {} "$corpus/gguf"/ \;
# Large seeds are truncated to their header and metadata, which is where the parser works.
for f in "$corpus"/gguf/*.gguf; do head -c 1048576 "$f" >"$f.head" && mv "$f.head" "$f"; done
build-fuzz/bin/fuzz_gguf -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus/gguf"
echo "fuzz_gguf: no finding in ${seconds} s"
build-fuzz/bin/fuzz_tokenizer -max_total_time="$((seconds / 2))" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus/tokenizer"
echo "fuzz_tokenizer: no finding in $((seconds / 2)) s"
build-fuzz/bin/fuzz_trace_filter -max_total_time="$((seconds / 6))" -max_len=256 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus/trace_filter"
echo "fuzz_trace_filter: no finding in $((seconds / 6)) s"
build-fuzz/bin/fuzz_json_prefix -max_total_time="$((seconds / 6))" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus/json_prefix"
echo "fuzz_json_prefix: no finding in $((seconds / 6)) s"
# Seeds: each fixture checkpoint's header and the first KB of its data; a tokenizer.model.
i=0
for f in $(find "$fixtures" -name 'model.safetensors'); do
  n=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
  head -c "$((8 + n + 1024))" "$f" >"$corpus/safetensors/seed$i"
  i=$((i + 1))
done
h='{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[1,2],"data_offsets":[4,6]}}'
{ printf "$(printf '\\x%02x' ${#h})\\0\\0\\0\\0\\0\\0\\0"; printf '%s' "$h"; printf '\x80\x3f\x00\xc0\x12\x24'; } >"$corpus/safetensors/valid"
spm=$(find "$fixtures" -name tokenizer.model | head -1)
if [ -n "$spm" ]; then { printf '\xa5'; head -c 4096 "$spm"; } >"$corpus/safetensors/spm"; fi
build-fuzz/bin/fuzz_safetensors -max_total_time="$((seconds / 6))" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 "$corpus/safetensors"
echo "fuzz_safetensors: no finding in $((seconds / 6)) s"
