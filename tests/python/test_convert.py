"""`bitnet convert` on every Hugging Face checkpoint in ../shared/fixtures/hf (see its README).

- convert, then `bitnet eval` on the recorded token ids, against the recorded logits:
  bitnet.cpp (I2_S) by the forward-pass parity criterion (>= 95 % of positions at cosine >= 0.9999,
  none < 0.99, arg-max equal where the reference's top-2 margin >= 0.5); transformers and upstream
  llama.cpp (TQ types) by the loose one (cosine >= 0.999 everywhere, clear arg-max equal). The
  figures are printed (pytest -s shows them).
- our llama-arch GGUF against bitnet.cpp's own conversion of the same folder, tensor for tensor;
- the packed and bf16-master forms of the same weights give identical ternary codes;
- the `gguf` package reads every file we write; `bitnet inspect` shows arch, types and tokenizer.
"""
import json
import pathlib
import subprocess

import gguf
import numpy as np
import pytest

from gguf_support import BIN, FIXTURES, i2s_dequantize, read_i2s_scale, register_i2s

register_i2s()
HF = FIXTURES / "hf"
LOGITS = HF / "logits"
PROMPTS = ["p1_english", "p2_code", "p3_chat"]

pytestmark = pytest.mark.skipif(not (HF / "README.md").exists(), reason="no fixtures/hf")

# (folder, --type, [(reference set, criterion)])
CASES = [
    ("bitnet-b158-bf16", "i2_s", [("bitnet-b158-i2s", "parity"), ("bitnet-b158-bf16", "loose")]),
    ("bitnet-b158-packed", "i2_s", [("bitnet-b158-packed", "loose")]),
    ("llama-ternary-packed", "i2_s", [("llama-ternary-i2s", "parity"), ("llama-ternary-packed", "loose")]),
    ("llama-ternary-packed", "tq2_0", [("llama-ternary-tq2_0-f16", "loose"), ("llama-ternary-packed", "loose")]),
    ("bitnet-large-style", "i2_s", [("bitnet-large-i2s", "parity")]),
    ("bitnet-large-style", "tq2_0", [("bitnet-large-tq2_0-f16embd", "loose")]),
    ("bitnet-large-style", "tq1_0", [("bitnet-large-tq2_0-f16embd", "loose")]),
]


def run(*args, check=True):
    r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, f"bitnet {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}"
    return r


_CONVERTED = {}


def convert(folder, qtype, tmp_dir, *extra):
    key = (folder, qtype, extra)
    if key not in _CONVERTED:
        out = pathlib.Path(tmp_dir) / f"{folder}-{qtype}{''.join(extra)}.gguf"
        run("convert", HF / folder, "-o", out, "--type", qtype, "-q", *extra)
        _CONVERTED[key] = out
    return _CONVERTED[key]


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("convert")


def compare(ours, ref):
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) >= 0.5
    agree = ours.argmax(1) == ref.argmax(1)
    return cos, clear, agree


