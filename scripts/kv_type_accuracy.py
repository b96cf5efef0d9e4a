#!/usr/bin/env python3
"""How much the Q8_0 KV cache (-ctk q8_0 -ctv q8_0) changes the logits against the F16 cache.

For each case (a model and a token sequence) `bitnet eval` writes the logits of every position with
the F16 cache and with Q8_0 K and V; per position we compute KL(p_f16 || p_q8) of the softmax
distributions and whether the arg-max agrees (the functions of scripts/head_type_accuracy.py):
  - the golden prompts of the fixture models (../shared/fixtures, golden/ and golden-upstream/);
  - long sequences, where every position attends to a long quantized cache: the TQ2_0 fixture over
    --depth + 64 positions, and a synthetic 2B-4T-shaped model (default /tmp/2b4t.gguf, made by
    `bitnet synth --preset 2b4t --type i2_s -o /tmp/2b4t.gguf`) over --synthetic-positions;
    the KL is reported for the last 64 positions (those at depth).

    .venv/bin/python scripts/kv_type_accuracy.py [--bin build/bin/bitnet] [--json]

tests/python/test_kv_type_accuracy.py asserts loose bounds on the fixture figures.
"""
import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("head_type_accuracy",
                                               ROOT / "scripts/head_type_accuracy.py")
head_accuracy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(head_accuracy)
compare = head_accuracy.compare
fixture_cases = head_accuracy.fixture_cases
synthetic_tokens = head_accuracy.synthetic_tokens

KV_TYPES = ("f16", "q8_0")
TAIL = 64  # positions at depth that a long case reports


def eval_logits(binary, model, tokens, kv_type, threads, workdir):
    return head_accuracy.run_eval(binary, model, tokens, threads,
                                  Path(workdir) / f"logits_{kv_type}.bin",
                                  ["-ctk", kv_type, "-ctv", kv_type])


def measure(binary, cases, threads=2, tail=None):
    """{"kl": [...], "top1": [...]} over every position (or the last `tail`) of every case."""
    result = {"kl": [], "top1": [], "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, tokens in cases:
            f16 = eval_logits(binary, model, tokens, "f16", threads, tmp)
            q8 = eval_logits(binary, model, tokens, "q8_0", threads, tmp)
            if tail:
                f16, q8 = f16[-tail:], q8[-tail:]
            kl, top1 = compare(f16, q8)
            result["kl"].extend(kl.tolist())
            result["top1"].extend(top1.tolist())
            result["cases"].append(name)
    return result


def summary(result):
    kl = np.array(result["kl"])
    return {"positions": len(kl), "mean_kl": float(kl.mean()), "max_kl": float(kl.max()),
            "top1_agreement": float(np.mean(result["top1"]))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("BITNET_BIN", str(ROOT / "build/bin/bitnet")))
    ap.add_argument("--fixtures", default=os.environ.get("BITNET_FIXTURES",
                                                         str(ROOT.parent / "shared/fixtures")))
    ap.add_argument("--depth", type=int, default=2048, help="depth of the TQ2_0 fixture's long case")
    ap.add_argument("--synthetic", default="/tmp/2b4t.gguf",
                    help="2B-4T-shaped model ('' to skip)")
    ap.add_argument("--synthetic-positions", type=int, default=576)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rows = {}
    by_model = {}
    for case in fixture_cases(args.fixtures):
        by_model.setdefault(case[1].name, []).append(case)
    for model, cases in by_model.items():
        rows[f"{model}, golden prompts"] = summary(measure(args.bin, cases, args.threads))
    tiny = Path(args.fixtures) / "tiny-bitnet-tq2_0.gguf"
    long_case = [("depth", tiny, synthetic_tokens(32000, args.depth + TAIL, bos=1))]
    rows[f"{tiny.name}, positions {args.depth}-{args.depth + TAIL - 1}"] = summary(
        measure(args.bin, long_case, args.threads, tail=TAIL))
    if args.synthetic and Path(args.synthetic).exists():
        n = args.synthetic_positions
        cases = [("synthetic", Path(args.synthetic), synthetic_tokens(128256, n))]
        rows[f"{Path(args.synthetic).name}, positions {n - TAIL}-{n - 1}"] = summary(
            measure(args.bin, cases, args.threads, tail=TAIL))
    elif args.synthetic:
        print(f"note: {args.synthetic} not found, skipped", file=sys.stderr)

    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| model, positions | positions | mean KL(p_f16 || p_q8_0) | max KL | top-1 agreement |")
    print("|---|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s['positions']} | {s['mean_kl']:.2e} | {s['max_kl']:.2e} "
              f"| {s['top1_agreement']:.3f} |")


if __name__ == "__main__":
    main()
