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


def test_bench_tg_reports_its_bandwidth_bound(model):
    """A tg test's bound: the file's tensor bytes (less the token embedding when the head is its own
    tensor) plus the K and V bytes of the positions attended, averaged over the test, over the
    measured read bandwidth."""
    r = bench("-m", model, "-p", 0, "-n", 2, "-d", 3, "-t", 1, "-r", 1, "--json", "-ctk", "q8_0")
    assert r.returncode == 0, r.stderr
    (t,) = json.loads(r.stdout)
    # The tensor list from `bitnet inspect` (gguf's reader does not know I2_S).
    info = json.loads(subprocess.run([BIN, "inspect", str(model), "--json"], capture_output=True,
                                     text=True, check=True).stdout)
    tensors = {x["name"]: x["bytes"] for x in info["tensors"]}
    weights = sum(tensors.values())
    if "output.weight" in tensors:
        weights -= tensors["token_embd.weight"]
    arch = info["architecture"]
    meta = {k: info["metadata"][f"{arch}.{k}"]["value"]
            for k in ("block_count", "embedding_length", "attention.head_count", "attention.head_count_kv")}
    n_embd_kv = meta["embedding_length"] // meta["attention.head_count"] * meta["attention.head_count_kv"]
    per_position = meta["block_count"] * n_embd_kv * (34 / 32 + 2)  # q8_0 K, f16 V
    kv = per_position * (3 + (2 + 1) / 2)  # positions 3 and 4 attend to 4 and 5 positions
    assert t["kv_bytes_per_token"] == pytest.approx(kv)
    assert t["bytes_per_token"] == pytest.approx(weights + kv)
    assert t["mem_read_gbs"] > 0
    assert t["bound_ts"] == pytest.approx(t["mem_read_gbs"] * 1e9 / t["bytes_per_token"])

    r = bench("-m", model, "-p", 4, "-n", 2, "-t", 1, "-r", 1)
    assert r.returncode == 0, r.stderr
    bound_lines = [line for line in r.stdout.splitlines() if line.startswith("bound ")]
    assert len(bound_lines) == 1 and bound_lines[0].startswith("bound tg2: "), r.stdout
    assert "GB/s read by 1 thread / " in bound_lines[0] and "% of it" in bound_lines[0]


def test_bench_skips_a_test_with_zero(model):
    r = bench("-m", model, "-p", 0, "-n", 1, "-t", 1, "-r", 1, "--json")
    assert r.returncode == 0, r.stderr
    assert [t["n_gen"] for t in json.loads(r.stdout)] == [1]


def test_bench_bad_model_fails(tmp_path):
    r = bench("-m", tmp_path / "missing.gguf")
    assert r.returncode == 1 and "missing.gguf" in r.stderr


# Every key llama-bench -o json writes (tools/llama-bench/llama-bench.cpp get_fields, llama.cpp as
# vendored by llama-cpp-python 0.3.36) with its JSON type; compare-llama-bench.py refuses a file
# that lacks one of its key properties.
LLAMA_BENCH_JSON_TYPES = {
    "build_commit": str, "build_number": int, "cpu_info": str, "gpu_info": str, "backends": str,
    "model_filename": str, "model_type": str, "model_size": int, "model_n_params": int, "n_batch": int,
    "n_ubatch": int, "n_threads": int, "cpu_mask": str, "cpu_strict": bool, "poll": int, "type_k": str,
    "type_v": str, "n_gpu_layers": int, "n_cpu_moe": int, "split_mode": str, "main_gpu": int,
    "no_kv_offload": bool, "flash_attn": int, "devices": str, "tensor_split": str,
    "tensor_buft_overrides": str, "load_mode": str, "lazy_mode": str, "embeddings": bool,
    "no_op_offload": int, "no_host": bool, "repack": bool, "fit_target": int, "fit_min_ctx": int,
    "n_prompt": int, "n_gen": int, "n_depth": int, "test_time": str, "avg_ns": int, "stddev_ns": int,
    "avg_ts": float, "stddev_ts": float,
}
COMPARE_LLAMA_BENCH_REQUIRED = [
    "cpu_info", "gpu_info", "backends", "n_gpu_layers", "n_cpu_moe", "tensor_buft_overrides", "model_filename",
    "model_type", "n_batch", "n_ubatch", "embeddings", "cpu_mask", "cpu_strict", "poll", "n_threads", "type_k",
    "type_v", "load_mode", "no_kv_offload", "split_mode", "main_gpu", "tensor_split", "flash_attn", "n_prompt",
    "n_gen", "n_depth", "fit_target", "fit_min_ctx", "build_commit", "test_time", "avg_ts",
]


def test_bench_json_has_every_llama_bench_key_with_its_type(model):
    r = bench("-m", model, "-p", 4, "-n", 2, "-t", 1, "-r", 1, "--json", "--poll", 0)
    assert r.returncode == 0, r.stderr
    for t in json.loads(r.stdout):
        for key in COMPARE_LLAMA_BENCH_REQUIRED:
            assert key in t, key
        for key, kind in LLAMA_BENCH_JSON_TYPES.items():
            assert key in t, key
            value = t[key]
            if kind is int:
                assert isinstance(value, int) and not isinstance(value, bool), (key, value)
            elif kind is float:
                assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
            else:
                assert isinstance(value, kind), (key, value)
        assert t["poll"] == 0 and t["n_depth"] == 0


def test_bench_value_lists_depth_and_batch(model):
    r = bench("-m", model, "-p", "4,6", "-n", 2, "-d", "0,8", "-t", "1", "-b", 3, "-r", 1, "--json")
    assert r.returncode == 0, r.stderr
    tests = json.loads(r.stdout)
    assert [(t["n_prompt"], t["n_gen"], t["n_depth"]) for t in tests] == [
        (4, 0, 0), (6, 0, 0), (0, 2, 0), (4, 0, 8), (6, 0, 8), (0, 2, 8)]
    assert all(t["n_batch"] == 3 for t in tests)
    table = bench("-m", model, "-p", 4, "-n", 0, "-d", 8, "-t", "1-2", "-r", 1)
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "pp4 @ d8" in line]
    assert len(rows) == 2  # threads 1 and 2


@pytest.mark.parametrize("bad", [["-p", "4,x"], ["-d", "8-4"], ["-t", "1-4*1"], ["-b", "0"], ["-p", ""]])
def test_bench_bad_value_lists_are_refused(model, bad):
    r = bench("-m", model, "-r", 1, *bad)
    assert r.returncode != 0
    assert bad[0] in r.stderr or "value" in r.stderr.lower(), r.stderr
