#!/usr/bin/env python3
"""How much the opt-in lower-precision output head (--head-type q8_0 | q6_k) changes the logits.

For each case (a model and a token sequence) `bitnet eval` writes the logits of every position
with the F16 head and with each quantized head; per position we compute KL(p_f16 || p_q) of the
softmax distributions and whether the arg-max agrees, and report their means:
  - the golden prompts of the fixture models (../shared/fixtures, golden/ and golden-upstream/);
  - a synthetic 2B-4T-shaped model (default /tmp/2b4t.gguf, made by
    `bitnet synth --preset 2b4t --type i2_s -o /tmp/2b4t.gguf`), 64 positions of a fixed
    pseudo-random token sequence.
Q6_K needs rows that are whole 256-value blocks: the tiny I2_S fixture (n_embd 128) has none.

    .venv/bin/python scripts/head_type_accuracy.py [--bin build/bin/bitnet] [--json]

Needs numpy (the test virtualenv). tests/python/test_head_type_accuracy.py asserts loose bounds on
the fixture figures with the same functions.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEADS = ("q8_0", "q6_k")


def run_eval(binary, model, tokens, threads, out, options):
    """`bitnet eval` of `tokens` with extra `options`: the logits as [positions][vocab]."""
    cmd = [str(binary), "eval", "-m", str(model), "--tokens", ",".join(map(str, tokens)),
           "-o", str(out), "-t", str(threads), *options]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... {' '.join(options)} failed:\n{proc.stderr}")
    return np.fromfile(out, dtype="<f4").reshape(len(tokens), -1)


def eval_logits(binary, model, tokens, head, threads, workdir):
    return run_eval(binary, model, tokens, threads, Path(workdir) / f"logits_{head}.bin",
                    ["--head-type", head])


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def compare(p_logits, q_logits):
    """Per position KL(p || q) and arg-max agreement of two [positions][vocab] logit arrays."""
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
    top1 = p_logits.argmax(axis=-1) == q_logits.argmax(axis=-1)
    return kl, top1


def fixture_cases(fixtures):
    """(name, model path, tokens) for every golden prompt of the fixture models."""
    cases = []
    for directory in ("golden", "golden-upstream"):
        for path in sorted((Path(fixtures) / directory).glob("*.json")):
            if path.name.startswith("tiny-bitnet-tq1_0"):
                continue  # the same weights as TQ2_0
            case = json.loads(path.read_text())
            cases.append((path.stem, Path(fixtures) / Path(case["model"]).name, case["tokens"]))
    return cases


def synthetic_tokens(n_vocab, n, bos=128000, seed=8):
    rng = np.random.default_rng(seed)
    return [bos] + [int(t) for t in rng.integers(0, n_vocab, n - 1)]


def measure(binary, cases, heads=HEADS, threads=2):
    """{head: {"kl": [...], "top1": [...], "skipped": [...]}} over every position of every case."""
    results = {h: {"kl": [], "top1": [], "cases": [], "skipped": []} for h in heads}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, tokens in cases:
            reference = eval_logits(binary, model, tokens, "f16", threads, tmp)
            for head in heads:
                try:
                    quantized = eval_logits(binary, model, tokens, head, threads, tmp)
                except RuntimeError as e:
                    if "whole blocks" not in str(e):
                        raise
                    results[head]["skipped"].append(name)
                    continue
                kl, top1 = compare(reference, quantized)
                results[head]["kl"].extend(kl.tolist())
                results[head]["top1"].extend(top1.tolist())
                results[head]["cases"].append(name)
    return results


def summary(results):
    out = {}
    for head, r in results.items():
        if not r["kl"]:
            out[head] = {"positions": 0, "skipped": r["skipped"]}
            continue
        kl = np.array(r["kl"])
        out[head] = {
            "positions": len(kl),
            "mean_kl": float(kl.mean()),
            "max_kl": float(kl.max()),
            "top1_agreement": float(np.mean(r["top1"])),
            "skipped": r["skipped"],
        }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("BITNET_BIN", str(ROOT / "build/bin/bitnet")))
    ap.add_argument("--fixtures", default=os.environ.get("BITNET_FIXTURES",
                                                         str(ROOT.parent / "shared/fixtures")))
    ap.add_argument("--synthetic", default="/tmp/2b4t.gguf",
                    help="2B-4T-shaped model ('' to skip)")
    ap.add_argument("--positions", type=int, default=64)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    groups = {}
    by_model = {}
    for case in fixture_cases(args.fixtures):
        by_model.setdefault(case[1].name, []).append(case)
    for model, cases in by_model.items():
        groups[model] = summary(measure(args.bin, cases, threads=args.threads))
    if args.synthetic and Path(args.synthetic).exists():
        tokens = synthetic_tokens(128256, args.positions)
        cases = [("synthetic", Path(args.synthetic), tokens)]
        groups[Path(args.synthetic).name] = summary(measure(args.bin, cases, threads=args.threads))
    elif args.synthetic:
        print(f"note: {args.synthetic} not found, skipped", file=sys.stderr)

    if args.json:
        print(json.dumps(groups, indent=2))
        return
    print(f"| model | head | positions | mean KL(p_f16 || p_q) | max KL | top-1 agreement |")
    print(f"|---|---|---|---|---|---|")
    for model, heads in groups.items():
        for head, s in heads.items():
            if s["positions"] == 0:
                print(f"| {model} | {head} | - | not applicable (rows not whole blocks) | | |")
                continue
            print(f"| {model} | {head} | {s['positions']} | {s['mean_kl']:.2e} | {s['max_kl']:.2e} "
                  f"| {s['top1_agreement']:.3f} |")


if __name__ == "__main__":
    main()
