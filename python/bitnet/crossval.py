"""bitnet.crossval: ``bitnet crossval-per-token`` from Python (docs/crossval.md)."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Union

from . import _core

PathLike = Union[str, os.PathLike]


def _side_b(b: Union[str, PathLike]) -> str:
    spec = os.fspath(b)
    if spec == "reference" or spec.startswith(("golden:", "lib:", "native:")):
        return spec
    if spec.endswith(".json"):
        return "golden:" + spec
    if spec.endswith(".so") or ".so." in os.path.basename(spec):
        return "lib:" + spec
    raise _core.ConfigError(
        f"crossval.per_token: side b must be 'reference', 'golden:FILE.json', 'lib:PATH.so', "
        f"'native:ngl=N' or such a path, got {spec!r}")


def per_token(a: Union[PathLike, Any], b: Union[str, PathLike], prompt: str = "",
              max_tokens: int = 4, cos_tol: float = 0.999, *, template: str = "raw",
              add_bos: Optional[bool] = None, threads: int = 0,
              tokenizer: Optional[PathLike] = None) -> Dict[str, Any]:
    """Token parity, then per-position logits metrics of side A (our engine on model ``a``, a
    path or a ``bitnet.Model``) against side ``b`` (``"reference"``, ``"golden:FILE.json"``,
    ``"lib:PATH.so"``, ``"native:ngl=N"`` (our engine with N layers on the GPU), or a ``.json`` /
    ``.so`` path). Returns the report of
    ``bitnet crossval-per-token --format json`` as a dict (docs/schemas/); an empty prompt
    with a golden side B uses the golden's prompt. The report says whether the sides agree;
    nothing is raised for a divergence or a token mismatch."""
    model = a.path if hasattr(a, "path") and not isinstance(a, (str, os.PathLike)) else os.fspath(a)
    if not 0 <= int(max_tokens):
        raise _core.ConfigError(f"max_tokens must be >= 0, got {max_tokens}")
    report, _exit_code = _core.crossval_per_token(
        model, _side_b(b), prompt, int(max_tokens), float(cos_tol), template, add_bos,
        int(threads), "" if tokenizer is None else os.fspath(tokenizer))
    return json.loads(report)
