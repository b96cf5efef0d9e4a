"""Files written by `bitnet synth` (tiny preset, every --type) are read by the `gguf` package without
complaint, show the metadata and tensors `bitnet inspect` reports, and hold identical weights in every
type; our TQ bytes equal what gguf's own quantizers make of the same values."""
import gguf
import numpy as np
import pytest

from gguf_support import (FIXTURES, bitnet, check_metadata, dump_all, i2s_dequantize, inspect_json,
                          read_i2s_scale, reader, register_i2s)

register_i2s()
TYPES = ["i2_s", "tq1_0", "tq2_0", "f16"]
BITLINEAR = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    out = {}
    for t in TYPES:
        out[t] = d / f"tiny-{t}.gguf"
        bitnet("synth", "--preset", "tiny", "--type", t, "--seed", "42", "-o", str(out[t]), "-q")
    return out


def gguf_values(rd, t):
    if t.tensor_type.name == "I2_S":
        return i2s_dequantize(t.data.reshape(-1), read_i2s_scale(rd, t), int(t.n_elements))
    return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)


@pytest.mark.parametrize("wtype", TYPES)
def test_gguf_package_reads_synth(models, wtype):
    path = models[wtype]
    rd = gguf.GGUFReader(path)  # raises on anything it dislikes
    ours = inspect_json(path)
    check_metadata(ours, rd.fields)
    fields = rd.fields
    assert fields["general.architecture"].contents() == "bitnet-b1.58"
    assert fields["bitnet-b1.58.embedding_length"].contents() == 256
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert len(fields["tokenizer.ggml.tokens"].data) == 1024
    assert [t["name"] for t in ours["tensors"]] == [t.name for t in rd.tensors]
    for mine, t in zip(ours["tensors"], rd.tensors):
        assert mine["type"] == t.tensor_type.name
        assert mine["shape"] == [int(d) for d in t.shape]
        assert mine["offset"] == int(t.data_offset)
        if any(f".{b}." in t.name for b in BITLINEAR):
            assert t.tensor_type.name == wtype.upper()
    if wtype == "f16":  # read_model_config accepts only ternary BitLinear weights
        assert ours["config"] is None and "must be I2_S, TQ1_0 or TQ2_0" in ours["config_error"]
    else:
        assert ours["config"]["weight_type"] == wtype.upper()


def test_every_type_holds_the_same_weights(models, tmp_path):
    readers = {t: gguf.GGUFReader(models[t]) for t in TYPES}
    base = {t.name: gguf_values(readers["f16"], t) for t in readers["f16"].tensors}
    for wtype in TYPES:
        ours = dump_all(models[wtype], tmp_path / wtype)
        for t in readers[wtype].tensors:
            theirs = gguf_values(readers[wtype], t)
            assert np.array_equal(ours[t.name], theirs), f"{wtype} {t.name}: ours != gguf"
            assert np.array_equal(theirs, base[t.name]), f"{wtype} {t.name} differs from the f16 model"
            if any(f".{b}." in t.name for b in BITLINEAR):
                scale = np.max(np.abs(theirs))
                assert set(np.unique(theirs).tolist()) == {-scale, 0.0, scale}, t.name


@pytest.mark.parametrize("wtype", ["tq1_0", "tq2_0"])
def test_our_tq_bytes_equal_gguf_quantizer(models, wtype):
    rd = gguf.GGUFReader(models[wtype])
    for t in rd.tensors:
        if t.tensor_type.name != wtype.upper():
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        requant = gguf.quants.quantize(values, t.tensor_type)
        assert np.array_equal(requant.reshape(-1), np.asarray(t.data).reshape(-1)), t.name


def test_tokenizer_from_copies_the_vocabulary(tmp_path):
    src = FIXTURES / "tiny-bitnet-tq2_0.gguf"
    out = tmp_path / "copied.gguf"
    bitnet("synth", "--preset", "tiny", "--arch", "bitnet", "--type", "tq2_0", "--tokenizer-from", str(src),
           "-o", str(out), "-q")
    a, b = reader(src), gguf.GGUFReader(out)
    for key, field in a.fields.items():
        if key.startswith("tokenizer."):
            assert b.fields[key].types == field.types, key
            assert len(b.fields[key].data) == len(field.data), key
            assert b.fields[key].contents() == field.contents(), key
    embd = next(t for t in b.tensors if t.name == "token_embd.weight")
    assert [int(d) for d in embd.shape] == [256, 32000]
    assert b.fields["general.architecture"].contents() == "bitnet"
    assert inspect_json(out)["config"]["ffn_activation"] == "silu"


def test_synth_rejects_bad_requests(tmp_path):
    import subprocess
    from gguf_support import BIN
    r = subprocess.run([BIN, "synth", "--preset", "huge", "-o", str(tmp_path / "x.gguf")], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "huge" in r.stderr
    r = subprocess.run([BIN, "inspect", str(tmp_path / "missing.gguf")], capture_output=True, text=True)
    assert r.returncode == 1 and "missing.gguf: cannot open" in r.stderr
