"""`bitnet bench` smoke test (no timing asserted): the table and the llama-bench-compatible JSON on
a synthetic I2_S model written by `bitnet synth` into a temp dir (the tiny fixture model when this
build has no `synth` command).

The model is the 2B-4T-shaped synthetic model (`--preset 2b4t --type i2_s`, 1.18 GB, about 20 s
of CPU to write; with tiny -p/-n the bench itself takes seconds). BITNET_BENCH_PRESET=tiny makes
it a fraction of a second."""

import json
import os
import pathlib
import subprocess
import time

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = pathlib.Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))

LLAMA_BENCH_FIELDS = ["model_filename", "model_type", "model_size", "model_n_params", "n_threads",
                      "n_prompt", "n_gen", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns",
                      "samples_ts", "test_time", "cpu_info", "backends", "n_batch", "type_k", "type_v"]


def has_synth():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    return " synth" in r.stdout


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not has_synth():
        return FIXTURES / "tiny-b158-i2s.gguf"
    preset = os.environ.get("BITNET_BENCH_PRESET", "2b4t")
    path = tmp_path_factory.mktemp("bench") / f"{preset}-i2s.gguf"
    start = time.monotonic()
    r = subprocess.run([BIN, "synth", "--preset", preset, "--type", "i2_s", "-q", "-o", str(path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    print(f"synth {preset} i2_s: {time.monotonic() - start:.1f} s, {path.stat().st_size} bytes")
    return path


def bench(*args):
    return subprocess.run([BIN, "bench", *map(str, args)], capture_output=True, text=True,
                          timeout=900)


def test_bench_json_has_llama_bench_fields(model):
    r = bench("-m", model, "-p", 4, "-n", 2, "-t", 1, "-r", 2, "--json")
    assert r.returncode == 0, r.stderr
    tests = json.loads(r.stdout)
    assert [(t["n_prompt"], t["n_gen"]) for t in tests] == [(4, 0), (0, 2)]
    for t in tests:
        for field in LLAMA_BENCH_FIELDS:
            assert field in t, field
        assert t["model_filename"] == str(model)
        assert t["n_threads"] == 1
        assert t["model_size"] > 0 and t["model_n_params"] > 0
        assert len(t["samples_ns"]) == 2 and len(t["samples_ts"]) == 2
        assert t["avg_ts"] > 0 and t["avg_ns"] > 0
        assert "I2_S" in t["model_type"]


def test_bench_table(model):
    r = bench("-m", model, "-p", 4, "-n", 2, "-t", 1, "-r", 1)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("| model") and "t/s" in lines[0]
    assert any(" pp4 " in line for line in lines)
    assert any(" tg2 " in line for line in lines)
    assert "CPU features:" in r.stdout


def test_bench_skips_a_test_with_zero(model):
    r = bench("-m", model, "-p", 0, "-n", 1, "-t", 1, "-r", 1, "--json")
    assert r.returncode == 0, r.stderr
    assert [t["n_gen"] for t in json.loads(r.stdout)] == [1]


def test_bench_bad_model_fails(tmp_path):
    r = bench("-m", tmp_path / "missing.gguf")
    assert r.returncode == 1 and "missing.gguf" in r.stderr
