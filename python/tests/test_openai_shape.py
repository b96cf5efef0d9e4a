"""create_completion / create_chat_completion return llama-cpp-python's OpenAI-shaped dicts: the
same keys and value types as the shapes recorded in data/llama_cpp_python_shapes.json."""
import json
from pathlib import Path

import pytest

import bitnet

SHAPES = json.loads((Path(__file__).parent / "data" / "llama_cpp_python_shapes.json").read_text())
MESSAGES = [{"role": "user", "content": "Say hello"}]


def assert_same_shape(got, want, where="$"):
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: {type(got).__name__}, expected a dict"
        assert set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_same_shape(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_shape(g, w, f"{where}[{i}]")
    elif want is None:
        assert got is None, f"{where}: {got!r}, expected None"
    else:
        assert type(got) is type(want), f"{where}: {type(got).__name__} != {type(want).__name__}"


def test_completion_shape(i2s_model):
    r = i2s_model.create_completion("Hello", max_tokens=4, temperature=0)
    assert_same_shape(r, SHAPES["completion"])
    assert r["object"] == "text_completion" and r["id"].startswith("cmpl-")
    assert r["choices"][0]["text"] == i2s_model.generate("Hello", max_tokens=4, temperature=0)
    assert r["choices"][0]["finish_reason"] == "length"
    u = r["usage"]
    assert u["prompt_tokens"] == len(i2s_model.tokenize("Hello")) and u["completion_tokens"] == 4
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert i2s_model("Hello", max_tokens=4, temperature=0)["choices"][0]["text"] == \
        r["choices"][0]["text"]


def test_completion_stream_shape(i2s_model):
    chunks = list(i2s_model.create_completion("Hello", max_tokens=6, temperature=0, stream=True))
    for c in chunks[:-1]:
        assert_same_shape(c, SHAPES["completion_chunk"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert len({c["id"] for c in chunks}) == 1
    assert "".join(c["choices"][0]["text"] for c in chunks) == \
        i2s_model.generate("Hello", max_tokens=6, temperature=0)


def test_chat_completion_shape(i2s_model):
    r = i2s_model.create_chat_completion(MESSAGES, max_tokens=4, temperature=0)
    assert_same_shape(r, SHAPES["chat_completion"])
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    assert r["choices"][0]["message"]["content"] == \
        i2s_model.chat(MESSAGES, max_tokens=4, temperature=0)


def test_chat_completion_stream_shape(i2s_model):
    chunks = list(i2s_model.create_chat_completion(MESSAGES, max_tokens=6, temperature=0,
                                                   stream=True))
    assert_same_shape(chunks[0], SHAPES["chat_chunk_first"])
    for c in chunks[1:-1]:
        assert_same_shape(c, SHAPES["chat_chunk_content"])
    assert_same_shape(chunks[-1], SHAPES["chat_chunk_last"])
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == i2s_model.chat(MESSAGES, max_tokens=6, temperature=0)


def test_unsupported_arguments_are_refused(i2s_model):
    with pytest.raises(bitnet.ConfigError, match="grammar"):
        i2s_model.create_completion("Hello", grammar="root ::= x")
    with pytest.raises(TypeError, match="no_such_argument"):
        i2s_model.create_chat_completion(MESSAGES, no_such_argument=1)
    # llama-cpp-python's defaults of the unsupported ones are accepted
    i2s_model.create_completion("Hello", max_tokens=1, frequency_penalty=0.0, echo=False)
