"""Shared settings of the Python package's tests.

BITNET_FIXTURES: the reference data (default ../shared/fixtures beside the repository).
BITNET_BIN: the CLI the package is compared with (default build/bin/bitnet); when it is set and
missing the comparisons fail, when it is not set and build/bin/bitnet is missing they are skipped.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", REPO.parent / "shared" / "fixtures"))
I2S = FIXTURES / "tiny-b158-i2s.gguf"
TQ2 = FIXTURES / "tiny-bitnet-tq2_0.gguf"
TQ1 = FIXTURES / "tiny-bitnet-tq1_0.gguf"


def golden_cases():
    """(model path, golden json path) for every golden prompt of golden*/."""
    cases = []
    for d in ("golden", "golden-upstream"):
        for j in sorted((FIXTURES / d).glob("*.json")):
            model = FIXTURES / (j.name.split(".")[0] + ".gguf")
            cases.append((model, j))
    return cases


@pytest.fixture(scope="session")
def cli():
    """A function running the bitnet CLI: cli(*args) -> CompletedProcess (bytes)."""
    given = os.environ.get("BITNET_BIN")
    path = Path(given) if given else REPO / "build" / "bin" / "bitnet"
    if not path.exists():
        if given:
            pytest.fail(f"BITNET_BIN={given} does not exist")
        pytest.skip(f"{path} not built (set BITNET_BIN)")

    def run(*args, check=True, timeout=600):
        proc = subprocess.run([str(path), *map(str, args)], capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"bitnet {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                 + proc.stderr.decode(errors="replace"))
        return proc
    return run


@pytest.fixture(scope="session")
def i2s_model():
    """The tiny I2_S model (LLaMA-3 vocabulary), one thread, shared by the tests of a session."""
    import bitnet
    return bitnet.Model(I2S, n_ctx=4096, n_threads=1)


def load_json(path):
    return json.loads(Path(path).read_text())
