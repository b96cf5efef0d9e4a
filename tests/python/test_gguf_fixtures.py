"""Every fixture GGUF: `bitnet inspect --json` agrees with the independent `gguf` package on
metadata, tensor names, types and shapes, and our dequantization equals gguf's value for value
(TQ1_0, TQ2_0, F16, F32), or for I2_S (which gguf does not know) an independent numpy reading."""
import gguf
import numpy as np
import pytest

from gguf_support import (FIXTURES, check_metadata, dump_all, i2s_dequantize, inspect_json,
                          read_i2s_scale, reader, register_i2s)

register_i2s()
MODELS = sorted(FIXTURES.rglob("*.gguf"))


def test_fixtures_exist():
    assert len(MODELS) >= 3, f"no fixture models under {FIXTURES}"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_inspect_matches_gguf_package(path):
    ours = inspect_json(path)
    r = reader(path)
    assert ours["file_size"] == path.stat().st_size
    assert ours["gguf_version"] == int(r.fields["GGUF.version"].contents())
    theirs = {t.name: t for t in r.tensors}
    assert [t["name"] for t in ours["tensors"]] == [t.name for t in r.tensors]
    for t in ours["tensors"]:
        ref = theirs[t["name"]]
        assert t["type"] == ref.tensor_type.name, t["name"]
        assert t["shape"] == [int(d) for d in ref.shape], t["name"]
        assert t["n_elements"] == int(ref.n_elements)
        assert t["offset"] == int(ref.data_offset)
    assert ours["n_params"] == sum(int(t.n_elements) for t in r.tensors)
    check_metadata(ours, r.fields)
    meta = r.fields

    if ours["config"] is not None:
        cfg = ours["config"]
        arch = ours["architecture"]
        assert cfg["n_embd"] == meta[f"{arch}.embedding_length"].contents()
        assert cfg["n_layer"] == meta[f"{arch}.block_count"].contents()
        assert cfg["n_vocab"] == int(theirs["token_embd.weight"].shape[1])
    tok = ours["tokenizer"]
    assert tok["n_vocab"] == len(meta["tokenizer.ggml.tokens"].data)
    assert tok["model"] == meta["tokenizer.ggml.model"].contents()
    assert tok["bos_token_id"] == meta["tokenizer.ggml.bos_token_id"].contents()


@pytest.mark.parametrize("name", ["tiny-bitnet-tq1_0.gguf", "tiny-bitnet-tq2_0.gguf"])
def test_dequantize_matches_gguf_package(name, tmp_path):
    path = FIXTURES / name
    ours = dump_all(path, tmp_path)
    r = reader(path)
    assert set(ours) == {t.name for t in r.tensors}
    for t in r.tensors:
        theirs = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        assert ours[t.name].shape == theirs.shape, t.name
        assert np.array_equal(ours[t.name], theirs), f"{t.name} ({t.tensor_type.name}) differs"


def test_i2s_fixture_dequantizes_to_ternary_times_stored_scale(tmp_path):
    path = FIXTURES / "tiny-b158-i2s.gguf"
    ours = dump_all(path, tmp_path)
    r = reader(path)
    n_i2s = 0
    for t in r.tensors:
        if t.tensor_type.name != "I2_S":
            theirs = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            assert np.array_equal(ours[t.name], theirs), t.name
            continue
        n_i2s += 1
        scale = read_i2s_scale(r, t)
        assert scale > 0 and np.float16(scale) == scale, t.name
        expected = i2s_dequantize(t.data.reshape(-1), scale, int(t.n_elements))
        assert np.array_equal(ours[t.name], expected), t.name
        assert set(np.unique(ours[t.name]).tolist()) <= {-scale, 0.0, scale}, t.name
    assert n_i2s == 28
