"""Differential test: `bitnet tokenize --jsonl` against Hugging Face `tokenizers` (the golden peer)
on generated hard text, both loading the same llama3-tokenizer.json (and our CLI also the GGUF).

10,000 strings by default (BITNET_TOKENIZER_DIFF_N overrides; BITNET_TOKENIZER_DIFF_SEED changes the
seed). Zero mismatches expected, with special tokens parsed and as plain text.
"""
import json
import os
import random
import subprocess
import unicodedata
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
TOKENIZER_JSON = FIXTURES / "tokenizer" / "llama3-tokenizer.json"
I2S_MODEL = FIXTURES / "tiny-b158-i2s.gguf"
N_STRINGS = int(os.environ.get("BITNET_TOKENIZER_DIFF_N", "10000"))
SEED = int(os.environ.get("BITNET_TOKENIZER_DIFF_SEED", "20261123"))

# Unicode White_Space plus look-alikes that are not (U+FEFF, U+200B, U+180E, U+2060).
WHITESPACE = [chr(c) for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
                               0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                               0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF, 0x200B, 0x180E, 0x2060)]
DIGITS = list("0123456789") + [chr(c) for c in (0x0660, 0x0669, 0x06F5, 0x0966, 0x0E51, 0xFF10, 0x00B2,
                                                0x00BD, 0x2160, 0x2463, 0x1D7CE, 0x104A0)]
EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200D\U0001F469\u200D\U0001F467",
         "\U0001F1FA\U0001F1F8", "\u2764\uFE0F", "\U0001F3F3\uFE0F\u200D\U0001F308", "\U0001F999",
         "\u0031\uFE0F\u20E3", "\U0001F9D1\U0001F3FF\u200D\U0001F4BB", "\u263A", "\U0001FAE0"]
WORDS = ["the", "The", "HELLO", "don't", "I'M", "we'll", "they'RE", "it's", "'s", "'LL", "naïve", "café",
         "日本語", "Привет", "مرحبا", "שלום", "ελληνικά", "हिन्दी", "한국어", "ไทย", "def", "return",
         "x_1", "__init__", "http://example.com/a?b=c", "a\u0301", "e\u0308", "ǅ", "ﬁ", "Ⅻ", "ℌ", "ſt", "'ſ", "'\u212a",
         "'İ", "’s", "'ẞ", "'Ｓ", "I'M"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "«", "»", "¿", "¡", "·", "‽", "→"]


def special_names(tok):
    names = [t.content for t in tok.get_added_tokens_decoder().values()]
    return names + ["<|eot_id", "<|begin_of_text|", "|>", "<|", "<|reserved_special_token_"]


def random_code_point(rng):
    """A scalar value from any plane. Planes 0-3 only give characters assigned in Unicode 14 (the
    tables of Debian 12's PCRE2 10.42 and of Python 3.11's unicodedata): HF's Oniguruma knows
    Unicode 16, so a letter added since then (e.g. U+1391E) splits differently; docs/tokenizer.md.
    Planes 4-13 are unassigned in every version; 14-16 hold tags, selectors and private use."""
    plane = rng.choice([0, 0, 0, 1, 1, 2, 3, 14, 15, 16] + list(range(4, 14)))
    while True:
        cp = plane * 0x10000 + rng.randrange(0x10000)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if plane <= 3 and unicodedata.category(chr(cp)) == "Cn":
            continue
        return chr(cp)


def generate(rng, specials):
    pieces = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.randrange(10)
        if kind == 0:
            pieces.append("".join(random_code_point(rng) for _ in range(rng.randint(1, 6))))
        elif kind == 1:
            pieces.append("".join(chr(rng.randrange(0, 128)) for _ in range(rng.randint(1, 20))))
        elif kind == 2:
            pieces.append("".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 6))))
        elif kind == 3:
            pieces.append("".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 9))))
        elif kind == 4:
            pieces.append(rng.choice(specials))
        elif kind == 5:
            pieces.append("".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3))))
        elif kind == 6:
            pieces.append(rng.choice(WORDS))
        elif kind == 7:
            pieces.append("".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4))))
        elif kind == 8:
            pieces.append(" " * rng.randint(1, 5))
        else:
            pieces.append(rng.choice(["\n", "\r\n", "\n\n", "\t", " \n ", "\r"]))
    return "".join(pieces)


def run_cli(source_args, texts, parse_special):
    payload = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    cmd = [BIN, "tokenize", *source_args, "--jsonl"] + (["--parse-special"] if parse_special else [])
    proc = subprocess.run(cmd, input=payload.encode(), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(texts)
    return [json.loads(line)["ids"] for line in lines]


@pytest.fixture(scope="module")
def hf():
    if not TOKENIZER_JSON.exists():
        pytest.skip(f"{TOKENIZER_JSON} missing")
    return tokenizers.Tokenizer.from_file(str(TOKENIZER_JSON))


@pytest.fixture(scope="module")
def corpus(hf):
    rng = random.Random(SEED)
    specials = special_names(hf)
    return [generate(rng, specials) for _ in range(N_STRINGS)]


def hf_ids(hf, texts, parse_special):
    hf.encode_special_tokens = not parse_special
    try:
        return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    finally:
        hf.encode_special_tokens = False


def mismatches(texts, ours, theirs):
    return [(t, a, b) for t, a, b in zip(texts, ours, theirs) if a != b]


@pytest.mark.parametrize("parse_special", [True, False], ids=["special", "nospecial"])
def test_matches_hf_tokenizers_json(hf, corpus, parse_special):
    ours = run_cli(["--tokenizer", str(TOKENIZER_JSON)], corpus, parse_special)
    bad = mismatches(corpus, ours, hf_ids(hf, corpus, parse_special))
    assert not bad, f"{len(bad)} of {len(corpus)} differ; first: {bad[:3]!r}"


def test_matches_hf_tokenizers_gguf(hf, corpus):
    if not I2S_MODEL.exists():
        pytest.skip(f"{I2S_MODEL} missing")
    ours = run_cli(["-m", str(I2S_MODEL)], corpus, True)
    bad = mismatches(corpus, ours, hf_ids(hf, corpus, True))
    assert not bad, f"{len(bad)} of {len(corpus)} differ; first: {bad[:3]!r}"


def test_invalid_utf8_is_repaired_like_python_replace(hf):
    """Invalid UTF-8 is tokenized as bytes.decode('utf-8', 'replace') would give it to HF."""
    samples = [b"ab\xffc", b"\xc3", b"\xe2\x82", b"x\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf ok",
               b"\xf4\x90\x80\x80", b"caf\xe9 au lait", b"\x80\x80\x80"]
    for raw in samples:
        proc = subprocess.run([BIN, "tokenize", "--tokenizer", str(TOKENIZER_JSON), "-f", "-", "--ids",
                               "--no-bos"], input=raw, capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        ours = json.loads(proc.stdout)
        assert ours == hf.encode(raw.decode("utf-8", "replace"), add_special_tokens=False).ids, raw
