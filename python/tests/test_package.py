"""The package itself: version output, docstrings on every public name, stubs beside _core."""
import inspect
import os
import subprocess
import sys
from pathlib import Path

import bitnet


def test_version_command():
    out = subprocess.run([sys.executable, "-m", "bitnet", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith(f"bitnet {bitnet.__version__} (libbitnet {bitnet.library_version()}")
    assert "cpu features:" in out and "build:" in out


def test_every_public_name_has_a_docstring():
    missing = []
    for name in bitnet.__all__:
        obj = getattr(bitnet, name)
        if name == "__version__":
            continue
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (callable(member) or isinstance(member, property)):
                    continue
                if not (inspect.getdoc(member) or "").strip():
                    missing.append(f"{name}.{attr}")
    assert missing == []


def test_stubs_are_installed():
    core = Path(bitnet._core.__file__)
    stub = core.parent / "_core.pyi"
    assert stub.exists(), stub
    text = stub.read_text()
    assert "class Model" in text and "class Session" in text and "def crossval_per_token" in text
    assert "class ConfigError(BitnetError, ValueError)" in text
    assert (core.parent / "py.typed").exists()


def test_openmp_wait_policy_is_the_clis():
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "BITNET_OMP_DEFAULTS")}
    code = "import os, bitnet; print(os.environ['GOMP_SPINCOUNT'], bitnet._core.default_gomp_spin_count())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == out[1]
    kept = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "0"},
                          capture_output=True, text=True, check=True).stdout.split()
    assert kept[0] == "0"
