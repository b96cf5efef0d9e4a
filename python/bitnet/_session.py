"""bitnet.Session: the cross-validation session ABI (include/bitnet/crossval_session.h) over
libbitnet itself or over any shared library that exports crossval_bitnet_* (the reference adapter
libbitnet_reference.so, another engine)."""
from __future__ import annotations

import os
from typing import Iterable, List, Optional, Union

import numpy as np

from . import _core
from ._model import _as_bytes, _token_list


class Session:
    """A model opened through the session ABI with a context of ``n_ctx`` tokens.

    ``library``: None for this package's own libbitnet, or the path of a ``.so`` exposing the
    ABI (loaded with ``RTLD_LOCAL``, so two implementations can be compared in one process).
    Errors are BitnetError subclasses carrying the ABI's code and message. Use it as a context
    manager or call ``close()``; one thread at a time.
    """

    def __init__(self, path: Union[str, os.PathLike], n_ctx: int, n_gpu_layers: int = 0,
                 library: Optional[Union[str, os.PathLike]] = None, *,
                 n_threads: int = 0) -> None:
        self._s = _core.Session(os.fspath(path), n_ctx, n_gpu_layers, n_threads,
                                None if library is None else os.fspath(library))

    def tokenize(self, text: Union[str, bytes], add_bos: bool = True) -> List[int]:
        """Token ids as llama-cli makes them (special tokens parsed), BOS first when add_bos."""
        return self._s.tokenize(_as_bytes(text, "text"), bool(add_bos))

    def prefill(self, tokens: Iterable[int]) -> None:
        """Appends tokens to the KV cache without logits."""
        self._s.prefill(_token_list(tokens))

    def eval_last(self, tokens: Iterable[int]) -> np.ndarray:
        """Appends tokens; the last position's logits, float32 ``[n_vocab]``."""
        return self._s.eval_last(_token_list(tokens))

    def eval_all(self, tokens: Iterable[int]) -> np.ndarray:
        """Clears the cache, evaluates tokens in one batch: float32 ``[n_tokens, n_vocab]``."""
        return self._s.eval_all(_token_list(tokens))

    def reset(self) -> None:
        """Clears the KV cache."""
        self._s.reset()

    @property
    def n_past(self) -> int:
        """Positions in the KV cache."""
        return self._s.n_past

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return self._s.n_vocab

    @property
    def n_ctx(self) -> int:
        """Context size in tokens."""
        return self._s.n_ctx

    def close(self) -> None:
        """Frees the session (later calls raise ConfigError)."""
        self._s.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
