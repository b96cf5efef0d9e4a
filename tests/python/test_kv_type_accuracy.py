"""The Q8_0 KV cache (-ctk q8_0 -ctv q8_0) stays close to the F16 cache on the fixture models'
golden prompts: mean KL(p_f16 || p_q8_0) per position and arg-max agreement, computed by
scripts/kv_type_accuracy.py from `bitnet eval` logits. Measured (docs/performance.md): KL 4.8e-3
(I2_S fixture) and 1.1e-2 (TQ2_0 fixture), top-1 0.92-0.93. The bounds leave a margin of 4-10x on
KL: a broken product (a wrong scale, block or row stride) scrambles the attention and is far
outside them."""
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("kv_type_accuracy", ROOT / "scripts/kv_type_accuracy.py")
accuracy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(accuracy)

BIN = os.environ.get("BITNET_BIN", str(ROOT / "build/bin/bitnet"))
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", ROOT.parent / "shared/fixtures"))
MAX_MEAN_KL, MIN_TOP1 = 5e-2, 0.85


@pytest.mark.parametrize("model", ["tiny-bitnet-tq2_0.gguf", "tiny-b158-i2s.gguf"])
def test_q8_0_cache_close_to_f16(model):
    cases = [c for c in accuracy.fixture_cases(FIXTURES) if c[1].name == model]
    assert cases
    s = accuracy.summary(accuracy.measure(BIN, cases, threads=1))
    assert s["positions"] == sum(len(c[2]) for c in cases)
    assert 0 < s["mean_kl"] < MAX_MEAN_KL, s  # 0: the cache type did not reach the kernels
    assert s["top1_agreement"] >= MIN_TOP1, s
