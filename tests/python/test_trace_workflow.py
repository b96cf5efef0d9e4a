"""The seed's trace workflow from the shell: BITNET_TRACE_DIR traces every subcommand that runs the
model (run, chat, eval, crossval-per-token), the seed's first "essential command" runs as written,
BITNET_TRACE_FILTER / --trace-filter keep only the matching records, BITNET_DETERMINISTIC gives the
same bytes whatever -t says, and BITNET_DEBUG_LOGITS prints the top-5 of each evaluated position.
(The C and C++ APIs are covered by tests/unit/debug_switches_test.cpp.)"""

import json
import os
import pathlib
import re
import subprocess

import numpy as np
import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = pathlib.Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
MODEL = FIXTURES / "tiny-b158-i2s.gguf"
TOKENIZER_JSON = FIXTURES / "tokenizer" / "llama3-tokenizer.json"
I2S_GOLDEN = FIXTURES / "golden" / "tiny-b158-i2s.p1_ascii.json"

DEBUG_VARS = ("BITNET_TRACE_DIR", "BITNET_TRACE_DATA", "BITNET_TRACE_FILTER", "BITNET_DETERMINISTIC",
              "BITNET_SEED", "BITNET_DEBUG_LOGITS", "BITNET_TEST_PERTURB", "BITNET_CPU")


def bitnet(*args, env=None, stdin=None):
    full_env = {k: v for k, v in os.environ.items() if k not in DEBUG_VARS}
    full_env.update(env or {})
    return subprocess.run([BIN, *map(str, args)], capture_output=True, env=full_env, input=stdin,
                          timeout=300)


