"""`bitnet trace-diff --format json` against docs/schemas/trace-diff.schema.json (validated with the
independent `jsonschema` package), on traces written here in Python from the format in
docs/crossval.md, so the documented format is exercised by a second writer.

Python's hashlib has no BLAKE3; trace-diff only compares hash strings, so these traces use the
SHA-256 hex of the same bytes (also 64 lowercase hex digits) as a stand-in.
"""

import hashlib
import json
import os
import pathlib
import subprocess

import jsonschema
import numpy as np
import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
SCHEMA_PATH = pathlib.Path(__file__).resolve().parents[2] / "docs" / "schemas" / "trace-diff.schema.json"

LAYER_STAGES = ["attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "attn_sub_norm", "o_proj", "ffn_norm",
                "ffn_gate", "ffn_up", "ffn_act", "ffn_sub_norm", "ffn_out", "layer_out"]


def write_trace(directory, *, n_layers=3, n_prompt=3, n_decode=1, perturb_layer=None, delta=0.5,
                save_data=True, skip_stages=(), nan_layer=None):
    """One run: prefill (seq 0) over n_prompt positions, then n_decode single-token evals."""
    directory.mkdir(parents=True, exist_ok=True)
    rows, blob, offset = [], bytearray(), 0

    def emit(seq, layer, stage, pos, rank):
        nonlocal offset
        if stage in skip_stages:
            return
        x = np.sin(0.3 * np.arange(1, 9) * (layer + 3) + 0.1 * pos + 0.05 * seq + len(stage)).astype(np.float32)
        if perturb_layer is not None and rank >= perturb_layer and not (rank == perturb_layer and stage == "attn_norm"):
            x = x + np.float32(delta) * np.cos(np.arange(8)).astype(np.float32)
        if nan_layer is not None and rank == nan_layer:
            x[3] = np.nan
        data = x.astype("<f4").tobytes()
        rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        rec = {"seq": seq, "layer": layer, "stage": stage, "pos": pos, "shape": [8], "dtype": "f32",
               "rms": rms if np.isfinite(rms) else None, "blake3": hashlib.sha256(data).hexdigest()}
        if save_data:
            rec["data"] = "run.bin"
            rec["offset"] = offset
            blob.extend(data)
            offset += len(data)
        rows.append(json.dumps(rec))

    for seq in range(n_decode + 1):
        positions = range(n_prompt) if seq == 0 else [n_prompt + seq - 1]
        for pos in positions:
            emit(seq, -1, "embeddings", pos, -1)
        for layer in range(n_layers):
            for stage in LAYER_STAGES:
                for pos in positions:
                    emit(seq, layer, stage, pos, layer)
        for stage in ["final_norm", "logits"]:
            for pos in positions:
                emit(seq, -1, stage, pos, n_layers)
    (directory / "run.jsonl").write_text("\n".join(rows) + "\n")
    if save_data:
        (directory / "run.bin").write_bytes(bytes(blob))
    return directory


def trace_diff(a, b, *extra):
    return subprocess.run([BIN, "trace-diff", str(a), str(b), "--format", "json", *extra],
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


CASES = {
    "identical": (dict(), dict(), 0),
    "perturbed": (dict(), dict(perturb_layer=1), 1),
    "perturbed-no-data": (dict(save_data=False), dict(save_data=False, perturb_layer=2), 1),
    "close": (dict(), dict(perturb_layer=0, delta=1e-5), 0),
    "missing-decode": (dict(n_decode=2), dict(n_decode=1), 1),
    "untraced-stages": (dict(), dict(skip_stages=("q_proj", "ffn_act")), 0),
    "nan": (dict(), dict(nan_layer=2), 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_report_validates_against_schema(tmp_path, validator, name):
    opts_a, opts_b, want_exit = CASES[name]
    a = write_trace(tmp_path / "a", **opts_a)
    b = write_trace(tmp_path / "b", **opts_b)
    result = trace_diff(a, b)
    assert result.returncode == want_exit, result.stderr
    report = json.loads(result.stdout)
    validator.validate(report)
    assert report["diverged"] == (want_exit == 1)
    assert (report["first_divergence"] is None) == (want_exit == 0)


def test_first_divergence_is_the_perturbed_layer(tmp_path):
    a = write_trace(tmp_path / "a")
    b = write_trace(tmp_path / "b", perturb_layer=1)
    report = json.loads(trace_diff(a, b).stdout)
    first = report["first_divergence"]
    assert (first["seq"], first["layer"], first["stage"], first["pos"]) == (0, 1, "q_proj", 0)
    assert first["status"] == "different"
    assert first["cosine"] < 0.99
    labels = [layer["label"] for layer in report["layers"]]
    assert labels == ["input", "0", "1", "2", "output"]


def test_untraced_stages_are_listed_not_divergent(tmp_path):
    a = write_trace(tmp_path / "a")
    b = write_trace(tmp_path / "b", skip_stages=("q_proj", "ffn_act"))
    report = json.loads(trace_diff(a, b).stdout)
    assert report["b"]["untraced_stages"] == ["q_proj", "ffn_act"]
    assert report["unmatched"] == 2 * 3 * 4  # 2 stages x 3 layers x (3 prefill + 1 decode) positions


def test_read_error_exits_two_with_message(tmp_path):
    a = write_trace(tmp_path / "a")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.jsonl").write_text('{"seq":0,"layer":-1}\n')
    result = trace_diff(a, bad)
    assert result.returncode == 2
    assert "run.jsonl:1:" in result.stderr and "missing field" in result.stderr
    assert result.stdout == ""


def test_schema_rejects_a_malformed_report(tmp_path, validator):
    a = write_trace(tmp_path / "a")
    b = write_trace(tmp_path / "b", perturb_layer=1)
    report = json.loads(trace_diff(a, b).stdout)
    validator.validate(report)
    for mutate in (lambda r: r["first_divergence"].update(status="weird"),
                   lambda r: r["layers"][0]["counts"].pop("close"),
                   lambda r: r.update(extra=1),
                   lambda r: r["a"].update(records=-1)):
        broken = json.loads(json.dumps(report))
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
