"""The seed's trace switches from Python: with BITNET_TRACE_DIR set, a Model records every forward
pass like the CLI does (the variable is read by the engine when a context is created), and
BITNET_TRACE_FILTER applies too."""
import json
import os

import bitnet
from conftest import I2S


def _records(directory):
    files = sorted(p for p in directory.iterdir() if p.suffix == ".jsonl")
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def test_trace_dir_traces_a_python_model(tmp_path, monkeypatch):
    monkeypatch.setenv("BITNET_TRACE_DIR", str(tmp_path / "t"))
    monkeypatch.delenv("BITNET_TRACE_FILTER", raising=False)
    model = bitnet.Model(str(I2S), n_ctx=64, n_threads=1)
    model.generate("Hello", max_tokens=3, temperature=0)
    del model
    recs = _records(tmp_path / "t")
    assert {r["seq"] for r in recs} == {0, 1, 2}
    assert {"embeddings", "q_proj", "layer_out", "logits"} <= {r["stage"] for r in recs}


def test_trace_filter_applies_to_python(tmp_path, monkeypatch):
    monkeypatch.setenv("BITNET_TRACE_DIR", str(tmp_path / "f"))
    monkeypatch.setenv("BITNET_TRACE_FILTER", "*:logits")
    model = bitnet.Model(str(I2S), n_ctx=64, n_threads=1)
    model.eval(model.tokenize("Hello world"))
    del model
    assert {r["stage"] for r in _records(tmp_path / "f")} == {"logits"}


def test_no_trace_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("BITNET_TRACE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    model = bitnet.Model(str(I2S), n_ctx=64, n_threads=1)
    model.generate("Hi", max_tokens=1, temperature=0)
    assert not list(tmp_path.rglob("*.jsonl"))
    assert os.listdir(tmp_path) == []