def records(trace_dir):
    files = sorted(pathlib.Path(trace_dir).glob("*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def assert_full_trace(recs, n_evals):
    assert {r["seq"] for r in recs} == set(range(n_evals))
    stages = {r["stage"] for r in recs}
    assert {"embeddings", "attn_norm", "q_proj", "ffn_out", "layer_out", "final_norm", "logits"} <= stages
    assert {r["layer"] for r in recs} == {-1, 0, 1, 2, 3}


def test_run_traces(tmp_path):
    r = bitnet("run", "-m", MODEL, "-p", "Hello", "-n", 4, "--temp", 0, "-t", 1,
               env={"BITNET_TRACE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert_full_trace(records(tmp_path), 4)  # prefill + 3 decode steps for 4 tokens


def test_chat_traces(tmp_path):
    r = bitnet("chat", "-m", MODEL, "-n", 2, "--greedy", "-t", 1, env={"BITNET_TRACE_DIR": str(tmp_path)},
               stdin=b"Hello\n")
    assert r.returncode == 0, r.stderr
    assert_full_trace(records(tmp_path), 2)


def test_eval_traces(tmp_path):
    out = tmp_path / "logits.bin"
    r = bitnet("eval", "-m", MODEL, "--tokens", "128000,9906,1917", "--out", out,
               env={"BITNET_TRACE_DIR": str(tmp_path / "t")})
    assert r.returncode == 0, r.stderr
    recs = records(tmp_path / "t")
    assert_full_trace(recs, 1)
    assert sorted({r["pos"] for r in recs}) == [0, 1, 2]


def test_crossval_traces_from_the_variable(tmp_path):
    r = bitnet("crossval-per-token", "-t", 1, "--model", MODEL, "--b", f"golden:{I2S_GOLDEN}",
               "--max-tokens", 1, env={"BITNET_TRACE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert_full_trace(records(tmp_path), 2)


def test_seed_essential_command_runs_as_written(tmp_path):
    env = {"BITNET_TRACE_DIR": str(tmp_path / "rs"), "BITNET_DETERMINISTIC": "1", "BITNET_SEED": "42"}
    args = ("run", "--model", MODEL, "--tokenizer", TOKENIZER_JSON, "--prompt", "test", "--max-tokens", 4,
            "--greedy")
    r = bitnet(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert_full_trace(records(tmp_path / "rs"), 4)
    # --tokenizer really tokenizes: the same text as with the model's own (identical vocab).
    plain = bitnet("run", "-m", MODEL, "-p", "test", "-n", 4, "--temp", 0, "-t", 1)
    assert r.stdout == plain.stdout


def test_run_rejects_greedy_with_temp():
    r = bitnet("run", "-m", MODEL, "-p", "x", "--greedy", "--temp", "0.5")
    assert r.returncode != 0
    assert b"excludes" in r.stderr.lower() or b"--greedy" in r.stderr


def test_tokenizer_larger_than_the_model_is_refused():
    spm = FIXTURES / "tokenizer" / "llamacpp-tests" / "ggml-vocab-llama-spm.gguf"
    tq = FIXTURES / "tiny-bitnet-tq2_0.gguf"
    # The LLaMA-3 tokenizer (128256 tokens) on the 32000-token model.
    r = bitnet("run", "-m", tq, "--tokenizer", TOKENIZER_JSON, "-p", "x", "-n", 1)
    assert r.returncode == 1
    assert b"128256" in r.stderr and b"32000" in r.stderr
    assert spm.exists()


def test_trace_filter_keeps_only_matching_records(tmp_path):
    r = bitnet("run", "-m", MODEL, "-p", "Hello", "-n", 2, "--temp", 0, "-t", 1,
               "--trace-filter", "1-2:attn_*,*:logits", env={"BITNET_TRACE_DIR": str(tmp_path / "f")})
    assert r.returncode == 0, r.stderr
    recs = records(tmp_path / "f")
    assert recs
    for rec in recs:
        ok = (rec["layer"] in (1, 2) and rec["stage"].startswith("attn_")) or rec["stage"] == "logits"
        assert ok, rec
    assert {r["stage"] for r in recs} == {"attn_norm", "attn_out", "attn_sub_norm", "logits"}
    assert json.loads(next((tmp_path / "f").glob("*.meta.json")).read_text()) == {"filter": "1-2:attn_*,*:logits"}

    # trace-diff of filtered vs full: the rest is "filtered", not missing, and not a divergence.
    full = bitnet("run", "-m", MODEL, "-p", "Hello", "-n", 2, "--temp", 0, "-t", 1,
                  env={"BITNET_TRACE_DIR": str(tmp_path / "full")})
    assert full.returncode == 0
    d = bitnet("trace-diff", tmp_path / "f", tmp_path / "full", "--format", "json")
    assert d.returncode == 0, d.stdout + d.stderr
    report = json.loads(d.stdout)
    assert report["totals"]["missing_in_a"] == 0
    assert report["totals"]["filtered_in_a"] == len(records(tmp_path / "full")) - len(recs)
    assert report["totals"]["identical"] == len(recs)
    assert report["a"]["filter"] == "1-2:attn_*,*:logits"
    text = bitnet("trace-diff", tmp_path / "f", tmp_path / "full")
    assert b"filtered out" in text.stdout


def test_trace_filter_env_and_bad_spec(tmp_path):
    r = bitnet("eval", "-m", MODEL, "--tokens", "128000,9906", "--out", tmp_path / "x.bin",
               env={"BITNET_TRACE_DIR": str(tmp_path / "e"), "BITNET_TRACE_FILTER": "0:q_proj"})
    assert r.returncode == 0, r.stderr
    assert {(x["layer"], x["stage"]) for x in records(tmp_path / "e")} == {(0, "q_proj")}
    bad = bitnet("run", "-m", MODEL, "-p", "x", "--trace-filter", "0:no_such_stage")
    assert bad.returncode != 0 and b"no_such_stage" in bad.stderr
    bad_cv = bitnet("crossval-per-token", "--model", MODEL, "--b", f"golden:{I2S_GOLDEN}",
                    "--trace-filter", "9-1:*")
    assert bad_cv.returncode == 3 and b"trace filter" in bad_cv.stderr


def test_deterministic_gives_the_same_bytes_whatever_the_threads(tmp_path):
    outs = []
    for threads in (1, 2, 3):
        r = bitnet("run", "-m", MODEL, "-p", "Once upon a time", "-n", 12, "-t", threads,
                   "--trace-filter", "*:logits", env={"BITNET_DETERMINISTIC": "1",
                                                      "BITNET_TRACE_DIR": str(tmp_path / f"t{threads}")})
        assert r.returncode == 0, r.stderr
        assert b"seed 42" in r.stderr
        outs.append((r.stdout, [x["blake3"] for x in records(tmp_path / f"t{threads}")]))
    assert outs[0] == outs[1] == outs[2]
    seeded = bitnet("run", "-m", MODEL, "-p", "Once upon a time", "-n", 12, "-t", 2,
                    env={"BITNET_DETERMINISTIC": "1", "BITNET_SEED": "42"})
    assert seeded.stdout == outs[0][0]


def test_debug_logits_prints_the_top5_of_each_position(tmp_path):
    out = tmp_path / "logits.bin"
    r = bitnet("eval", "-m", MODEL, "--tokens", "128000,9906,1917", "--out", out, "--last",
               env={"BITNET_DEBUG_LOGITS": "1"})
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "debug-logits: head tied (reads token_embd.weight), stored F16, computed as F16" in err
    lines = [line for line in err.splitlines() if line.startswith("debug-logits: pos ")]
    assert len(lines) == 1 and lines[0].startswith("debug-logits: pos 2 top5:")
    ids = [int(m) for m in re.findall(r"(?:top5:|,) (\d+) ", lines[0])]
    logits = np.fromfile(out, dtype="<f4")
    expected = sorted(range(len(logits)), key=lambda i: (-logits[i], i))[:5]
    assert ids == expected
    values = [float(v) for v in re.findall(r" (-?[0-9.e+-]+)(?:,|$)", lines[0])]
    np.testing.assert_allclose(values, logits[expected], rtol=1e-5)

    all_rows = bitnet("eval", "-m", MODEL, "--tokens", "128000,9906,1917", "--out", out,
                      env={"BITNET_DEBUG_LOGITS": "1"})
    assert [f"debug-logits: pos {p} " in all_rows.stderr.decode() for p in range(3)] == [True] * 3
