"""bitnet.Model: a loaded model with its own KV cache; generation, chat, logits, and the
llama-cpp-python-shaped completion methods. Everything runs in libbitnet (bitnet._core); this
module only turns keyword arguments into a GenerationConfig and results into Python objects."""
from __future__ import annotations

import operator
import os
import time
import uuid
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from . import _core

_RANDOM_SEED = 0xFFFFFFFF  # bitnet::kRandomSeed: draw a seed

# llama-cpp-python arguments this package does not implement: a non-default value raises
# ConfigError instead of being silently ignored (docs/python.md lists them).
_UNSUPPORTED = {
    "suffix": None, "echo": False, "logprobs": None, "top_logprobs": None,
    "frequency_penalty": 0.0, "presence_penalty": 0.0, "tfs_z": 1.0, "typical_p": 1.0,
    "mirostat_mode": 0, "mirostat_tau": 5.0, "mirostat_eta": 0.1, "grammar": None,
    "logits_processor": None, "stopping_criteria": None, "logit_bias": None,
    "functions": None, "function_call": None, "tools": None, "tool_choice": None,
    "response_format": None, "model": None,
}

Messages = Sequence[Union[Dict[str, str], Sequence[str]]]


def _reject_unsupported(method: str, kwargs: Dict[str, Any]) -> None:
    for name, value in kwargs.items():
        if name not in _UNSUPPORTED:
            raise TypeError(f"{method}() got an unexpected keyword argument '{name}'")
        if name != "model" and value != _UNSUPPORTED[name]:
            raise _core.ConfigError(
                f"{method}: '{name}' is not supported by bitnet (see docs/python.md)")


def _as_bytes(text: Union[str, bytes], what: str) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    raise TypeError(f"{what} must be str or bytes, got {type(text).__name__}")


def _token_list(tokens: Iterable[int]) -> List[int]:
    if isinstance(tokens, (str, bytes)):
        raise TypeError("tokens must be a sequence of ints, got " + type(tokens).__name__)
    return [operator.index(t) for t in tokens]


def _messages(messages: Messages) -> List[tuple]:
    out = []
    for m in messages:
        if isinstance(m, dict):
            content = m.get("content")
            if not isinstance(content, str):
                raise TypeError("message content must be a str, got " + type(content).__name__)
            out.append((str(m["role"]), content))
        else:
            role, content = m
            out.append((str(role), str(content)))
    return out


def _openai_finish_reason(reason: str) -> str:
    # llama-cpp-python knows "stop" (EOS or a stop sequence) and "length"; a full context is a
    # length limit, a cancellation ends like a stop.
    return "length" if reason in ("length", "context_full") else "stop"


