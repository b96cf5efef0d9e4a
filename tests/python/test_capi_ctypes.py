"""The session ABI through ctypes (BITNET_LIB = libbitnet.so): the way a Python harness uses it."""
import ctypes
import json
import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(os.environ.get("BITNET_FIXTURES", Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"))
LIB = os.environ.get("BITNET_LIB")


def _sanitized(path):
    # An ASan-instrumented library aborts the process when dlopen'ed without the runtime preloaded.
    return b"libasan.so" in Path(path).read_bytes()


pytestmark = [
    pytest.mark.skipif(not LIB, reason="BITNET_LIB (path of libbitnet.so) not set"),
    pytest.mark.skipif(bool(LIB) and _sanitized(LIB), reason="BITNET_LIB is ASan-instrumented (sanitizer build)"),
]


@pytest.fixture(scope="module")
def lib():
    lib = ctypes.CDLL(LIB)
    i32, vp, cp = ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p
    lib.crossval_bitnet_open.argtypes = [cp, i32, ctypes.POINTER(vp), cp, i32]
    lib.crossval_bitnet_close.argtypes = [vp]
    lib.crossval_bitnet_tokenize_with.argtypes = [vp, cp, ctypes.c_int, ctypes.POINTER(i32), i32,
                                                  ctypes.POINTER(i32), cp, i32]
    lib.crossval_bitnet_eval_all.argtypes = [vp, ctypes.POINTER(i32), i32, ctypes.POINTER(ctypes.c_float), i32,
                                             ctypes.POINTER(i32), ctypes.POINTER(i32), cp, i32]
    lib.crossval_bitnet_vocab_size.argtypes = [vp, ctypes.POINTER(i32)]
    return lib


def test_errors_without_crashing(lib):
    err = ctypes.create_string_buffer(128)
    handle = ctypes.c_void_p()
    assert lib.crossval_bitnet_open(b"/nonexistent.gguf", 64, ctypes.byref(handle), err, 128) == -1
    assert b"not found" in err.value
    assert lib.crossval_bitnet_open(b"/nonexistent.gguf", 64, ctypes.byref(handle), None, 0) == -1
    assert lib.crossval_bitnet_close(None) == -1
    assert lib.crossval_bitnet_close(ctypes.c_void_p(12345)) == -1  # never opened


def test_tokenize_and_eval_all_match_the_golden(lib):
    case = json.loads((FIXTURES / "golden-upstream" / "tiny-bitnet-tq2_0.p1_english.json").read_text())
    golden = np.fromfile(FIXTURES / "golden-upstream" / case["logits_file"], dtype="<f4")
    err = ctypes.create_string_buffer(256)
    handle = ctypes.c_void_p()
    model = str(FIXTURES / "tiny-bitnet-tq2_0.gguf").encode()
    assert lib.crossval_bitnet_open(model, 128, ctypes.byref(handle), err, 256) == 0, err.value
    try:
        n = ctypes.c_int32()
        assert lib.crossval_bitnet_tokenize_with(handle, case["prompt"].encode(), 1, None, 0, ctypes.byref(n),
                                                 err, 256) == -3
        tokens = (ctypes.c_int32 * n.value)()
        assert lib.crossval_bitnet_tokenize_with(handle, case["prompt"].encode(), 1, tokens, n.value,
                                                 ctypes.byref(n), err, 256) == 0
        assert list(tokens) == case["tokens"]
        vocab = ctypes.c_int32()
        assert lib.crossval_bitnet_vocab_size(handle, ctypes.byref(vocab)) == 0
        logits = np.zeros((n.value, vocab.value), dtype=np.float32)
        rows, cols = ctypes.c_int32(), ctypes.c_int32()
        assert lib.crossval_bitnet_eval_all(handle, tokens, n.value,
                                            logits.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n.value,
                                            ctypes.byref(rows), ctypes.byref(cols), err, 256) == 0, err.value
        assert (rows.value, cols.value) == (n.value, case["n_vocab"])
        golden = golden.reshape(n.value, vocab.value)
        cos = (logits * golden).sum(1) / np.linalg.norm(logits, axis=1) / np.linalg.norm(golden, axis=1)
        assert cos.min() >= 0.9999
    finally:
        assert lib.crossval_bitnet_close(handle) == 0
    assert lib.crossval_bitnet_close(handle) == -1
