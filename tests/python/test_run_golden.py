"""`bitnet run` against the reference's recorded greedy continuations (golden/*.json, made by
Microsoft bitnet.cpp / llama-cli --temp 0 on the tiny I2_S model): the streamed stdout bytes must be
exactly `greedy.text_hex`. The prompt goes through -p (tokenized like llama-cli: BOS + special
tokens parsed) and is evaluated in one batch, then one token per step, as the goldens were made.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
MODEL = FIXTURES / "tiny-b158-i2s.gguf"
CASES = sorted((FIXTURES / "golden").glob("tiny-b158-i2s.*.json"))


def run(*args, **kw):
    return subprocess.run([BIN, "run", "-m", str(MODEL), *args], capture_output=True, timeout=300, **kw)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem.split(".")[-1])
def test_greedy_matches_reference(case):
    golden = json.loads(case.read_text())
    greedy = golden["greedy"]
    proc = run("-p", golden["prompt"], "-n", str(greedy["n_requested"]), "--temp", "0", "-t", "1")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    expected = bytes.fromhex(greedy["text_hex"])
    assert proc.stdout == expected, (
        f"\n got      {proc.stdout!r}\n expected {expected!r}")
    stderr = proc.stderr.decode()
    assert "prompt eval time" in stderr and "eval time" in stderr
    assert f"/ {len(golden['tokens']):5d} tokens" in stderr  # the whole prompt, one batch
    assert "finish reason    = length" in stderr


def test_echo_prints_prompt_first():
    proc = run("-p", "Hello", "-n", "4", "--temp", "0", "--echo")
    assert proc.returncode == 0, proc.stderr
    plain = run("-p", "Hello", "-n", "4", "--temp", "0")
    assert proc.stdout == b"Hello" + plain.stdout


def test_prompt_file_drops_one_trailing_newline(tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_bytes(b"Hello\n")
    from_file = run("-f", str(prompt), "-n", "4", "--temp", "0")
    inline = run("-p", "Hello", "-n", "4", "--temp", "0")
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == inline.stdout


def test_seed_reproduces_text():
    args = ("-p", "Once upon a time", "-n", "6", "--temp", "1.0", "--top-k", "0", "--top-p", "1",
            "--min-p", "0")
    a = run(*args, "--seed", "42")
    b = run(*args, "--seed", "42")
    c = run(*args, "--seed", "7")
    assert a.returncode == 0 and b.returncode == 0 and c.returncode == 0
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout  # 6 draws from a nearly flat distribution over 128k tokens
    assert "(seed 42)" in a.stderr.decode()


def test_stop_string_is_not_printed():
    full = run("-p", "Hello", "-n", "16", "--temp", "0")
    text = full.stdout.decode()
    stop = text[5:9]  # somewhere in the middle of the continuation
    proc = run("-p", "Hello", "-n", "16", "--temp", "0", "--stop", stop)
    assert proc.returncode == 0
    assert proc.stdout.decode() == text[: text.index(stop)]
    assert "finish reason    = stop_sequence" in proc.stderr.decode()


def test_bad_arguments_exit_nonzero_and_name_the_field():
    proc = run("-p", "x", "--top-p", "1.5")
    assert proc.returncode == 1
    assert "top_p" in proc.stderr.decode()
    proc = run("-p", "x", "--temp", "-1")
    assert proc.returncode == 1 and "temperature" in proc.stderr.decode()
    proc = subprocess.run([BIN, "run", "-m", str(FIXTURES / "missing.gguf"), "-p", "x"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 1 and "missing.gguf" in proc.stderr.decode()


def test_context_full_and_shift():
    proc = run("-p", "Hello", "-n", "24", "--temp", "0", "-c", "16")
    assert proc.returncode == 0, proc.stderr
    assert "finish reason    = context_full" in proc.stderr.decode()
    proc = run("-p", "Hello", "-n", "24", "--temp", "0", "-c", "16", "--context-shift")
    assert proc.returncode == 0, proc.stderr
    assert "finish reason    = length" in proc.stderr.decode()