@pytest.mark.parametrize("folder,qtype,refs", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_convert_then_eval_matches_recorded_logits(folder, qtype, refs, outdir):
    model = convert(folder, qtype, outdir)
    for ref_set, criterion in refs:
        for prompt in PROMPTS:
            meta = json.loads((LOGITS / f"{ref_set}.{prompt}.json").read_text())
            ref = np.fromfile(LOGITS / meta["logits_file"], dtype="<f4").reshape(meta["n_tokens"], meta["n_vocab"])
            out = outdir / f"{folder}-{qtype}-{ref_set}-{prompt}.bin"
            run("eval", "-m", model, "--tokens", ",".join(map(str, meta["tokens"])), "--out", out, "-t", "1")
            ours = np.fromfile(out, dtype="<f4").reshape(ref.shape)
            cos, clear, agree = compare(ours, ref)
            at = float(np.mean(cos >= 0.9999))
            print(f"\n{folder} {qtype} vs {ref_set} {prompt}: min cos {cos.min():.6f}, "
                  f"{100 * at:.1f}% >= 0.9999, max |d| {np.abs(ours - ref).max():.3g}, "
                  f"arg-max (margin >= 0.5) {int(agree[clear].sum())}/{int(clear.sum())}")
            assert agree[clear].all(), f"{ref_set} {prompt}: clear arg-max differs"
            if criterion == "parity":
                assert at >= 0.95 and cos.min() >= 0.99, f"{ref_set} {prompt}: parity"
            else:
                assert cos.min() >= 0.999, f"{ref_set} {prompt}: cosine"


def tensors(path):
    r = gguf.GGUFReader(path)
    return r, {t.name: t for t in r.tensors}


# Keys that change what the model computes or how it tokenizes.
INFERENCE_KEYS = ["general.architecture", "general.file_type", "tokenizer.ggml.model", "tokenizer.ggml.pre",
                  "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                  "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                  "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.chat_template"]


@pytest.mark.parametrize("folder,theirs", [("llama-ternary-packed", "llama-ternary-i2s.gguf"),
                                           ("bitnet-large-style", "bitnet-large-i2s.gguf")])
def test_gguf_equals_bitnet_cpp_conversion(folder, theirs, outdir):
    """Same tensor names and order, shapes, types and bytes; the only difference kept: the 28
    padding bytes after each I2_S scale, which bitnet.cpp leaves uninitialized (we write zeros)."""
    ours_path = convert(folder, "i2_s", outdir)
    a, ta = tensors(ours_path)
    b, tb = tensors(HF / theirs)
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for name, x in ta.items():
        y = tb[name]
        assert x.tensor_type == y.tensor_type and list(x.shape) == list(y.shape), name
        assert np.asarray(x.data).tobytes() == np.asarray(y.data).tobytes(), f"{name}: data differs"
        if x.tensor_type.name == "I2_S":
            assert read_i2s_scale(a, x) == read_i2s_scale(b, y), f"{name}: scale differs"
    arch = a.fields["general.architecture"].contents()
    keys = INFERENCE_KEYS + [k for k in b.fields if k.startswith(arch + ".")]
    for k in keys:
        if k in b.fields:
            assert k in a.fields, f"{k} missing"
            assert a.fields[k].contents() == b.fields[k].contents(), k
    extra = sorted(set(a.fields) - set(b.fields))
    print(f"\n{folder}: keys only in ours: {extra}")
    assert set(extra) <= {"tokenizer.ggml.eot_token_id"}


def test_tq2_0_equals_upstream_llama_cpp_conversion(outdir):
    """Our TQ2_0 conversion of the 1bitLLM-style folder has upstream llama.cpp's BitLinear bytes
    (its shipped file differs only in token_embd, which llama-quantize made Q6_K by default)."""
    a, ta = tensors(convert("bitnet-large-style", "tq2_0", outdir))
    b, tb = tensors(HF / "bitnet-large-tq2_0.gguf")
    assert set(ta) == set(tb)
    same = 0
    for name, x in ta.items():
        y = tb[name]
        if name == "token_embd.weight":
            assert x.tensor_type.name == "F16" and y.tensor_type.name == "Q6_K"
            continue
        assert x.tensor_type == y.tensor_type and list(x.shape) == list(y.shape), name
        assert np.asarray(x.data).tobytes() == np.asarray(y.data).tobytes(), f"{name}: data differs"
        same += 1
    assert same == len(ta) - 1


def codes_and_scales(path):
    r, ts = tensors(path)
    out = {}
    for name, t in ts.items():
        if t.tensor_type.name == "I2_S":
            n = int(t.n_elements)
            scale = read_i2s_scale(r, t)
            out[name] = (np.rint(i2s_dequantize(np.asarray(t.data), 1.0, n)).astype(np.int8), scale)
    return out


def test_packed_and_bf16_master_give_identical_codes(outdir):
    a = codes_and_scales(convert("bitnet-b158-bf16", "i2_s", outdir))
    b = codes_and_scales(convert("bitnet-b158-packed", "i2_s", outdir))
    assert a.keys() == b.keys() and len(a) == 14
    worst = 0.0
    for name in a:
        assert np.array_equal(a[name][0], b[name][0]), f"{name}: ternary codes differ"
        worst = max(worst, abs(a[name][1] - b[name][1]) / a[name][1])
    print(f"\npacked vs bf16 master: codes identical in {len(a)} tensors; largest relative scale "
          f"difference {worst:.3g} (bf16 rounding of weight_scale: <= 2^-8 = 0.39%)")
    assert worst <= 2.0 ** -8


ALL = [(c[0], c[1]) for c in CASES] + [("bitnet-b158-packed", "f16"), ("llama-ternary-packed", "tq1_0")]


@pytest.mark.parametrize("folder,qtype", ALL, ids=[f"{f}-{q}" for f, q in ALL])
def test_gguf_package_reads_our_files_and_inspect_shows_them(folder, qtype, outdir):
    path = convert(folder, qtype, outdir)
    r, ts = tensors(path)
    arch = r.fields["general.architecture"].contents()
    want_arch = {"bitnet-b158-bf16": "bitnet-b1.58", "bitnet-b158-packed": "bitnet-b1.58",
                 "llama-ternary-packed": "llama", "bitnet-large-style": "bitnet"}[folder]
    assert arch == want_arch
    assert ts["blk.0.attn_q.weight"].tensor_type.name == qtype.upper()
    assert ts["token_embd.weight"].tensor_type.name == "F16"
    if qtype in ("tq1_0", "tq2_0", "f16"):  # gguf dequantizes these itself: ternary x one scale per block
        t = ts["blk.0.ffn_up.weight"]
        w = np.abs(gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1, 256))
        for block in w:  # each block holds 0 and at most one magnitude
            assert len(np.unique(block[block > 0])) <= 1
    info = json.loads(run("inspect", path, "--json").stdout)
    assert info["architecture"] == want_arch
    if qtype != "f16":
        assert info["config"]["weight_type"] == qtype.upper()
    assert info["tokenizer"]["model"] == ("llama" if folder in ("llama-ternary-packed", "bitnet-large-style") else "gpt2")
    assert info["tokenizer"]["pre"] == ("default" if info["tokenizer"]["model"] == "llama" else "llama-bpe")
    text = run("inspect", path).stdout
    assert f"architecture:  {want_arch}" in text and "tokenizer:" in text


