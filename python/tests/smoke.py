"""Smoke test of an installed wheel, run by scripts/test-python.sh from a fresh virtualenv outside
the source tree: python smoke.py MODEL.gguf"""
import subprocess
import sys
from pathlib import Path

import bitnet

model_path = sys.argv[1]
here = Path(bitnet.__file__).resolve()
assert "site-packages" in here.parts, f"bitnet imported from {here}, not from the installed wheel"
m = bitnet.Model(model_path, n_ctx=256, n_threads=1)
text = m.generate("Hello", max_tokens=8, temperature=0)
assert text and "".join(m.generate("Hello", max_tokens=8, temperature=0, stream=True)) == text
logits = m.eval(m.tokenize("Hello"))
assert logits.shape == (2, m.n_vocab) and str(logits.dtype) == "float32"
try:
    bitnet.Model(model_path + ".missing")
except bitnet.IoError as e:
    assert "missing" in str(e)
else:
    raise AssertionError("no IoError")
print(subprocess.run([sys.executable, "-m", "bitnet", "--version"], check=True,
                     capture_output=True, text=True).stdout, end="")
print(f"smoke ok: {here.parent}: {text!r}")
