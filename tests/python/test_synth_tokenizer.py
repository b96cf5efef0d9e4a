"""`bitnet synth --tokenizer tokenizer.json` writes tokenizer.ggml.* metadata that tokenizes like the peer.

The golden ids of llama3-corpus.jsonl come from Hugging Face tokenizers on the same tokenizer.json; the
synthesized GGUF must reproduce all of them (special tokens parsed and as text), and the gguf package
must read the file."""
import json
import os
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
TOKENIZER_JSON = FIXTURES / "tokenizer" / "llama3-tokenizer.json"
CORPUS = FIXTURES / "tokenizer" / "llama3-corpus.jsonl"

pytestmark = pytest.mark.skipif(not TOKENIZER_JSON.exists(), reason="fixtures missing")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "tiny-llama3.gguf"
    proc = subprocess.run([BIN, "synth", "--preset", "tiny", "--type", "tq2_0", "--tokenizer", str(TOKENIZER_JSON),
                           "-o", str(out)], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return out


def batch_ids(model, texts, *flags):
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    proc = subprocess.run([BIN, "tokenize", "-m", str(model), "--jsonl", *flags], input=stdin,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line)["ids"] for line in proc.stdout.decode().split("\n") if line]


def test_corpus_ids_from_synthesized_gguf(model):
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").split("\n") if line]
    texts = [r["text"] for r in rows]
    special = batch_ids(model, texts, "--parse-special")
    plain = batch_ids(model, texts)
    mismatches = [r["id"] for r, s, p in zip(rows, special, plain) if s != r["ids"] or p != r["ids_nospecial"]]
    assert len(special) == len(rows)
    assert mismatches == []


def test_metadata_like_the_converter(model):
    import gguf

    reader = gguf.GGUFReader(str(model))
    fields = reader.fields
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert fields["tokenizer.ggml.pre"].contents() == "llama-bpe"
    assert len(fields["tokenizer.ggml.tokens"].contents()) == 128256
    assert len(fields["tokenizer.ggml.merges"].contents()) == 280147
    assert fields["tokenizer.ggml.bos_token_id"].contents() == 128000
