#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in one run (#13): build with CUDA, the CUDA tests (ctest label
# `cuda`), GPU/CPU parity through crossval-per-token --b native:ngl=N, and the benchmarks against
# the CPU path on the same machine. Prints a summary to paste into the issue note.
#
#   scripts/device-check.sh [--quick]      (--quick: the tests and parity on the fixtures only)
#
# Every step has its own time limit and the script goes on past a failing one, so a single run
# reports as much as it can. Needs cmake, ninja, nvcc, GoogleTest and nlohmann-json/CLI11/PCRE2
# (scripts/install-deps.sh) and ../shared/fixtures for the parity step.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
BUILD=${BUILD:-build-cuda}
FIXTURES=${FIXTURES:-../shared/fixtures}
JOBS=${JOBS:-$(nproc)}
OUT=${OUT:-/tmp/bitnet-device-check}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
step() {  # step NAME SECONDS COMMAND...: runs it with a limit, logs to $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  say "[$name] rc=$rc in $((SECONDS - start)) s (log: $OUT/$name.log)"
  return $rc
}

say "== bitnet device check, $(date -u +%FT%TZ)"
say "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
command -v nvidia-smi > /dev/null &&
  say "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
say "nvcc: $(nvcc --version 2> /dev/null | tail -1 || echo missing)"

# 1. Build (the CLI, the unit tests and the CUDA tests) for the H200's sm_90; SKIP_BUILD=1 reuses
# $BUILD as it is (a second run on a warm machine).
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
step configure 300 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITNET_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DBITNET_BUILD_BENCH=OFF -DBITNET_BUILD_EXAMPLES=OFF \
  -DBITNET_FIXTURES_DIR="$(realpath -m "$FIXTURES")" || { say "configure failed"; exit 1; }
step build 900 cmake --build "$BUILD" -j "$JOBS" --target bitnet_cli bitnet_cuda_tests ||
  { tail -30 "$OUT/build.log"; exit 1; }
fi
BIN="$BUILD/bin/bitnet"
say "build info: $("$BIN" --version 2>&1 | head -1)"
"$BIN" inspect "$FIXTURES/tiny-bitnet-tq2_0.gguf" 2> /dev/null | grep '^GPU:' | tee -a "$SUMMARY"

# 2. The CUDA kernels against the scalar oracle, bit for bit.
step cuda_tests 300 "$BUILD/bin/bitnet_cuda_tests" --gtest_brief=1
grep -E "PASSED|FAILED|SKIPPED" "$OUT/cuda_tests.log" | head -12 | tee -a "$SUMMARY"

# 3. Parity: every golden prompt's model with ngl = 1, half and all layers against the CPU.
parity() {  # parity MODEL PROMPT TAG
  local model=$1 prompt=$2 tag=$3
  local n_layer
  n_layer=$("$BIN" inspect "$model" --json 2> /dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["n_layer"])' 2> /dev/null || echo 2)
  for ngl in 1 $((n_layer / 2)) -1; do
    timeout 300 "$BIN" crossval-per-token --model "$model" --prompt "$prompt" --max-tokens 8 \
      --b "native:ngl=$ngl" --format json > "$OUT/parity-$tag-$ngl.json" 2> "$OUT/parity-$tag-$ngl.err"
    python3 - "$OUT/parity-$tag-$ngl.json" "$tag" "$ngl" << 'PY' | tee -a "$SUMMARY"
import json, sys
path, tag, ngl = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"parity {tag} ngl={ngl}: no report ({e})"); sys.exit()
cos = [p["cosine"] for p in r["positions"] if p["cosine"] is not None]
n = max(len(r["positions"]), 1)
at4 = sum(c >= 0.9999 for c in cos) / n
ok = r["token_mismatch"] is None if "token_mismatch" in r else True
ok = ok and at4 >= 0.95 and all(c >= 0.999 for c in cos) and len(cos) == len(r["positions"])
ok = ok and all(p["argmax_agree"] for p in r["positions"])
print(f"parity {tag} ngl={ngl}: {'PASS' if ok else 'FAIL'} min cos {min(cos) if cos else 'n/a'}, "
      f">=0.9999 at {at4:.0%} of {n}, argmax agree {sum(p['argmax_agree'] for p in r['positions'])}/{n}")
PY
    grep -m1 "n_gpu_layers" "$OUT/parity-$tag-$ngl.err" | sed 's/^/  stderr: /' | tee -a "$SUMMARY"
  done
}
for golden in "$FIXTURES"/golden/*.json; do
  [[ -e "$golden" ]] || continue
  stem=$(basename "$golden" .json)
  model="$FIXTURES/${stem%%.*}.gguf"
  [[ -f "$model" ]] || continue
  prompt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt"])' "$golden")
  parity "$model" "$prompt" "$stem"
done

[[ $QUICK == 1 ]] && { say "== quick run: no synthetic models, no benchmarks"; exit 0; }

# 4. The 2b4t I2_S and 2b-bitnet TQ2_0 synthetic models: parity and speed, GPU against 16 cores.
for spec in "2b4t i2_s" "2b-bitnet tq2_0"; do
  set -- $spec
  model="$OUT/synth-$1-$2.gguf"
  [[ -f "$model" ]] || step "synth-$1" 300 "$BIN" synth --preset "$1" --type "$2" -o "$model" -q
  [[ -f "$model" ]] || continue
  parity "$model" "The capital of France is" "synth-$1"
  for ngl in 0 -1; do
    step "bench-$1-ngl$ngl" 300 "$BIN" bench -m "$model" -p 512 -n 32 -r 3 -t 16 -ngl "$ngl"
    grep -E "^offload:|pp512|tg32" "$OUT/bench-$1-ngl$ngl.log" | sed 's/^/  /' | tee -a "$SUMMARY"
  done
done
say "== done; summary in $SUMMARY"
