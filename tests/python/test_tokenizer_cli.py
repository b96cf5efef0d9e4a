"""`bitnet tokenize`: output modes, BOS rules, stdin/file input, --jsonl batch mode and errors."""
import json
import os
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
LLAMA3_GGUF = FIXTURES / "tiny-b158-i2s.gguf"
LLAMA3_JSON = FIXTURES / "tokenizer" / "llama3-tokenizer.json"
LLAMA2_GGUF = FIXTURES / "tokenizer" / "llamacpp-tests" / "ggml-vocab-llama-spm.gguf"

pytestmark = pytest.mark.skipif(not LLAMA3_GGUF.exists(), reason="fixtures missing")


def tokenize(*args, stdin=b""):
    return subprocess.run([BIN, "tokenize", *map(str, args)], input=stdin, capture_output=True, timeout=120)


def ids_of(*args, stdin=b""):
    proc = tokenize(*args, "--ids", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ids_bos_and_special():
    assert ids_of("-m", LLAMA3_GGUF, "-p", "Hello world!") == [128000, 9906, 1917, 0]
    assert ids_of("-m", LLAMA3_GGUF, "-p", "Hello world!", "--no-bos") == [9906, 1917, 0]
    assert ids_of("-m", LLAMA3_GGUF, "-p", "Hi<|eot_id|>", "--no-bos", "--parse-special") == [13347, 128009]
    assert 128009 not in ids_of("-m", LLAMA3_GGUF, "-p", "Hi<|eot_id|>", "--no-bos")
    assert ids_of("--tokenizer", LLAMA3_JSON, "-p", "Hello world!") == [128000, 9906, 1917, 0]
    assert ids_of("-m", LLAMA2_GGUF, "-p", "Hello world") == [1, 15043, 3186]
    assert ids_of("-m", LLAMA3_GGUF, "-p", "") == [128000]
    assert ids_of("-m", LLAMA3_GGUF, "-p", "", "--no-bos") == []


def test_text_from_file_and_stdin(tmp_path):
    text = "  leading spaces\tand a tab\n\n"
    path = tmp_path / "prompt.txt"
    path.write_bytes(text.encode())
    from_arg = ids_of("-m", LLAMA3_GGUF, "-p", text)
    assert ids_of("-m", LLAMA3_GGUF, "-f", path) == from_arg  # no newline stripped
    assert ids_of("-m", LLAMA3_GGUF, "-f", "-", stdin=text.encode()) == from_arg


def test_json_pieces_and_default_output():
    proc = tokenize("-m", LLAMA3_GGUF, "-p", "Hello world", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"ids": [128000, 9906, 1917], "pieces": ["<|begin_of_text|>", "Hello", " world"], "n_tokens": 3}
    proc = tokenize("-m", LLAMA3_GGUF, "-p", "Hello world", "--pieces", "--no-bos")
    assert [json.loads(line) for line in proc.stdout.decode().splitlines()] == ["Hello", " world"]
    proc = tokenize("-m", LLAMA3_GGUF, "-p", "Hello", "--no-bos")
    assert proc.stdout.decode().split() == ["9906", "->", '"Hello"']


def test_invalid_utf8_prompt_does_not_crash():
    proc = tokenize("-m", LLAMA3_GGUF, "-f", "-", "--json", stdin=b"ab\xff\xc3")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "".join(out["pieces"][1:]) == "ab\ufffd\ufffd"


def corpus(name):
    with open(FIXTURES / "tokenizer" / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("model,corpus_name,bos", [(LLAMA2_GGUF, "llama2-corpus.jsonl", 1),
                                                   (LLAMA3_GGUF, "llama3-corpus.jsonl", 128000)])
def test_jsonl_reproduces_the_corpus(model, corpus_name, bos):
    cases = corpus(corpus_name)
    payload = "".join(json.dumps({"text": c["text"], "id": c["id"]}) + "\n" for c in cases).encode()
    for flags, key in ([["--parse-special"], "ids"], [[], "ids_nospecial"]):
        proc = tokenize("-m", model, "--jsonl", *flags, stdin=payload)
        assert proc.returncode == 0, proc.stderr
        got = [json.loads(line)["ids"] for line in proc.stdout.decode().splitlines()]
        assert got == [c[key] for c in cases]
    proc = tokenize("-m", model, "--jsonl", "--bos", stdin=payload)
    got = [json.loads(line)["ids"] for line in proc.stdout.decode().splitlines()]
    assert got == [[bos] + c["ids_nospecial"] for c in cases]


def test_errors_exit_nonzero_with_a_message():
    proc = tokenize("-m", "/nonexistent.gguf", "-p", "x")
    assert proc.returncode == 1 and b"/nonexistent.gguf" in proc.stderr
    proc = tokenize("-m", LLAMA3_GGUF, "--jsonl", stdin=b'{"text": "ok"}\nnot json\n')
    assert proc.returncode == 1 and b"line 2" in proc.stderr
    assert proc.stdout.decode().splitlines() == ['{"ids":[564]}']
    assert tokenize("-m", LLAMA3_GGUF, "--tokenizer", LLAMA3_JSON, "-p", "x").returncode != 0
    assert tokenize("-m", LLAMA3_GGUF).returncode != 0
    assert tokenize("-p", "x").returncode != 0
    assert tokenize("-m", LLAMA3_GGUF, "-p", "x", "--ids", "--json").returncode != 0
