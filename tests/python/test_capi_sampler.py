"""One sampler: bitnet_generate (the C API, through ctypes) and `bitnet run` draw the same tokens
from the same seed and settings (min-p and the repetition penalty off, as the C API has neither)."""
import ctypes
import os
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(os.environ.get("BITNET_FIXTURES", Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"))
LIB = os.environ.get("BITNET_LIB")
BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
MODEL = FIXTURES / "tiny-b158-i2s.gguf"

pytestmark = [
    pytest.mark.skipif(not LIB, reason="BITNET_LIB (path of libbitnet.so) not set"),
    pytest.mark.skipif(bool(LIB) and b"libasan.so" in Path(LIB or "/dev/null").read_bytes(),
                       reason="BITNET_LIB is ASan-instrumented (sanitizer build)"),
]

i32, f32 = ctypes.c_int32, ctypes.c_float
TokenCallback = ctypes.CFUNCTYPE(ctypes.c_bool, i32, ctypes.POINTER(ctypes.c_char), i32,
                                 ctypes.c_void_p)


class SamplerParams(ctypes.Structure):
    _fields_ = [("temperature", f32), ("top_k", i32), ("top_p", f32), ("seed", ctypes.c_uint32)]


class ContextParams(ctypes.Structure):
    _fields_ = [("n_ctx", i32), ("n_threads", i32), ("numerics", i32), ("kv_f32", ctypes.c_bool),
                ("n_seq_max", i32)]


class GenerateParams(ctypes.Structure):
    _fields_ = [("max_new_tokens", i32), ("sampling", SamplerParams), ("add_bos", ctypes.c_bool),
                ("parse_special", ctypes.c_bool), ("skip_special", ctypes.c_bool),
                ("on_token", TokenCallback), ("user_data", ctypes.c_void_p)]


def c_generate(prompt, n, temperature, top_k, top_p, seed):
    lib = ctypes.CDLL(LIB)
    lib.bitnet_model_load.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.bitnet_context_default_params.restype = ContextParams
    lib.bitnet_context_create.argtypes = [ctypes.c_void_p, ctypes.POINTER(ContextParams),
                                          ctypes.POINTER(ctypes.c_void_p)]
    lib.bitnet_generate_default_params.restype = GenerateParams
    lib.bitnet_generate.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(GenerateParams),
                                    ctypes.c_void_p]
    lib.bitnet_context_free.argtypes = [ctypes.c_void_p]
    lib.bitnet_model_free.argtypes = [ctypes.c_void_p]
    model, ctx = ctypes.c_void_p(), ctypes.c_void_p()
    assert lib.bitnet_model_load(str(MODEL).encode(), None, ctypes.byref(model)) == 0
    cp = lib.bitnet_context_default_params()
    cp.n_ctx, cp.n_threads = 256, 1
    assert lib.bitnet_context_create(model, ctypes.byref(cp), ctypes.byref(ctx)) == 0
    out = bytearray()

    @TokenCallback
    def on_token(token, piece, length, user):
        out.extend(ctypes.string_at(piece, length))
        return True

    gp = lib.bitnet_generate_default_params()
    gp.max_new_tokens = n
    gp.sampling = SamplerParams(temperature, top_k, top_p, seed)
    gp.on_token = on_token
    try:
        assert lib.bitnet_generate(ctx, prompt.encode(), ctypes.byref(gp), None) == 0
    finally:
        lib.bitnet_context_free(ctx)
        lib.bitnet_model_free(model)
    return bytes(out)


@pytest.mark.parametrize("seed", [3, 1234])
def test_c_api_and_cli_draw_the_same_text_from_a_seed(seed):
    settings = dict(temperature=1.1, top_k=60, top_p=0.9)
    c_text = c_generate("Once upon a time", 24, seed=seed, **settings)
    cli = subprocess.run([BIN, "run", "-m", str(MODEL), "-p", "Once upon a time", "-n", "24",
                          "--temp", "1.1", "--top-k", "60", "--top-p", "0.9", "--min-p", "0",
                          "--repeat-penalty", "1", "--seed", str(seed), "-t", "1"],
                         capture_output=True, timeout=300)
    assert cli.returncode == 0, cli.stderr.decode()
    assert c_text == cli.stdout and len(c_text) > 0