def test_head_type_and_name(outdir):
    path = convert("llama-ternary-packed", "i2_s", outdir, "--head-type", "q8_0")
    r, ts = tensors(path)
    assert ts["output.weight"].tensor_type.name == "Q8_0"
    assert ts["token_embd.weight"].tensor_type.name == "F16"
    run("eval", "-m", path, "--tokens", "1,2,3", "--out", outdir / "q8.bin")
    named = outdir / "named.gguf"
    run("convert", HF / "bitnet-large-style", "-o", named, "--name", "My Model", "-q")
    assert gguf.GGUFReader(named).fields["general.name"].contents() == "My Model"


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v, raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (entry, blob) in tensors.items():
        header[name] = {"dtype": entry["dtype"], "shape": entry["shape"], "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    text = json.dumps(header).encode()
    pathlib.Path(path).write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def copy_folder(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        if f.name != "model.safetensors":
            (dst / f.name).write_bytes(f.read_bytes())


def test_sharded_checkpoint_converts_to_the_same_file(outdir):
    """model.safetensors.index.json + two shards give the same GGUF as the single file."""
    src = HF / "llama-ternary-packed"
    dst = outdir / "sharded"
    copy_folder(src, dst)
    tensors = read_safetensors(src / "model.safetensors")
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for file, part in shards.items():
        write_safetensors(dst / file, {n: tensors[n] for n in part})
        weight_map.update({n: file for n in part})
    (dst / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    out = outdir / "sharded.gguf"
    run("convert", dst, "-o", out, "-q", "--name", "llama-ternary-packed")
    assert out.read_bytes() == convert("llama-ternary-packed", "i2_s", outdir).read_bytes()


def test_llama3_rope_scaling_writes_rope_freqs_and_runs(outdir):
    """rope_scaling llama3: rope_freqs.weight as llama.cpp's converter computes it; the engine uses it."""
    dst = outdir / "rope-llama3"
    copy_folder(HF / "llama-ternary-packed", dst)
    (dst / "model.safetensors").write_bytes((HF / "llama-ternary-packed" / "model.safetensors").read_bytes())
    cfg = json.loads((dst / "config.json").read_text())
    cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 64}
    (dst / "config.json").write_text(json.dumps(cfg))
    out = outdir / "rope-llama3.gguf"
    run("convert", dst, "-o", out, "-q")
    r, ts = tensors(out)
    got = np.asarray(ts["rope_freqs.weight"].data, dtype=np.float32)
    # llama.cpp convert_hf_to_gguf.py (LlamaModel, rope_type llama3)
    import math
    dim, base = 64, 10000.0
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_wl, high_wl = 64 / 1.0, 64 / 4.0
    want = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            want.append(1.0)
        elif wl > low_wl:
            want.append(8.0)
        else:
            smooth = (64 / wl - 1.0) / (4.0 - 1.0)
            want.append(1 / ((1 - smooth) / 8.0 + smooth))
    np.testing.assert_allclose(got, np.array(want, dtype=np.float32), rtol=1e-6)
    assert got.min() == 1.0 and got.max() == 8.0
    tokens = ",".join(str(t) for t in range(1, 40))
    run("eval", "-m", out, "--tokens", tokens, "--out", outdir / "rope.bin")
    run("eval", "-m", convert("llama-ternary-packed", "i2_s", outdir), "--tokens", tokens, "--out", outdir / "norope.bin")
    a = np.fromfile(outdir / "rope.bin", dtype="<f4").reshape(39, -1)
    b = np.fromfile(outdir / "norope.bin", dtype="<f4").reshape(39, -1)
    assert np.isfinite(a).all()
    assert np.array_equal(a[0], b[0])  # position 0: no rotation either way
    assert not np.array_equal(a[-1], b[-1])  # later positions: the factors change the angles


# (folder, a reference set recorded on the folder's own tokens)
TOKENIZED = [("bitnet-b158-bf16", "bitnet-b158-bf16"), ("bitnet-b158-packed", "bitnet-b158-packed"),
             ("llama-ternary-packed", "llama-ternary-packed"), ("bitnet-large-style", "bitnet-large-i2s")]


@pytest.mark.parametrize("folder,ref_set", TOKENIZED, ids=[t[0] for t in TOKENIZED])
def test_converted_tokenizer_gives_the_reference_tokens(folder, ref_set, outdir):
    model = convert(folder, "i2_s", outdir)
    for prompt in PROMPTS:
        meta = json.loads((LOGITS / f"{ref_set}.{prompt}.json").read_text())
        args = ["tokenize", "-m", model, "-p", meta["prompt"], "--ids"]
        args += ["--parse-special"] if meta["parse_special"] else []
        args += [] if meta["add_bos"] else ["--no-bos"]
        ids = json.loads(run(*args).stdout)
        assert ids == meta["tokens"], f"{folder} {prompt}"


GREEDY = [("llama-ternary-packed", "llama-ternary-i2s"), ("bitnet-large-style", "bitnet-large-i2s"),
          ("bitnet-b158-bf16", "bitnet-b158-i2s")]


@pytest.mark.parametrize("folder,ref_set", GREEDY, ids=[t[0] for t in GREEDY])
def test_greedy_continuation_equals_bitnet_cpp(folder, ref_set, outdir):
    """From the prompt text through our converted tokenizer: bitnet.cpp's 8 greedy tokens."""
    model = convert(folder, "i2_s", outdir)
    for prompt in PROMPTS:
        meta = json.loads((LOGITS / f"{ref_set}.{prompt}.json").read_text())
        greedy = meta["greedy"]
        r = subprocess.run([BIN, "run", "-m", str(model), "-p", meta["prompt"], "-n", str(greedy["n_requested"]),
                            "--temp", "0", "-t", "1"], capture_output=True)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout.decode("utf-8", "replace") == greedy["text"], f"{folder} {prompt}"


def test_progress_bar_only_on_a_terminal(outdir):
    import os
    import pty
    master, slave = pty.openpty()
    out = outdir / "tty.gguf"
    p = subprocess.Popen([BIN, "convert", str(HF / "bitnet-large-style"), "-o", str(out)], stderr=slave,
                         stdout=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert p.wait() == 0
    os.close(master)
    text = b"".join(chunks).decode()
    assert "\rconvert: [" in text and "100%" in text, text
    plain = run("convert", HF / "bitnet-large-style", "-o", outdir / "notty.gguf").stderr
    assert "\r" not in plain and "convert: " in plain and "arch bitnet" in plain
