"""Writes a Hugging Face checkpoint folder (microsoft/bitnet-b1.58-2B-4T-bf16 layout: BitNetForCausalLM,
bf16 masters, one model.safetensors) from a synthetic F16 GGUF, for benchmarking `bitnet convert`.

    build/bin/bitnet synth --preset 2b4t --type f16 --tokenizer ../shared/fixtures/tokenizer/llama3-tokenizer.json -o 2b4t-f16.gguf
    .venv/bin/python bench/python/make_hf_checkpoint.py 2b4t-f16.gguf OUT_DIR [--tokenizer-config DIR]
    /usr/bin/time -v build/bin/bitnet convert OUT_DIR -o 2b4t-i2s.gguf

Streams tensor by tensor (bounded memory). BitLinear weights are the synthetic model's ternary x scale
values in bf16, so absmean re-quantization gives back the same codes; norms and the embedding as bf16.
"""
import argparse
import json
import pathlib
import shutil
import struct

import gguf
import numpy as np

NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
         "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "attn_sub_norm": "self_attn.attn_sub_norm",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
         "ffn_sub_norm": "mlp.ffn_sub_norm"}


def hf_name(name):
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    _, layer, part, _ = name.split(".")
    return f"model.layers.{layer}.{NAMES[part]}.weight"


def to_bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("out")
    ap.add_argument("--tokenizer-config", default=None, help="folder with tokenizer_config.json / generation_config.json")
    args = ap.parse_args()
    r = gguf.GGUFReader(args.gguf)
    f = r.fields
    arch = f["general.architecture"].contents()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tensors = [(hf_name(t.name), t) for t in r.tensors]
    tensors.sort(key=lambda x: x[0])
    header, off = {}, 0
    for name, t in tensors:
        shape = [int(d) for d in reversed(t.shape)] if len(t.shape) > 1 else [int(t.shape[0])]
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(out / "model.safetensors", "wb") as w:
        w.write(struct.pack("<Q", len(text)))
        w.write(text)
        for name, t in tensors:
            data = np.asarray(t.data).reshape(-1)
            for i in range(0, data.size, 1 << 24):
                w.write(to_bf16(data[i:i + (1 << 24)].astype(np.float32)).tobytes())

    cfg = {"architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "hidden_act": "relu2",
           "hidden_size": int(f[f"{arch}.embedding_length"].contents()),
           "intermediate_size": int(f[f"{arch}.feed_forward_length"].contents()),
           "num_hidden_layers": int(f[f"{arch}.block_count"].contents()),
           "num_attention_heads": int(f[f"{arch}.attention.head_count"].contents()),
           "num_key_value_heads": int(f[f"{arch}.attention.head_count_kv"].contents()),
           "max_position_embeddings": int(f[f"{arch}.context_length"].contents()),
           "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": True,
           "vocab_size": int(r.tensors[[t.name for t in r.tensors].index("token_embd.weight")].shape[1]),
           "torch_dtype": "bfloat16",
           "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear",
                                   "quantization_mode": "online"}}
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    # tokenizer.json from the GGUF's source is not recoverable here: take it from --tokenizer-config
    # (the folder must hold tokenizer.json; its tokenizer_config / generation_config are copied too).
    if args.tokenizer_config:
        for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]:
            src = pathlib.Path(args.tokenizer_config) / name
            if src.exists():
                shutil.copy(src, out / name)


if __name__ == "__main__":
    main()
