"""`bitnet chat` driven through a pseudo-terminal, as a person would use it: two turns where the
second processes only its own tokens (the KV cache is kept), /reset, Ctrl-C stopping an answer
without ending the program, and Ctrl-D (end of input) exiting with status 0.
"""
import fcntl
import os
import pty
import re
import select
import subprocess
import termios
import time
from pathlib import Path

import pytest

BIN = os.environ.get("BITNET_BIN", "build/bin/bitnet")
FIXTURES = Path(os.environ.get("BITNET_FIXTURES", "../shared/fixtures"))
MODEL = FIXTURES / "tiny-b158-i2s.gguf"
TURN = re.compile(rb"\[turn (\d+): prompt (\d+) tokens, (\d+) processed, (\d+) from cache; "
                  rb"generated (\d+) \((\w+)\)")


class Pty:
    def __init__(self, *args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([BIN, "chat", "-m", str(MODEL), *args], stdin=slave,
                                     stdout=slave, stderr=slave, start_new_session=True,
                                     preexec_fn=self._take_terminal)
        os.close(slave)
        self.out = b""

    @staticmethod
    def _take_terminal():
        # In the child, after setsid(): make the pty its controlling terminal, so that Ctrl-C
        # typed into it becomes SIGINT, as in a real terminal.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    def read_until(self, pattern, timeout=120):
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            m = regex.search(self.out)
            if m:
                return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; output so far:\n"
                                     f"{self.out.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"chat exited ({self.proc.returncode}) before {pattern!r}:\n"
                                         f"{self.out.decode(errors='replace')}")
                self.out += chunk

    def consume(self):
        """Forget what was read so far (the next read_until searches new output only)."""
        self.out = b""

    def send(self, text):
        os.write(self.master, text)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@pytest.fixture
def chat():
    session = Pty("-n", "6", "--temp", "0", "-t", "1", "-c", "512", "-v")
    yield session
    session.close()


def turn_line(session):
    m = session.read_until(TURN)
    turn, prompt, processed, cached, generated = (int(x) for x in m.groups()[:5])
    return dict(turn=turn, prompt=prompt, processed=processed, cached=cached, generated=generated,
                reason=m.group(6).decode())


def new_turn_tokens(user_text):
    """Tokens of the new turn in the LLaMA-3 template (the model's), by our tokenizer CLI."""
    text = ("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" + user_text +
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    out = subprocess.run([BIN, "tokenize", "-m", str(MODEL), "--parse-special", "--no-bos", "--ids", "-p", text],
                         capture_output=True, check=True, timeout=120).stdout.decode()
    return len(re.findall(r"-?\d+", out))


def test_two_turns_second_reuses_the_cache(chat):
    chat.read_until(rb"> ")
    chat.consume()
    chat.send(b"Hi there!\n")
    first = turn_line(chat)
    assert first["turn"] == 1
    assert first["processed"] == first["prompt"] and first["cached"] == 0
    chat.read_until(rb"> ")
    chat.consume()

    chat.send(b"Tell me more.\n")
    second = turn_line(chat)
    assert second["turn"] == 2
    # Only the new turn: the end of the previous reply and the new user message. The previous
    # reply's last token was sampled but not evaluated when it ended by length: it comes too.
    pending = 1 if first["reason"] == "length" else 0
    expected = new_turn_tokens("Tell me more.") + pending
    assert second["processed"] == expected, chat.out.decode(errors="replace")
    assert second["cached"] == first["prompt"] + first["generated"] - pending
    assert second["prompt"] == second["cached"] + second["processed"]

    chat.read_until(rb"> ")
    chat.send(b"/reset\n")
    chat.read_until(rb"conversation reset")
    chat.consume()
    chat.send(b"Hi there!\n")
    again = turn_line(chat)
    assert again["turn"] == 1 and again["processed"] == first["processed"]

    chat.read_until(rb"> ")
    chat.send(b"\x04")  # Ctrl-D at the start of a line: end of input
    assert chat.proc.wait(timeout=60) == 0


def test_ctrl_c_stops_the_answer_not_the_program():
    # An unlimited answer in a large context runs long enough to be interrupted.
    session = Pty("-n", "-1", "--temp", "0", "-t", "1", "-c", "4096", "-v")
    try:
        session.read_until(rb"> ")
        session.consume()
        session.send(b"Write a long story.\n")
        time.sleep(3)
        assert session.proc.poll() is None
        session.send(b"\x03")  # Ctrl-C: the terminal sends SIGINT to the chat
        line = turn_line(session)
        assert line["reason"] == "cancelled", session.out.decode(errors="replace")
        session.read_until(rb"> ")
        assert session.proc.poll() is None
        session.consume()
        session.send(b"\x03")  # at the prompt it does not exit either
        session.read_until(rb"Ctrl-D or /exit")
        session.send(b"/exit\n")
        assert session.proc.wait(timeout=60) == 0
    finally:
        session.close()