class Model:
    """A BitNet b1.58 GGUF model and one KV cache (llama-cpp-python's ``Llama`` counterpart).

    ``path``: a GGUF file (arch ``bitnet-b1.58`` or ``bitnet``; I2_S, TQ1_0, TQ2_0 weights).
    ``n_ctx``: KV cache length in tokens (0 = the model's training context). ``n_threads``:
    threads of each forward pass (None = every hardware thread). ``head_type``: ``"f16"`` (as
    stored, the reference's logits), ``"q8_0"`` or ``"q6_k"`` (faster, inexact). ``use_mmap``:
    False reads the whole file at load. ``n_gpu_layers``: llama-cpp-python's offload
    count (-1 = all; 0 = ``BITNET_GPU_LAYERS`` if set); this build has no GPU backend, so every
    layer runs on the CPU and stderr says so once. ``info["offload"]`` tells where layers run.

    A Model is used by one thread at a time (calls from several threads take turns);
    ``share()`` gives another handle over the same weights with its own cache, for threads that
    generate in parallel. The GIL is released during every forward pass.
    """

    def __init__(self, path: Union[str, os.PathLike], *, n_ctx: int = 4096,
                 n_threads: Optional[int] = None, head_type: str = "f16", use_mmap: bool = True,
                 n_gpu_layers: int = 0) -> None:
        path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError("path must be str or os.PathLike[str]")
        n_gpu_layers = operator.index(n_gpu_layers)
        if n_gpu_layers < -1:
            raise ValueError(f"n_gpu_layers must be >= -1 (-1 = all layers), got {n_gpu_layers}")
        self._path = path
        # 0 (llama-cpp-python's default) leaves the choice to BITNET_GPU_LAYERS, as the C API does.
        self._weights = _core.Model.load(path, use_mmap=use_mmap, head_type=head_type,
                                         n_gpu_layers=n_gpu_layers or None)
        self._engine = _core.Engine(self._weights, n_ctx=n_ctx,
                                    n_threads=0 if n_threads is None else n_threads)

    @classmethod
    def from_pretrained(cls, repo_id: str, filename: str, *, revision: str = "main",
                        cache_dir: Optional[Union[str, os.PathLike]] = None,
                        **kwargs: Any) -> "Model":
        """Downloads ``filename`` of the Hugging Face repository ``repo_id`` (or finds it in the
        cache; ``HF_HUB_OFFLINE=1`` works offline) with ``huggingface_hub.hf_hub_download`` and
        loads it; ``kwargs`` go to ``Model()``. Needs the optional ``huggingface_hub``
        package (``pip install bitnet[hub]``)."""
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as e:
            raise ImportError(
                "Model.from_pretrained needs the huggingface_hub package: "
                "pip install huggingface_hub (or pip install 'bitnet[hub]')") from e
        path = hf_hub_download(repo_id=repo_id, filename=filename, revision=revision,
                               cache_dir=None if cache_dir is None else os.fspath(cache_dir))
        return cls(path, **kwargs)

    def share(self, *, n_ctx: Optional[int] = None, n_threads: Optional[int] = None) -> "Model":
        """Another handle over the same weights (no second load) with its own empty KV cache:
        one per thread for parallel generation."""
        other = object.__new__(Model)
        other._path = self._path
        other._weights = self._weights
        other._engine = _core.Engine(
            self._weights, n_ctx=self._engine.n_ctx if n_ctx is None else n_ctx,
            n_threads=self._engine.n_threads if n_threads is None else n_threads)
        return other

    # ---- facts

    @property
    def path(self) -> str:
        """The GGUF file this model was loaded from."""
        return self._path

    @property
    def n_vocab(self) -> int:
        """Vocabulary size (columns of the logits)."""
        return int(self._weights.params["n_vocab"])

    @property
    def n_ctx(self) -> int:
        """KV cache length in tokens."""
        return self._engine.n_ctx

    @property
    def n_ctx_train(self) -> int:
        """The context length the model was trained with."""
        return int(self._weights.params["n_ctx_train"])

    @property
    def architecture(self) -> str:
        """general.architecture: ``"bitnet-b1.58"`` or ``"bitnet"``."""
        return self._weights.info["architecture"]

    @property
    def metadata(self) -> Dict[str, str]:
        """GGUF metadata, key to value as text (arrays such as the vocabulary left out)."""
        return self._weights.metadata

    @property
    def info(self) -> Dict[str, Any]:
        """What ``bitnet inspect`` reports (name, quantization, parameters, bits per weight,
        head type) and the hyper-parameters (n_embd, n_layer, ...), in one dict."""
        return {**self._weights.info, **self._weights.params}

    @property
    def n_past(self) -> int:
        """Positions in the KV cache."""
        return self._engine.n_past

    # ---- tokens and logits

    def tokenize(self, text: Union[str, bytes], add_bos: bool = True,
                 special: bool = False) -> List[int]:
        """Token ids of ``text`` (BOS first when ``add_bos``; ``special``: special-token text
        such as ``<|eot_id|>`` becomes its id)."""
        return self._weights.tokenize(_as_bytes(text, "text"), add_bos=bool(add_bos),
                                      special=bool(special))

    def detokenize(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        """The text of token ids (bytes that are not valid UTF-8 become U+FFFD)."""
        return self._weights.detokenize(_token_list(ids), skip_special).decode("utf-8", "replace")

    def eval(self, tokens: Iterable[int], *, all_logits: bool = True) -> np.ndarray:
        """Appends ``tokens`` after the ``n_past`` positions of the cache in one batch and
        returns the logits, float32 ``[n_tokens, n_vocab]`` (``[1, n_vocab]`` with
        ``all_logits=False``): one copy out of the engine, owned by the array."""
        return self._engine.eval(_token_list(tokens), bool(all_logits))

    def reset(self) -> None:
        """Empties the KV cache."""
        self._engine.reset()

    # ---- generation

    @staticmethod
    def _config(max_tokens: Optional[int], temperature: float, top_k: int, top_p: float,
                min_p: float, repeat_penalty: float, repeat_last_n: int, seed: Optional[int],
                stop: Union[None, str, Sequence[str]], ignore_eos: bool = False
                ) -> _core.GenerationConfig:
        c = _core.GenerationConfig()
        c.max_new_tokens = -1 if max_tokens is None or max_tokens <= 0 else max_tokens
        c.temperature = temperature
        c.top_k = top_k
        c.top_p = top_p
        c.min_p = min_p
        c.repeat_penalty = repeat_penalty
        c.repeat_last_n = repeat_last_n
        if seed is not None and not 0 <= operator.index(seed) < _RANDOM_SEED:
            raise _core.ConfigError(f"seed must be in [0, 2**32 - 1) or None, got {seed}")
        c.seed = _RANDOM_SEED if seed is None else seed
        c.stop = [stop] if isinstance(stop, str) else list(stop or [])
        c.ignore_eos = bool(ignore_eos)
        c.validate()
        return c

    def _start(self, prompt: Union[str, bytes], config: _core.GenerationConfig,
               cache_prompt: bool = False):
        # The reference numerics depend on how the tokens were split into batches, so reusing a
        # cached prefix can change the text; by default every generation starts from an empty
        # cache, as `bitnet run` does, and gives the same text whatever ran before.
        if not cache_prompt:
            self._engine.reset()
        return self._engine.stream(_as_bytes(prompt, "prompt"), config)

    @staticmethod
    def _pieces(stream) -> Iterator[str]:
        try:
            for piece in stream:
                yield piece.decode("utf-8", "replace")
        finally:
            stream.cancel()  # a no-op once finished; ends an abandoned or interrupted one

    def _complete(self, prompt: Union[str, bytes], config: _core.GenerationConfig,
                  cache_prompt: bool = False) -> dict:
        stream = self._start(prompt, config, cache_prompt)
        try:
            for _ in stream:  # the text is in the result; Ctrl-C raises here
                pass
        finally:
            stream.cancel()
        return stream.result()

    def generate(self, prompt: Union[str, bytes], *, max_tokens: Optional[int] = 128,
                 temperature: float = 0.8, top_k: int = 40, top_p: float = 0.95,
                 min_p: float = 0.05, repeat_penalty: float = 1.0, repeat_last_n: int = 64,
                 seed: Optional[int] = None, stop: Union[None, str, Sequence[str]] = None,
                 ignore_eos: bool = False, stream: bool = False,
                 cache_prompt: bool = False) -> Union[str, Iterator[str]]:
        """A continuation of ``prompt`` (tokenized like ``bitnet run -p``: BOS per the model,
        special tokens parsed). The defaults and the sampling order are the CLI's; temperature 0
        is greedy, a seed gives the same text as ``bitnet run --seed`` with the same settings
        and thread count. ``max_tokens`` None or <= 0: until EOS, a stop string or a full
        context. ``stop``: strings that end the text (not included). ``stream=True``: an
        iterator of text pieces that join to the same text. Ctrl-C stops within one token.
        ``cache_prompt=True`` keeps the longest prefix the KV cache shares with the prompt
        instead of starting from an empty cache: faster for a growing conversation, but the
        reference numerics depend on the batch split, so the text may differ from a fresh run."""
        config = self._config(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty,
                              repeat_last_n, seed, stop, ignore_eos)
        if stream:
            return self._pieces(self._start(prompt, config, cache_prompt))
        return self._complete(prompt, config, cache_prompt)["text"].decode("utf-8", "replace")

    def apply_chat_template(self, messages: Messages, *, add_generation_prompt: bool = True,
                            template: str = "auto") -> str:
        """The conversation rendered with the model's chat template (``template="auto"``) or a
        named one (``llama3``, ``bitnet``, ``llama2``, ``raw``); BOS is not included."""
        return self._weights.apply_chat_template(_messages(messages), add_generation_prompt,
                                                 template)

    def chat(self, messages: Messages, *, template: str = "auto", stream: bool = False,
             **kwargs: Any) -> Union[str, Iterator[str]]:
        """The assistant's reply to ``messages`` (``{"role", "content"}`` dicts or
        ``(role, content)`` pairs) with the model's chat template; ``kwargs`` as ``generate``
        (``cache_prompt=True`` keeps the shared prefix of a growing conversation in the cache)."""
        return self.generate(self.apply_chat_template(messages, template=template),
                             stream=stream, **kwargs)

    # ---- llama-cpp-python-shaped API

    def create_completion(self, prompt: Union[str, bytes], max_tokens: Optional[int] = 16,
                          temperature: float = 0.8, top_p: float = 0.95, min_p: float = 0.05,
                          stop: Union[None, str, List[str]] = None, stream: bool = False,
                          repeat_penalty: float = 1.0, top_k: int = 40,
                          seed: Optional[int] = None, **unsupported: Any):
        """``llama_cpp.Llama.create_completion``: an OpenAI ``text_completion`` dict, or with
        ``stream=True`` an iterator of its chunk dicts. Not supported: suffix, echo, logprobs,
        frequency/presence penalties, tfs_z, typical_p, mirostat, grammar, logits processors,
        stopping criteria, logit_bias (a non-default value raises ConfigError)."""
        _reject_unsupported("create_completion", unsupported)
        config = self._config(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, 64,
                              seed, stop)
        cid, created = f"cmpl-{uuid.uuid4()}", int(time.time())
        if stream:
            return self._completion_chunks(prompt, config, cid, created)
        r = self._complete(prompt, config)
        return {
            "id": cid, "object": "text_completion", "created": created, "model": self._path,
            "choices": [{"text": r["text"].decode("utf-8", "replace"), "index": 0,
                         "logprobs": None,
                         "finish_reason": _openai_finish_reason(r["finish_reason"])}],
            "usage": self._usage(r),
        }

    __call__ = create_completion

    @staticmethod
    def _usage(r: dict) -> Dict[str, int]:
        prompt, completion = r["metrics"]["prompt_tokens"], len(r["tokens"])
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    def _completion_chunks(self, prompt, config, cid, created) -> Iterator[dict]:
        s = self._start(prompt, config)
        chunk = lambda text, reason: {  # noqa: E731
            "id": cid, "object": "text_completion", "created": created, "model": self._path,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}]}
        for piece in self._pieces(s):
            yield chunk(piece, None)
        yield chunk("", _openai_finish_reason(s.result()["finish_reason"]))

    def create_chat_completion(self, messages: Messages, temperature: float = 0.2,
                               top_p: float = 0.95, top_k: int = 40, min_p: float = 0.05,
                               stream: bool = False, stop: Union[None, str, List[str]] = None,
                               seed: Optional[int] = None, max_tokens: Optional[int] = None,
                               repeat_penalty: float = 1.0, **unsupported: Any):
        """``llama_cpp.Llama.create_chat_completion``: an OpenAI ``chat.completion`` dict, or
        with ``stream=True`` an iterator of ``chat.completion.chunk`` dicts (first a role
        delta, then content deltas, then an empty delta with the finish reason). The defaults
        are llama-cpp-python's. Not supported: tools/functions, response_format (JSON
        mode), grammar, logprobs, frequency/presence penalties, mirostat, logit_bias."""
        _reject_unsupported("create_chat_completion", unsupported)
        config = self._config(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, 64,
                              seed, stop)
        prompt = self.apply_chat_template(messages)
        cid, created = f"chatcmpl-{uuid.uuid4()}", int(time.time())
        if stream:
            return self._chat_chunks(prompt, config, cid, created)
        r = self._complete(prompt, config)
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": self._path,
            "choices": [{"index": 0,
                         "message": {"role": "assistant",
                                     "content": r["text"].decode("utf-8", "replace")},
                         "logprobs": None,
                         "finish_reason": _openai_finish_reason(r["finish_reason"])}],
            "usage": self._usage(r),
        }

    def _chat_chunks(self, prompt, config, cid, created) -> Iterator[dict]:
        s = self._start(prompt, config)
        chunk = lambda delta, reason: {  # noqa: E731
            "id": cid, "model": self._path, "created": created,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": reason}]}
        yield chunk({"role": "assistant"}, None)
        for piece in self._pieces(s):
            yield chunk({"content": piece}, None)
        yield chunk({}, _openai_finish_reason(s.result()["finish_reason"]))

    def __repr__(self) -> str:
        return f"bitnet.Model({self._path!r}, n_ctx={self.n_ctx})"
