"""Helpers for the GGUF peer tests. Teaches the `gguf` package (0.19) Microsoft bitnet.cpp's I2_S tensor type (ggml id 36).

gguf 0.19 does not know type 36 and refuses the whole file. We add an `I2_S` member to its
GGMLQuantizationType enum and a size entry of (4 values, 1 byte), so GGUFReader computes n/4 bytes
per tensor (the 32-byte scale trailer that follows is read separately by the tests via the next
tensor's offset / `read_i2s_scale`). Nothing else in the package changes.
"""
import numpy as np
import gguf
from gguf import constants

I2_S_ID = 36


def register_i2s():
    enum = constants.GGMLQuantizationType
    if I2_S_ID in enum._value2member_map_:
        return enum(I2_S_ID)
    member = int.__new__(enum, I2_S_ID)
    member._name_ = "I2_S"
    member._value_ = I2_S_ID
    enum._value2member_map_[I2_S_ID] = member
    enum._member_map_["I2_S"] = member
    constants.GGML_QUANT_SIZES[member] = (4, 1)
    return member


def i2s_dequantize(packed: np.ndarray, scale: float, n: int) -> np.ndarray:
    """Independent numpy reading of the x86 I2_S layout: 128-value blocks of 32 bytes, value j of a
    block in byte j % 32 at bit shift 6 - 2*(j // 32); codes 0, 1, 2 = -1, 0, +1."""
    blocks = np.asarray(packed, dtype=np.uint8)[: n // 4].reshape(-1, 32)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)
    codes = (blocks.reshape(-1, 1, 32) >> shifts) & 3  # [block, group j//32, byte j%32]
    return (codes.reshape(-1).astype(np.float32) - 1.0) * np.float32(scale)


def read_i2s_scale(reader: "gguf.GGUFReader", tensor) -> float:
    """The float32 scale stored at byte n/4 after the packed data of an I2_S tensor."""
    at = tensor.data_offset + tensor.n_elements // 4
    return float(np.frombuffer(bytes(reader.data[at : at + 4]), dtype="<f4")[0])


# ---- the CLI under test

import json
import os
import pathlib
import subprocess

BIN = os.environ.get("BITNET_BIN", str(pathlib.Path(__file__).resolve().parents[2] / "build/bin/bitnet"))
FIXTURES = pathlib.Path(os.environ.get("BITNET_FIXTURES", pathlib.Path(__file__).resolve().parents[3] / "shared/fixtures"))


def bitnet(*args: str) -> str:
    result = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert result.returncode == 0, f"bitnet {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def inspect_json(path) -> dict:
    return json.loads(bitnet("inspect", str(path), "--json"))


def dump_all(path, out_dir) -> dict:
    """Our dequantization of every tensor we can dequantize: {name: float32 array (flat)}."""
    bitnet("inspect", str(path), "--dump-tensor", "all", "--dump-dir", str(out_dir))
    return {p.name[: -len(".f32")]: np.fromfile(p, dtype="<f4") for p in pathlib.Path(out_dir).glob("*.f32")}


def field_value(field):
    """A metadata field's value as plain Python (scalars, strings, lists), via the gguf package."""
    return field.contents()


_READERS = {}


def reader(path) -> "gguf.GGUFReader":
    """One GGUFReader per file for the whole session: gguf parses a 128k-token vocabulary slowly."""
    key = str(path)
    if key not in _READERS:
        _READERS[key] = gguf.GGUFReader(path)
    return _READERS[key]


def check_metadata(ours: dict, fields) -> None:
    """`bitnet inspect --json` metadata against gguf's fields: same keys in order, types, values
    (arrays by element type and length)."""
    fields = {k: v for k, v in fields.items() if not k.startswith("GGUF.")}
    assert list(ours["metadata"]) == list(fields)
    names = {"UINT8": "u8", "INT8": "i8", "UINT16": "u16", "INT16": "i16", "UINT32": "u32", "INT32": "i32",
             "UINT64": "u64", "INT64": "i64", "FLOAT32": "f32", "FLOAT64": "f64", "BOOL": "bool",
             "STRING": "str", "ARRAY": "arr"}
    for key, field in fields.items():
        mine = ours["metadata"][key]
        assert mine["type"] == names[field.types[0].name], key
        if field.types[0].name == "ARRAY":
            assert mine["value"]["array_of"] == names[field.types[1].name], key
            assert mine["value"]["size"] == len(field.data), key
        else:
            assert mine["value"] == field.contents(), key
