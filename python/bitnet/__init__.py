"""bitnet: BitNet b1.58 ternary LLMs on the CPU, from Python.

A thin layer over libbitnet's C++ API (compiled into ``bitnet._core`` with nanobind):

>>> import bitnet
>>> model = bitnet.Model("model.gguf", n_ctx=2048)
>>> print(model.generate("The capital of France is", max_tokens=16, temperature=0))
>>> logits = model.eval(model.tokenize("Hello"))   # numpy float32 [n_tokens, n_vocab]

``Model`` also has llama-cpp-python's ``create_completion`` / ``create_chat_completion`` (and
``__call__``), ``Session`` is the cross-validation session ABI, ``crossval.per_token`` is
``bitnet crossval-per-token``. Every engine error is a ``BitnetError`` subclass named after its
category. See docs/python.md.
"""
import os as _os

# libgomp reads its waiting policy once, when it is loaded with bitnet._core: give it the CLI's
# default spin count (bitnet::kernels::kDefaultGompSpinCount, src/kernels/omp_policy.hpp; a test
# checks they agree) unless the user chose a policy or opted out with BITNET_OMP_DEFAULTS=0.
if (_os.environ.get("BITNET_OMP_DEFAULTS") != "0" and "OMP_WAIT_POLICY" not in _os.environ
        and "GOMP_SPINCOUNT" not in _os.environ):
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from . import _core  # noqa: E402
from ._core import (  # noqa: E402
    BitnetError,
    CapacityError,
    ConfigError,
    DeviceError,
    InternalError,
    IoError,
    ModelError,
    OutOfMemoryError,
    TokenizerError,
)
from ._model import Model  # noqa: E402
from ._session import Session  # noqa: E402
from . import crossval  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Model",
    "Session",
    "crossval",
    "BitnetError",
    "CapacityError",
    "ConfigError",
    "DeviceError",
    "InternalError",
    "IoError",
    "ModelError",
    "OutOfMemoryError",
    "TokenizerError",
    "library_version",
    "build_info",
    "cpu_features",
    "__version__",
]


def library_version() -> str:
    """The version of the libbitnet compiled into this package."""
    return _core.version()


def build_info() -> str:
    """One line: version, compiler, CPU features of this machine, CUDA or not."""
    return _core.build_info()


def cpu_features() -> str:
    """Space-separated CPU features the kernels use on this machine ("" when none)."""
    return _core.cpu_features()
