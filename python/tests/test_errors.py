"""Engine errors arrive as BitnetError subclasses with the engine's message; argument types are
checked; Ctrl-C stops a generation and the model stays usable; threads with their own handles
generate the same texts as one after another."""
import _thread
import threading
import time

import pytest

import bitnet
from conftest import I2S


def test_missing_file(tmp_path):
    with pytest.raises(bitnet.IoError, match="nope.gguf") as e:
        bitnet.Model(tmp_path / "nope.gguf")
    assert isinstance(e.value, OSError) and isinstance(e.value, bitnet.BitnetError)


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a GGUF file at all, just text" * 4)
    with pytest.raises(bitnet.ModelError, match="bad.gguf"):
        bitnet.Model(bad)


def test_bad_argument_types(i2s_model):
    with pytest.raises(TypeError):
        bitnet.Model(123)
    with pytest.raises(TypeError):
        i2s_model.tokenize(42)
    with pytest.raises(TypeError):
        i2s_model.eval([1.5, 2.0])
    with pytest.raises(TypeError):
        i2s_model.generate("Hello", max_tokens="ten")


def test_out_of_range_parameters(i2s_model):
    with pytest.raises(bitnet.ConfigError, match="top_p") as e:
        i2s_model.generate("Hello", top_p=1.5)
    assert isinstance(e.value, ValueError)
    with pytest.raises(bitnet.ConfigError, match="temperature"):
        i2s_model.generate("Hello", temperature=-1)
    with pytest.raises(bitnet.ConfigError, match="outside the vocab"):
        i2s_model.eval([10**6])
    with pytest.raises(bitnet.ConfigError, match="n_threads"):
        bitnet.Model(I2S, n_threads=-2)
    with pytest.raises(bitnet.ConfigError, match="head type"):
        bitnet.Model(I2S, head_type="q4")


def test_context_capacity():
    m = bitnet.Model(I2S, n_ctx=8, n_threads=1)
    with pytest.raises(bitnet.CapacityError):
        m.eval(list(range(100, 120)))
    assert m.n_past == 0
    with pytest.raises(bitnet.CapacityError, match="n_ctx"):
        m.generate("a long prompt " * 10, max_tokens=2)


def test_session_errors(tmp_path):
    with pytest.raises(bitnet.IoError):
        bitnet.Session(tmp_path / "nope.gguf", n_ctx=64)
    with pytest.raises(bitnet.ConfigError):
        bitnet.Session(I2S, n_ctx=0)
    with pytest.raises(bitnet.IoError, match="cannot load"):
        bitnet.Session(I2S, n_ctx=64, library=tmp_path / "libnothing.so")
    s = bitnet.Session(I2S, n_ctx=8, n_threads=1)
    with pytest.raises(bitnet.CapacityError):
        s.eval_all(list(range(100, 120)))
    s.close()
    with pytest.raises(bitnet.ConfigError, match="closed"):
        s.eval_all([1, 2])


def test_keyboard_interrupt_stops_generation_and_model_stays_usable():
    m = bitnet.Model(I2S, n_ctx=4096, n_threads=1)
    baseline = m.generate("Hello", max_tokens=8, temperature=0)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    pieces = []
    with pytest.raises(KeyboardInterrupt):
        for piece in m.generate("Hello", max_tokens=-1, temperature=0, ignore_eos=True,
                                stream=True):
            pieces.append(piece)
    elapsed = time.monotonic() - start
    timer.join()
    assert pieces and elapsed < 5, f"stopped after {elapsed:.2f} s"
    assert m.n_past < 4000  # it did not run to the end of the context
    assert m.generate("Hello", max_tokens=8, temperature=0) == baseline

    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.generate("Hello", max_tokens=-1, temperature=0, ignore_eos=True)
    timer.join()
    assert m.generate("Hello", max_tokens=8, temperature=0) == baseline


def test_threads_with_shared_weights_match_sequential():
    base = bitnet.Model(I2S, n_ctx=512, n_threads=1)
    prompts = ["Hello", "The sky is", "def main():", "1, 2, 3,"]
    settings = dict(max_tokens=48, temperature=0.8, seed=123)
    sequential = [base.generate(p, **settings) for p in prompts]
    handles = [base.share() for _ in prompts]
    results = [None] * len(prompts)

    def work(i):
        results[i] = handles[i].generate(prompts[i], **settings)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == sequential
