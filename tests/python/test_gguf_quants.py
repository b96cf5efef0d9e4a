"""Tensor types the fixtures lack (Q8_0, Q6_K, BF16) and adversarial TQ blocks: files written by
the `gguf` package (its own quantizers where it has them, random valid blocks otherwise) are read and
dequantized by bitnet value for value as gguf.quants.dequantize does."""
import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

from gguf_support import dump_all, inspect_json

QK_K = 256


def random_blocks(rng, qtype, n_blocks, scale_offset):
    """Random bytes for n_blocks of a type, with a finite fp16 scale at scale_offset."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    d = (rng.standard_normal(n_blocks) * 0.01).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    blocks[:, scale_offset:scale_offset + 2] = d
    return blocks


def write_file(path, tensors):
    w = gguf.GGUFWriter(str(path), arch="quant-test")
    for name, (data, qtype) in tensors.items():
        if qtype in (T.F32, T.F16):
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_every_dequantizable_type_matches_gguf(tmp_path):
    rng = np.random.default_rng(1234)
    x = (rng.standard_normal((4, 512)) * 0.3).astype(np.float32)
    ternary = (rng.integers(-1, 2, size=(3, 512)) * 0.046875).astype(np.float32)
    tensors = {
        "f32": (x, T.F32),
        "f16": (x.astype(np.float16), T.F16),
        "bf16": (gguf.quants.quantize(x, T.BF16), T.BF16),
        "q8_0": (gguf.quants.quantize(x, T.Q8_0), T.Q8_0),
        # gguf has no Q6_K quantizer: random blocks exercise every bit of the layout instead.
        "q6_k": (random_blocks(rng, T.Q6_K, 8, 208).reshape(4, -1), T.Q6_K),
        "tq1_0": (gguf.quants.quantize(ternary, T.TQ1_0), T.TQ1_0),
        "tq2_0": (gguf.quants.quantize(ternary, T.TQ2_0), T.TQ2_0),
        # Arbitrary bytes, including TQ1_0 bytes no quantizer emits and TQ2_0 code 3.
        "tq1_0_raw": (random_blocks(rng, T.TQ1_0, 6, 52).reshape(3, -1), T.TQ1_0),
        "tq2_0_raw": (random_blocks(rng, T.TQ2_0, 6, 64).reshape(3, -1), T.TQ2_0),
    }
    path = tmp_path / "types.gguf"
    write_file(path, tensors)

    info = {t["name"]: t for t in inspect_json(path)["tensors"]}
    ours = dump_all(path, tmp_path / "dump")
    reader = gguf.GGUFReader(path)
    assert {t.name for t in reader.tensors} == set(tensors)
    for t in reader.tensors:
        assert info[t.name]["type"] == t.tensor_type.name
        assert info[t.name]["shape"] == [int(d) for d in t.shape]
        theirs = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        assert np.array_equal(ours[t.name], theirs), f"{t.name}: max diff {np.max(np.abs(ours[t.name] - theirs))}"
    # Exact ternary data survives both ternary types unchanged.
    assert np.array_equal(ours["tq1_0"], ternary.reshape(-1))
    assert np.array_equal(ours["tq2_0"], ternary.reshape(-1))
